from __future__ import annotations

import pytest

from vimrag.config import Config, StoreConfig
from vimrag.errors import ConfigError
from vimrag.store.factory import open_store
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
