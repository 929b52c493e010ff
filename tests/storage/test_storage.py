"""Migrations, encryption at rest and settings, on real databases."""

from __future__ import annotations

import base64
import json
import os
import stat
import zlib
from pathlib import Path
from typing import Any

import pytest
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError
from sqlalchemy import event, inspect

from ketascreen.config import Settings
from ketascreen.storage.crypto import DataKeyError, Vault, load_keyring
from ketascreen.storage.database import downgrade, make_engine, migrate
from ketascreen.storage.repository import Repository
from ketascreen.storage.staff import StaffStore, StaffUser


class TestMigrations:
    """Upgrade from empty, downgrade, upgrade again."""

    def test_up_down_up(self, database_url: str) -> None:
        """Every table appears, disappears and appears again."""
        engine = make_engine(database_url)
        migrate(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"screenings", "audit_events", "alembic_version"} <= tables
        downgrade(engine, "base")
        assert not {"screenings", "audit_events"} & set(
            inspect(engine).get_table_names()
        )
        migrate(engine)
        assert {"screenings", "audit_events"} <= set(inspect(engine).get_table_names())
        engine.dispose()

    def test_note_column(self, database_url: str) -> None:
        """0005 adds the sealed note column to screenings; its downgrade removes it."""
        engine = make_engine(database_url)

        def columns() -> set[str]:
            return {c["name"] for c in inspect(engine).get_columns("screenings")}

        migrate(engine)
        assert "note" in columns()
        downgrade(engine, "0004")
        assert "note" not in columns()
        assert "person_key" in columns()
        migrate(engine)
        assert "note" in columns()
        engine.dispose()

    def test_queue_indexes(self, database_url: str) -> None:
        """0007 adds the indexes the review queue walks (in place of one index per
        column); its downgrade restores those. On SQLite each queue page, filtered or
        not, then reads an index with no sort."""
        engine = make_engine(database_url)
        queue = {
            "ix_screenings_queue",
            "ix_screenings_queue_status",
            "ix_screenings_queue_disposition",
        }
        single = {"ix_screenings_severity", "ix_screenings_status"}

        def indexes() -> set[str]:
            return {str(i["name"]) for i in inspect(engine).get_indexes("screenings")}

        migrate(engine)
        assert queue <= indexes()
        assert not single & indexes()
        downgrade(engine, "0006")
        assert not queue & indexes()
        assert single <= indexes()
        migrate(engine)
        assert queue <= indexes()
        if engine.dialect.name == "sqlite":
            # The queue's own queries, as StaffStore sends them, explained by SQLite.
            sent: list[tuple[str, Any]] = []

            def capture(*args: Any) -> None:
                statement, parameters = args[2], args[3]
                if "ORDER BY" in statement:
                    sent.append((statement, parameters))

            event.listen(engine, "before_cursor_execute", capture)
            store = StaffStore(Repository(engine, Vault(os.urandom(32))))
            admin = StaffUser(1, "a@example.org", "A", "admin", False)
            store.queue(admin)
            store.queue(admin, status="new")
            store.queue(admin, disposition="urgent_safety")
            event.remove(engine, "before_cursor_execute", capture)
            assert len(sent) == 3
            with engine.connect() as conn:
                for statement, parameters in sent:
                    plan = " ".join(
                        str(row[-1])
                        for row in conn.exec_driver_sql(
                            "EXPLAIN QUERY PLAN " + statement, parameters
                        )
                    )
                    assert "ix_screenings_queue" in plan
                    assert "TEMP B-TREE" not in plan
        engine.dispose()


class TestVault:
    """Authenticated encryption of stored values."""

    def test_round_trip_and_context(self) -> None:
        """A value opens with the same context only."""
        vault = Vault(os.urandom(32))
        blob = vault.seal({"a": 1}, b"row-1")
        assert vault.open(blob, b"row-1") == {"a": 1}
        with pytest.raises(InvalidTag):
            vault.open(blob, b"row-2")

    def test_wrong_key(self) -> None:
        """Data sealed with another key is refused with a clear error."""
        blob = Vault(os.urandom(32)).seal([1], b"x")
        with pytest.raises(DataKeyError, match="different key"):
            Vault(os.urandom(32)).open(blob, b"x")

    def test_tampering_detected(self) -> None:
        """A changed byte fails authentication."""
        vault = Vault(os.urandom(32))
        blob = bytearray(vault.seal("text", b"x"))
        blob[-1] ^= 1
        with pytest.raises(InvalidTag):
            vault.open(bytes(blob), b"x")

    def test_compressed_with_zstandard(self) -> None:
        """New values are Zstandard inside AES-GCM ("k3"); a large result shrinks."""
        key = os.urandom(32)
        vault = Vault(key)
        value = {"findings": ["the same long sentence about blood pressure"] * 200}
        blob = vault.seal(value, b"row")
        assert blob[:2] == b"k3"
        assert len(blob) < len(json.dumps(value)) / 10
        packed = AESGCM(key).decrypt(blob[10:22], blob[22:], b"row")
        assert json.loads(zstandard.ZstdDecompressor().decompress(packed)) == value

    def test_reads_values_sealed_with_zlib(self) -> None:
        """Values written by earlier builds ("k2", zlib inside AES-GCM) still open."""
        key = os.urandom(32)
        vault = Vault(key)
        nonce = os.urandom(12)
        packed = zlib.compress(json.dumps({"age": 41}).encode())
        blob = b"k2" + vault.key_id + nonce + AESGCM(key).encrypt(nonce, packed, b"r")
        assert vault.open(blob, b"r") == {"age": 41}
        with pytest.raises(InvalidTag):
            vault.open(blob, b"other row")

    def test_key_file_created_private(self, tmp_path: Path) -> None:
        """The first run writes a 0600 key file; later runs read the same key."""
        path = tmp_path / "keys" / "data.key"
        first = load_keyring(None, None, path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert load_keyring(None, None, path) == first
        assert len(first.current) == 32
        assert first.retired == ()
        assert first.key_file == path

    def test_key_from_environment(self, tmp_path: Path) -> None:
        """KETASCREEN_DATA_KEY wins over the key file; bad base64 is named."""
        key = os.urandom(32)
        ring = load_keyring(base64.b64encode(key).decode(), None, tmp_path / "k")
        assert (ring.current, ring.key_file) == (key, None)
        assert not (tmp_path / "k").exists()
        with pytest.raises(
            DataKeyError, match="KETASCREEN_DATA_KEY is not valid base64"
        ):
            load_keyring("not base64!", None, tmp_path / "k")


class TestSettings:
    """Unsafe configurations are refused with how to fix them."""

    def test_production_needs_secrets(self) -> None:
        """Production without keys or a database URL is refused, naming the variables."""
        with pytest.raises(ValidationError, match="KETASCREEN_DATA_KEY"):
            Settings(environment="production")

    def test_postgres_url_uses_psycopg(self) -> None:
        """postgresql:// URLs use the psycopg 3 driver."""
        settings = Settings(database_url="postgresql://u@h/db")
        assert settings.resolved_database_url == "postgresql+psycopg://u@h/db"

    def test_default_is_sqlite_in_data_dir(self, tmp_path: Path) -> None:
        """By default the database is a SQLite file in the data folder."""
        settings = Settings(data_dir=tmp_path)
        assert (
            settings.resolved_database_url == f"sqlite:///{tmp_path / 'ketascreen.db'}"
        )


class TestSettingsForWorkers:
    """Worker processes get the same settings through the environment."""

    def test_round_trip(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """as_environment() read back gives equal settings, lists and secrets included."""
        key = base64.b64encode(os.urandom(32)).decode()
        original = Settings(
            data_dir=tmp_path,
            data_key=key,
            instruments=["pcl5", "mdq"],
            ruleset=tmp_path / "c.yaml",
        )
        for name, value in original.as_environment().items():
            monkeypatch.setenv(name, value)
        again = Settings()
        assert again.instruments == ["pcl5", "mdq"]
        assert again.ruleset == tmp_path / "c.yaml"
        assert again.data_key is not None
        assert again.data_key.get_secret_value() == key
