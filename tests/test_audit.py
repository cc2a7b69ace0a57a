"""The audit log: hash chain and signed checkpoints catch every kind of tampering, appends
from many threads never fork the chain, and the CLI records and reviews under a name."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from facesift import FaceEngine, Workspace
from facesift.cli import app as cli
from facesift.store.checkpoint import CheckpointError
from facesift.store.store import Tx

runner = CliRunner()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def workspace(
    request: pytest.FixtureRequest, tmp_path: Path, engine: FaceEngine
) -> Iterator[Workspace]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    ws = Workspace(tmp_path / "ws", engine=engine, database_url=url, actor="clerk")
    for n in range(8):
        ws.add_user(f"user{n}", "viewer", f"password {n:04d}")
    yield ws
    ws.close()


def _sql(ws: Workspace, statement: str) -> None:
    engine = create_engine(ws.database_url)
    with engine.begin() as connection:
        connection.execute(text(statement))
    engine.dispose()


def _first_problem(ws: Workspace, checkpoint: str | None = None) -> tuple[int, str]:
    check = ws.verify_audit(checkpoint=checkpoint)
    assert not check.ok
    return check.problems[0].seq, check.problems[0].reason


def test_an_untouched_log_verifies(workspace: Workspace) -> None:
    check = workspace.verify_audit(checkpoint=workspace.audit_checkpoint())
    assert check.ok and check.entries == 9  # 8 accounts, then the checkpoint itself


def test_a_changed_field_is_named(workspace: Workspace) -> None:
    _sql(workspace, "UPDATE audit_log SET actor = 'someone else' WHERE seq = 3")
    assert _first_problem(workspace)[0] == 3


def test_a_changed_entry_with_its_hash_recomputed_breaks_the_next_link(
    workspace: Workspace,
) -> None:
    from facesift.store.audit import entry_hash

    row = workspace.audit_entries()[2]
    forged = '{"role":"admin"}'
    new_hash = entry_hash(row.seq, row.at, row.actor, row.action,
                          '{"user":"user2"}', "{}", forged, row.prev_hash)  # fmt: skip
    _sql(workspace, f"UPDATE audit_log SET details = '{forged}', entry_hash = '{new_hash}' "
                    "WHERE seq = 3")  # fmt: skip
    seq, reason = _first_problem(workspace)
    assert seq == 4 and "previous entry" in reason


def test_a_removed_entry_is_named(workspace: Workspace) -> None:
    _sql(workspace, "DELETE FROM audit_log WHERE seq = 5")
    seq, reason = _first_problem(workspace)
    assert seq == 5 and "removed" in reason


def test_two_swapped_entries_are_named(workspace: Workspace) -> None:
    fields = ("at", "actor", "action", "objects", "inputs", "details", "prev_hash", "entry_hash")
    sets = ", ".join(f"{f} = (SELECT {f} FROM audit_log b WHERE b.seq = 6 - a.seq + 4)"
                     for f in fields)  # fmt: skip
    # Exchange the contents of entries 4 and 6 (their numbers stay in place).
    _sql(workspace, f"UPDATE audit_log AS a SET {sets} WHERE a.seq IN (4, 6)")
    assert workspace.audit_entries()[3].objects == {"user": "user5"}
    assert _first_problem(workspace)[0] == 4


def test_a_truncated_tail_is_caught_only_with_a_checkpoint(workspace: Workspace) -> None:
    checkpoint = workspace.audit_checkpoint()  # covers entries 1–8
    _sql(workspace, "DELETE FROM audit_log WHERE seq >= 6")
    assert workspace.verify_audit().ok  # the chain that is left is whole
    seq, reason = _first_problem(workspace, checkpoint)
    assert seq == 6 and "6–8 were removed" in reason


def test_a_rewritten_log_does_not_extend_its_checkpoint(workspace: Workspace) -> None:
    checkpoint = workspace.audit_checkpoint()
    _sql(workspace, "DELETE FROM audit_log WHERE seq >= 2")
    for n in range(8):  # the same number of entries again, freshly chained
        workspace.add_user(f"other{n}", "viewer", f"password {n:04d}")
    assert workspace.verify_audit().ok
    seq, reason = _first_problem(workspace, checkpoint)
    assert seq == 8 and "no longer extends" in reason


def test_a_forged_checkpoint_is_refused(workspace: Workspace) -> None:
    note = workspace.audit_checkpoint()
    lines = note.split("\n")
    lines[1] = "3"  # claim a smaller log
    with pytest.raises(CheckpointError, match="does not verify"):
        workspace.verify_audit(checkpoint="\n".join(lines))


def test_concurrent_appends_keep_one_chain(workspace: Workspace) -> None:
    def work(n: int) -> None:
        for k in range(10):
            workspace.context.store.transaction(
                lambda tx, n=n, k=k: tx.audit(f"thread{n}", "test", details={"k": k})
            )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    check = workspace.verify_audit()
    assert check.ok and check.entries == 48


def test_writers_taking_a_row_and_the_log_in_opposite_orders_do_not_deadlock(
    workspace: Workspace,
) -> None:
    """One writer changes an account and then audits; the other audits and then changes that
    account. Every writer takes the log first, so neither waits for the other in a cycle (a
    deadlock that PostgreSQL breaks by failing one of them, as a video's commit once did)."""
    store = workspace.context.store
    attempts = {"row first": 0, "log first": 0}
    holds_row = threading.Event()

    def row_first(tx: Tx) -> None:
        attempts["row first"] += 1
        tx.accounts.set_role("user0", "analyst")
        tx.accounts.get("user0")  # sends the UPDATE: the row is locked from here
        holds_row.set()
        time.sleep(0.5)  # the other writer starts meanwhile
        tx.audit("a", "test")

    def log_first(tx: Tx) -> None:
        attempts["log first"] += 1
        tx.audit("b", "test")
        tx.accounts.set_role("user0", "admin")
        tx.accounts.get("user0")

    first = threading.Thread(target=store.transaction, args=(row_first,))
    first.start()
    assert holds_row.wait(30)
    store.transaction(log_first)
    first.join()
    assert attempts == {"row first": 1, "log first": 1}  # nobody failed and started again
    assert workspace.verify_audit().ok
    assert store.read(lambda tx: tx.accounts.get("user0")).role == "admin"


def test_the_cli_acts_under_a_name_and_verify_exits_non_zero(
    tmp_path: Path, hopper_path: Path
) -> None:
    ws = ["-w", str(tmp_path / "ws")]
    enrolled = runner.invoke(cli, [*ws, "--as", "ana", "enroll", "-p", "Grace Hopper",
                                   str(hopper_path)])  # fmt: skip
    assert enrolled.exit_code == 0, enrolled.output
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    with Image.open(hopper_path) as photo:
        photo.convert("RGB").resize((photo.width // 2, photo.height // 2)).save(evidence / "a.png")
    scanned = runner.invoke(cli, [*ws, "--as", "ana", "scan", str(evidence), "--case", "c"])
    assert scanned.exit_code == 0, scanned.output
    with Workspace(tmp_path / "ws") as workspace:
        (face,) = workspace.identify().faces
        face_id = face.face_id
    decided = runner.invoke(
        cli, [*ws, "--as", "ana", "review", str(face_id), "--reject", "Grace Hopper", "--json"]
    )
    assert decided.exit_code == 0, decided.output
    same = runner.invoke(cli, [*ws, "--as", "ana", "decisions", "verify", "1"])
    assert same.exit_code == 1 and "second person" in same.output
    other = runner.invoke(cli, [*ws, "--as", "bob", "decisions", "dispute", "1", "--note", "?"])
    assert other.exit_code == 0 and "disputed" in other.output
    listed = runner.invoke(cli, [*ws, "decisions", "--json"])
    assert '"status": "disputed"' in listed.output
    shown = runner.invoke(cli, [*ws, "audit", "show", "--actor", "bob", "--json"])
    assert '"review.check"' in shown.output
    assert runner.invoke(cli, [*ws, "audit", "verify"]).exit_code == 0
    engine = create_engine(f"sqlite:///{tmp_path / 'ws' / 'facesift.db'}")
    # A decision changed in the database no longer matches the entry that recorded it.
    with engine.begin() as connection:
        connection.execute(text("UPDATE review_decisions SET verdict = 'confirm' WHERE id = 1"))
    changed = runner.invoke(cli, [*ws, "audit", "verify"])
    assert changed.exit_code == 1 and "decision 1 differs" in changed.output
    with engine.begin() as connection:
        connection.execute(text("UPDATE review_decisions SET verdict = 'reject' WHERE id = 1"))
    assert runner.invoke(cli, [*ws, "audit", "verify"]).exit_code == 0
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'nobody' WHERE seq = 2"))
    engine.dispose()
    made = runner.invoke(cli, [*ws, "users", "add", "zed", "--role", "viewer",
                               "--password-stdin"], input="zed's password\n")  # fmt: skip
    assert made.exit_code == 0, made.output
    assert runner.invoke(cli, [*ws, "users", "disable", "zed"]).exit_code == 0
    refused = runner.invoke(cli, [*ws, "--as", "zed", "people"])
    assert refused.exit_code == 1 and "disabled" in refused.output
    broken = runner.invoke(cli, [*ws, "audit", "verify"])
    assert broken.exit_code == 1 and "entry 2: changed" in broken.output
