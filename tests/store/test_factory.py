from __future__ import annotations

import pytest

from vimrag.config import Config, StoreConfig
from vimrag.errors import ConfigError
from vimrag.store.factory import media_dir, open_store
from vimrag.store.lance import LanceStore

from .conftest import PG_URI, pg_skip


@pytest.mark.integration
def test_folder_path_opens_lance(tmp_path) -> None:
    s = open_store(str(tmp_path / "mem"))
    assert isinstance(s, LanceStore) and s.count() == 0
    s.close()
    s = open_store(None, Config(store=StoreConfig(uri=f"lance:{tmp_path / 'other'}")))
    assert isinstance(s, LanceStore)
    s.close()


@pytest.mark.parametrize("uri", ["http://example.com/x", "milvus://x", "", "s3://bucket/x"])
def test_unknown_scheme_is_a_config_error(uri: str) -> None:
    with pytest.raises(ConfigError, match="postgresql://"):
        open_store(uri)


@pytest.mark.integration
@pytest.mark.postgres
@pg_skip
def test_postgres_uri_opens_postgres() -> None:
    from vimrag.store.postgres import PostgresStore

    s = open_store(PG_URI + ("&" if "?" in PG_URI else "?") + "schema=t_factory")
    assert isinstance(s, PostgresStore)
    s.drop()
    s.close()


def test_unreachable_postgres_is_a_store_error() -> None:
    from vimrag.errors import StoreError

    pytest.importorskip("psycopg")
    with pytest.raises(StoreError, match="cannot connect"):
        open_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_media_live_beside_an_embedded_store_whatever_the_uri_spelling(tmp_path, monkeypatch) -> None:
    """``lance:PATH`` and ``file://PATH`` are the same store as ``PATH``, so they share its media folder."""
    folder = tmp_path / "mem"
    for uri in (str(folder), f"lance:{folder}", f"file://{folder}"):
        assert media_dir(Config(store=StoreConfig(uri=uri))) == folder / "media"
    assert media_dir(Config(store=StoreConfig(uri=str(folder), media_dir=str(tmp_path / "m")))) == tmp_path / "m"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    pg = media_dir(Config(store=StoreConfig(uri="postgresql://u@db.example/vimrag")))
    assert pg.parent == tmp_path / "home" / ".cache" / "vimrag" / "media" and len(pg.name) == 12
    other = media_dir(Config(store=StoreConfig(uri="postgresql://u@db.example/other")))
    assert other != pg  # one folder per server URI
