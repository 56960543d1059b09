from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vimrag.config import Config, load_config
from vimrag.errors import ConfigError


def test_defaults_carry_paper_values() -> None:
    cfg = Config()
    assert cfg.budget.s_total == 5 * 256 * 32 * 32  # VimRAG: 5 × 256 × 32 × 32
    assert cfg.polar.anchors == (0.0, 1.0)  # PolarMem Eq. 5
    assert cfg.store.uri == "./.vimrag"


def test_toml_env_and_overrides_layer_in_order(tmp_path: Path) -> None:
    f = tmp_path / "vimrag.toml"
    f.write_text('[agent]\nmax_steps = 3\n[store]\nuri = "/tmp/a"\n[polar]\nkappa = 0.25\n')
    env = {"VIMRAG_AGENT_MAX_STEPS": "5", "VIMRAG_STORE": "/tmp/b"}
    cfg = load_config(f, env=env)
    assert cfg.agent.max_steps == 5  # env beats file
    assert cfg.store.uri == "/tmp/b"
    assert cfg.polar.kappa == 0.25  # file beats default
    cfg2 = load_config(f, {"agent.max_steps": "7"}, env=env)
    assert cfg2.agent.max_steps == 7  # explicit override beats env


def test_types_are_coerced() -> None:
    cfg = Config().with_overrides(
        {"ingest.transcribe": "false", "polar.tta": "identity,hflip,zoom", "budget.gamma": "0.3"}
    )
    assert cfg.ingest.transcribe is False
    assert cfg.polar.tta == ("identity", "hflip", "zoom")
    assert cfg.budget.gamma == pytest.approx(0.3)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"nosuch.key": 1}, "unknown config section"),
        ({"agent.nosuch": 1}, "unknown config key agent.nosuch"),
        ({"agent.max_steps": "many"}, "must be"),
        ({"max_steps": 3}, "section.key"),
        ({"ingest.engine": "dask"}, "local or ray"),
        ({"ingest.ray_cpus_per_worker": 0}, "ray_cpus_per_worker > 0"),
        ({"ingest.ray_embed_workers": 0}, "ray_embed_workers must be ≥ 1"),
        ({"ingest.ray_embed_gpus_per_worker": -1}, "ray_embed_gpus_per_worker ≥ 0"),
        ({"store.workspace": "../x"}, "store.workspace"),
        ({"polar.pg_search": "faiss"}, "pg_search must be index or sql"),
        ({"agent.memorize_chars": -1}, "memorize_chars must be ≥ 0"),
        ({"agent.answer_bias": float("nan")}, "answer_bias must be a finite number"),
    ],
)
def test_bad_overrides_are_clear_errors(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config().with_overrides(overrides)


def test_explicit_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_invalid_toml_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[agent\nmax_steps=")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(f, env={})


def test_config_is_frozen() -> None:
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.agent.max_steps = 2  # type: ignore[misc]


@pytest.mark.slow
@given(st.one_of(
    st.binary(max_size=400),
    st.lists(st.sampled_from(["[store]", "[models]", "[agent]", "[polar]", "uri = 5", "uri = \"x\"",
                              "max_steps = \"a\"", "max_steps = 2.5", "llm = [1, 2]", "kappa = -1",
                              "local_absence = \"majority\"", "[nosuch]", "top_k = true", "= =", "\xff"]),
             max_size=8).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogateescape")),
))
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
def test_any_config_file_loads_or_is_one_config_error(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("cfg") / "vimrag.toml"
    path.write_bytes(data)
    try:
        load_config(path, env={})
    except ConfigError as exc:
        assert str(exc)
