from __future__ import annotations

from vimrag.types import Locator, LogicState, Modality, item_id


def test_locator_roundtrip_and_str() -> None:
    loc = Locator(page=3, box=(1.0, 2.0, 30.0, 40.0))
    assert Locator.from_dict(loc.to_dict()) == loc
    assert str(loc) == "page 3, box 1,2,30,40"
    v = Locator(start=62.5, end=70.0, keyframes=(62.5, 65.0))
    assert Locator.from_dict(v.to_dict()) == v
    assert str(v) == "1:02.50–1:10.00"


def test_item_id_is_deterministic_and_location_sensitive() -> None:
    a = item_id("abc", Modality.PAGE, Locator(page=1))
    assert a == item_id("abc", Modality.PAGE, Locator(page=1))
    assert a != item_id("abc", Modality.PAGE, Locator(page=2))
    assert a != item_id("abd", Modality.PAGE, Locator(page=1))


def test_logic_state_order() -> None:
    assert LogicState.VERIFIED > LogicState.UNCERTAIN > LogicState.CONFLICT
    assert LogicState.CONFLICT.label == "conflict"
