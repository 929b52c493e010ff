"""The keyring and key rotation, on real SQLite and PostgreSQL databases.

Rotations run for real over stored data; an interrupted rotation is a real partial run
(``limit``), and a concurrent writer is a second real connection that writes between
the rotation's read and its update.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, LargeBinary, event, select, text
from tests.helpers import run
from tests.storage.people import (
    ANSWERS_B,
    ANSWERS_DRAFT,
    REF_A,
    Clinic,
    audit_actions,
    key_ids,
    opened,
    populate,
    sealed_values,
)

from ketascreen.config import Settings
from ketascreen.storage.crypto import DataKeyError, KeyRing, Vault, key_id, load_keyring
from ketascreen.storage.database import make_engine
from ketascreen.storage.orm import Base, ScreeningRow
from ketascreen.storage.repository import Repository
from ketascreen.storage.rotation import (
    SEALED,
    RotationError,
    drop_retired,
    key_usage,
    rotate,
)
from ketascreen.storage.staff import StaffStore
from ketascreen.web.state import keyring


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


@pytest.fixture
def engines() -> Iterator[list[Engine]]:
    """Engines a test opens, disposed of afterwards."""
    opened: list[Engine] = []
    yield opened
    for engine in opened:
        engine.dispose()


@pytest.fixture
def clinic(database_url: str, tmp_path: Path, engines: list[Engine]) -> Clinic:
    """The clinic's data, sealed with a key from a key file in tmp_path."""
    stored = populate(database_url, tmp_path)
    engines.append(stored.engine)
    return stored


def reloaded(clinic: Clinic) -> tuple[KeyRing, Repository]:
    """The keyring as a freshly started process reads it, over the same database."""
    ring = keyring(clinic.settings)
    return ring, Repository(clinic.engine, ring.vault())


def history(repo: Repository, ref: str) -> set[str]:
    """Screening ids whose person key is the reference's under the current key."""
    with repo.engine.connect() as conn:
        query = select(ScreeningRow.id).where(
            ScreeningRow.person_key == repo.person_key(ref)
        )
        return set(conn.scalars(query))


class TestKeyring:
    """The vault opens with any key of the ring and seals with the current one."""

    def test_retired_keys_open_current_seals(self) -> None:
        """A value sealed with a retired key opens; new values carry the current id."""
        old, new = os.urandom(32), os.urandom(32)
        blob = Vault(old).seal({"a": 1}, b"row")
        ring = Vault(new, [old])
        assert ring.open(blob, b"row") == {"a": 1}
        again = ring.reseal(blob, b"row")
        assert again[2:10] == key_id(new)
        assert Vault(new).open(again, b"row") == {"a": 1}

    def test_unknown_key_names_its_id(self) -> None:
        """A value sealed with a key not in the ring is refused, naming the key id."""
        stranger = os.urandom(32)
        blob = Vault(stranger).seal([1], b"x")
        with pytest.raises(DataKeyError, match=key_id(stranger).hex()):
            Vault(os.urandom(32), [os.urandom(32)]).open(blob, b"x")

    def test_key_file_lines(self, tmp_path: Path) -> None:
        """The key file's first key is current, later keys are retired; # lines skipped."""
        current, retired = os.urandom(32), os.urandom(32)
        path = tmp_path / "data.key"
        path.write_text(f"{b64(current)}\n# retired\n\n{b64(retired)}\n")
        ring = load_keyring(None, None, path)
        assert (ring.current, ring.retired, ring.key_file) == (
            current,
            (retired,),
            path,
        )

    def test_environment_keys(self, tmp_path: Path) -> None:
        """KETASCREEN_RETIRED_DATA_KEYS is comma-separated base64; a bad one is named."""
        current, one, two = (os.urandom(32) for _ in range(3))
        ring = load_keyring(b64(current), f"{b64(one)}, {b64(two)}", tmp_path / "k")
        assert ring.retired == (one, two)
        assert ring.key_file is None
        with pytest.raises(DataKeyError, match="KETASCREEN_RETIRED_DATA_KEYS"):
            load_keyring(b64(current), "c2hvcnQ=", tmp_path / "k")

    def test_retired_needs_environment_key(self, tmp_path: Path) -> None:
        """Retired keys in the environment without the current key there are refused."""
        with pytest.raises(ValidationError, match="KETASCREEN_RETIRED_DATA_KEYS needs"):
            Settings(data_dir=tmp_path, retired_data_keys=b64(os.urandom(32)))


class TestRotate:
    """`rotate` re-seals every value with a new key and keeps everything readable."""

    def test_covers_every_sealed_column(self) -> None:
        """Every binary column of every table is one that rotation re-seals."""
        binary = {
            (table.name, column.name)
            for table in Base.metadata.tables.values()
            for column in table.columns
            if isinstance(column.type, LargeBinary)
        }
        assert binary == {(t.name, c) for t in SEALED for c in t.columns}

    def test_reseals_everything(self, clinic: Clinic) -> None:
        """Every blob carries the new key id, opens to the same value, and the person's
        history is still found by reference."""
        before = opened(clinic.repo)
        old_id = key_id(clinic.ring.current)
        assert key_ids(clinic.engine) == {old_id}
        done = rotate(clinic.ring, clinic.engine, actor="cli:test", batch_size=3)
        assert done.new_key
        assert done.remaining == 0
        assert done.report.values == len(before)
        ring, repo = reloaded(clinic)
        assert ring.current == done.ring.current != clinic.ring.current
        assert ring.retired == (clinic.ring.current,)
        actor, action, target, detail = audit_actions(clinic.engine)[-1]
        assert (actor, action, target) == ("cli:test", "keys.rotate", "keys")
        assert key_id(ring.current).hex() in detail
        assert (
            stat.S_IMODE(clinic.settings.data_dir.joinpath("data.key").stat().st_mode)
            == 0o600
        )
        assert key_ids(clinic.engine) == {key_id(ring.current)}
        assert opened(repo) == before
        assert history(repo, REF_A) == set(clinic.a_ids)
        found = StaffStore(repo).screening(clinic.clinician, clinic.a_ids[0])
        assert found is not None
        assert [h.id for h in found["history"]] == [clinic.a_ids[1]]
        assert found["person_ref"] == REF_A
        draft = repo.draft(clinic.draft_token)
        assert draft is not None
        assert draft.answers == ANSWERS_DRAFT
        linked = repo.get_with_token(clinic.b_ids[0], clinic.b_link)
        assert linked is not None  # private links do not depend on the data key
        assert linked.answers == ANSWERS_B
        # New values from a server started with the new key file use the new key.
        saved, _ = repo.save(
            answers=ANSWERS_DRAFT, result=run(ANSWERS_DRAFT), person_ref=REF_A
        )
        assert history(repo, REF_A) == {*clinic.a_ids, saved.id}

    def test_interrupted_then_finished(self, clinic: Clinic) -> None:
        """A run stopped after a few rows leaves every value readable; running again
        finishes with the same new key (no third key)."""
        before = opened(clinic.repo)
        first = rotate(clinic.ring, clinic.engine, actor="t", batch_size=2, limit=3)
        assert first.new_key
        assert sum(first.report.rows.values()) == 3
        assert first.remaining > 0
        ring, repo = reloaded(clinic)
        assert key_ids(clinic.engine) == {
            key_id(ring.current),
            key_id(clinic.ring.current),
        }
        assert opened(repo) == before  # every row readable halfway through
        second = rotate(ring, clinic.engine, actor="t", batch_size=2)
        assert not second.new_key
        assert second.remaining == 0
        assert sum(first.report.rows.values()) + sum(
            second.report.rows.values()
        ) == len({(t, r) for t, r, *_ in sealed_values(clinic.engine)})
        ring, repo = reloaded(clinic)
        assert ring.retired == (clinic.ring.current,)
        assert key_ids(clinic.engine) == {key_id(ring.current)}
        assert opened(repo) == before
        assert history(repo, REF_A) == set(clinic.a_ids)

    def test_drop_retired(self, clinic: Clinic) -> None:
        """Retired keys are dropped only once no value needs them."""
        partial = rotate(clinic.ring, clinic.engine, actor="t", limit=1)
        with pytest.raises(RotationError, match=key_id(clinic.ring.current).hex()):
            drop_retired(partial.ring, clinic.engine, actor="t")
        assert reloaded(clinic)[0].retired == (clinic.ring.current,)
        rotate(partial.ring, clinic.engine, actor="t")
        kept = drop_retired(partial.ring, clinic.engine, actor="t")
        ring, repo = reloaded(clinic)
        assert ring == kept
        assert ring.retired == ()
        assert len(opened(repo)) == len(sealed_values(clinic.engine))
        assert audit_actions(clinic.engine)[-1][1] == "keys.drop_retired"

    def test_unknown_key_refused(self, clinic: Clinic) -> None:
        """A row sealed with a key the ring lacks: reading it is a clear DataKeyError,
        and rotation refuses before changing anything, naming the key id."""
        stranger = Vault(os.urandom(32))
        row_id = clinic.b_ids[0]
        with clinic.engine.begin() as conn:
            conn.execute(
                text("UPDATE screenings SET answers = :blob WHERE id = :id"),
                {"blob": stranger.seal({"age": 1}, row_id.encode()), "id": row_id},
            )
        with pytest.raises(DataKeyError, match=stranger.key_id.hex()):
            clinic.staff.screening(clinic.clinician, row_id)
        before = sealed_values(clinic.engine)
        with pytest.raises(RotationError, match=stranger.key_id.hex()):
            rotate(clinic.ring, clinic.engine, actor="t")
        assert sealed_values(clinic.engine) == before
        assert reloaded(clinic)[0] == clinic.ring  # no new key written

    def test_environment_keys(
        self, database_url: str, tmp_path: Path, engines: list[Engine]
    ) -> None:
        """With keys in the environment, rotation re-seals with the current key set
        there and writes no key file."""
        old, new = os.urandom(32), os.urandom(32)
        clinic = populate(database_url, tmp_path, data_key=b64(old))
        engines.append(clinic.engine)
        before = opened(clinic.repo)
        nothing = rotate(clinic.ring, clinic.engine, actor="t")
        assert (nothing.new_key, sum(nothing.report.rows.values())) == (False, 0)
        settings = Settings(
            database_url=database_url,
            data_dir=tmp_path,
            data_key=b64(new),
            retired_data_keys=b64(old),
        )
        ring = keyring(settings)
        repo = Repository(clinic.engine, ring.vault())
        done = rotate(ring, clinic.engine, actor="t")
        assert (done.new_key, done.remaining) == (False, 0)
        assert key_ids(clinic.engine) == {key_id(new)}
        assert opened(repo) == before
        assert not (tmp_path / "data.key").exists()
        assert key_usage(clinic.engine) == {key_id(new): len(before)}


class TestConcurrentWriter:
    """A server writing while the rotation runs never loses its change."""

    def test_changed_row_is_left(
        self, database_url: str, tmp_path: Path, engines: list[Engine]
    ) -> None:
        """A draft saved (by a server already on the new key) between the rotation's
        read and its update keeps the server's answers; the rotation skips it."""
        old, new = os.urandom(32), os.urandom(32)
        clinic = populate(database_url, tmp_path, data_key=b64(old))
        ring = KeyRing(new, (old,))
        server = Repository(
            make_engine(clinic.settings.resolved_database_url), ring.vault()
        )
        engines.extend([clinic.engine, server.engine])
        written: list[Any] = []

        def write_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.startswith("UPDATE drafts") and not written:
                server.save_draft(clinic.draft_token, {"age": 34})
                written.append(statement)

        event.listen(clinic.engine, "before_cursor_execute", write_first)
        try:
            done = rotate(ring, clinic.engine, actor="t")
            assert written
            assert done.report.skipped == 1
            assert done.remaining == 0  # the server sealed it with the new key
            draft = server.draft(clinic.draft_token)
            assert draft is not None
            assert draft.answers == {"age": 34}
        finally:
            event.remove(clinic.engine, "before_cursor_execute", write_first)
