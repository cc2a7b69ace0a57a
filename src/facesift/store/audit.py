"""The audit log: append-only, hash-chained, written in the transaction of what it records.

Each entry's hash covers its sequence number, time, actor, action, object ids, input hashes,
details and the previous entry's hash (a chain, as in Certificate Transparency's logs), so
that changing, removing or reordering any entry breaks the chain from there on; removing the
newest entries is caught against a signed checkpoint (facesift.store.checkpoint) kept
elsewhere. What is hashed is stored as the very text hashed, so the chain can be recomputed
from the rows alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from facesift.store.records import AuditEntry
from facesift.store.schema import AuditRow

GENESIS = "0" * 64  # the "previous hash" of the first entry
# The PostgreSQL advisory lock that orders appends (SQLite: the file's write lock).
AUDIT_LOCK = 7212604216


def canonical_json(value: Any) -> str:
    """The one text of a JSON value that is hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class ChainProblem:
    """Where the chain breaks: the first entry (by sequence number) that does not hold."""

    seq: int
    reason: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.reason}"


def entry_hash(
    seq: int,
    at: str,
    actor: str,
    action: str,
    objects: str,
    inputs: str,
    details: str,
    prev_hash: str,
) -> str:
    """SHA-256 (hex) of an entry's fields as stored."""
    fields = [seq, at, actor, action, objects, inputs, details, prev_hash]
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def _row_hash(row: AuditRow) -> str:
    return entry_hash(
        row.seq, row.at, row.actor, row.action, row.objects, row.inputs, row.details, row.prev_hash
    )


class AuditLog:
    """The audit part of a transaction (`Tx.audit_log`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def append(
        self,
        actor: str,
        action: str,
        *,
        objects: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Add an entry after the newest one; its sequence number. Appends are serialised
        (an advisory lock on PostgreSQL, the write lock on SQLite), so that the chain never
        forks; the entry commits or rolls back with the change it records."""
        self._lock()
        head = self._session.execute(
            select(AuditRow.seq, AuditRow.entry_hash).order_by(AuditRow.seq.desc()).limit(1)
        ).first()
        seq, prev = (1, GENESIS) if head is None else (head[0] + 1, head[1])
        row = AuditRow(
            seq=seq,
            at=datetime.now(UTC).isoformat(timespec="microseconds"),
            actor=actor,
            action=action,
            objects=canonical_json(objects or {}),
            inputs=canonical_json(inputs or {}),
            details=canonical_json(details or {}),
            prev_hash=prev,
        )
        row.entry_hash = _row_hash(row)
        self._session.add(row)
        self._session.flush()
        return seq

    def reserve(self) -> None:
        """Take the append lock now, before this transaction locks any row (PostgreSQL).

        Every writer takes the log first and rows after: a writer holding a row while it
        waits for the log, and another holding the log while it waits for that row, would
        deadlock. On SQLite the file's one write lock already orders writers."""
        if self._session.get_bind().dialect.name == "postgresql":
            self._lock()

    def _lock(self) -> None:
        dialect = self._session.get_bind().dialect.name
        if dialect == "postgresql":
            self._session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": AUDIT_LOCK})
        elif dialect == "sqlite":
            # A write before the read of the head takes the file's write lock (waiting for it),
            # so the head cannot move between that read and this entry's insert.
            self._session.execute(text("UPDATE audit_log SET seq = seq WHERE 0"))

    def size(self) -> int:
        return int(self._session.scalar(select(func.count()).select_from(AuditRow)) or 0)

    def head(self) -> tuple[int, str]:
        """(sequence number, hash) of the newest entry; (0, GENESIS) for an empty log."""
        row = self._session.execute(
            select(AuditRow.seq, AuditRow.entry_hash).order_by(AuditRow.seq.desc()).limit(1)
        ).first()
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

    def entry(self, seq: int) -> AuditEntry | None:
        row = self._session.get(AuditRow, seq)
        return None if row is None else _entry(row)

    def entries(
        self,
        *,
        since: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
        newest_first: bool = False,
        before_seq: int | None = None,
    ) -> list[AuditEntry]:
        """Entries in order (or newest first), filtered: `since` an ISO UTC time, `after_seq`
        and `before_seq` sequence numbers to page on."""
        order = AuditRow.seq.desc() if newest_first else AuditRow.seq
        query = select(AuditRow).where(AuditRow.seq > after_seq).order_by(order)
        if before_seq is not None:
            query = query.where(AuditRow.seq < before_seq)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        if actor is not None:
            query = query.where(AuditRow.actor == actor)
        if action is not None:
            query = query.where(AuditRow.action == action)
        if limit is not None:
            query = query.limit(limit)
        return [_entry(r) for r in self._session.scalars(query)]

    def count(self, *, actor: str, action: str, since: str) -> int:
        """How many entries of `action` by `actor` since an ISO UTC time (rate limits)."""
        query = select(func.count()).where(
            AuditRow.actor == actor, AuditRow.action == action, AuditRow.at >= since
        )
        return int(self._session.scalar(query) or 0)

    def verify(self, batch: int = 5000) -> tuple[int, str, list[ChainProblem]]:
        """Recompute the chain: (entries read, head hash, problems in order of sequence)."""
        return check_chain(self._rows(batch))

    def _rows(self, batch: int) -> Iterator[AuditRow]:
        after = 0
        while True:
            rows = list(
                self._session.scalars(
                    select(AuditRow).where(AuditRow.seq > after).order_by(AuditRow.seq).limit(batch)
                )
            )
            yield from rows
            if len(rows) < batch:
                return
            after = rows[-1].seq
            self._session.expunge_all()


def check_chain(rows: Iterable[AuditRow]) -> tuple[int, str, list[ChainProblem]]:
    """Walk entries in sequence order: each must be numbered one after the previous, hash to
    its stored hash, and name the previous entry's stored hash. (count, last hash, problems)."""
    problems: list[ChainProblem] = []
    expected, prev, count = 1, GENESIS, 0
    for row in rows:
        count += 1
        if row.seq != expected:
            missing = f"{expected}" if row.seq == expected + 1 else f"{expected}–{row.seq - 1}"
            problems.append(ChainProblem(expected, f"missing: entries {missing} were removed"))
        if _row_hash(row) != row.entry_hash:
            problems.append(ChainProblem(row.seq, "changed: its contents do not match its hash"))
        elif row.prev_hash != prev and row.seq == expected:
            problems.append(
                ChainProblem(
                    row.seq,
                    "out of chain: it does not name the previous entry's hash (an entry before "
                    "it was changed, replaced or moved)",
                )
            )
        prev, expected = row.entry_hash, row.seq + 1
    return count, prev, problems


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        objects=json.loads(row.objects),
        inputs=json.loads(row.inputs),
        details=json.loads(row.details),
        prev_hash=row.prev_hash,
        entry_hash=row.entry_hash,
    )
