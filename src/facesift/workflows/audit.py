"""The audit log for its readers: show entries, verify the chain, sign checkpoints.

`verify` recomputes every entry's hash and link (facesift.store.audit) and, given a
checkpoint signed earlier (facesift.store.checkpoint), proves that the log still holds the
entries it covered, unchanged: the only way to notice that the newest entries were removed.
It also holds the review decisions and their checks as stored against the entries that
recorded them, so that a decision changed in the database is caught too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from facesift.store import checkpoint as checkpoints
from facesift.store.audit import ChainProblem, canonical_json
from facesift.store.records import AuditEntry
from facesift.store.store import Tx
from facesift.workflows.context import Context


@dataclass(frozen=True)
class AuditCheck:
    """The outcome of `verify`: entries read, the head, and every problem found, in order."""

    entries: int
    head_sha256: str
    problems: list[ChainProblem] = field(default_factory=list)
    checkpoint: checkpoints.Checkpoint | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "head_sha256": self.head_sha256,
            "problems": [{"seq": p.seq, "reason": p.reason} for p in self.problems],
            "checkpoint": None
            if self.checkpoint is None
            else {"size": self.checkpoint.size, "head_sha256": self.checkpoint.head_sha256},
        }


def entries(
    ctx: Context,
    *,
    since: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    after_seq: int = 0,
    limit: int | None = None,
    newest_first: bool = False,
    before_seq: int | None = None,
) -> list[AuditEntry]:
    """Entries in order (or newest first); `since` an ISO time (UTC), `after_seq` and
    `before_seq` to page on."""
    return ctx.store.read(
        lambda tx: tx.audit_log.entries(
            since=since,
            actor=actor,
            action=action,
            after_seq=after_seq,
            limit=limit,
            newest_first=newest_first,
            before_seq=before_seq,
        )
    )


def origin(tx: Tx) -> str:
    return f"facesift/{tx.workspace_id()}"


def verifier_key(ctx: Context) -> str:
    """The key that checks this workspace's checkpoints: keep it with them."""
    name = ctx.store.transaction(origin)
    return checkpoints.verifier_key(name, checkpoints.signing_key(ctx.folder).public_key())


def checkpoint(ctx: Context) -> str:
    """A signed checkpoint of the log as it is now (recorded in the log itself, after)."""
    key = checkpoints.signing_key(ctx.folder)

    def sign(tx: Tx) -> str:
        size, head = tx.audit_log.head()
        note = checkpoints.sign(checkpoints.Checkpoint(origin(tx), size, head), key)
        tx.audit(ctx.actor, "audit.checkpoint", details={"size": size, "head_sha256": head})
        return note

    return ctx.store.transaction(sign)


def verify(ctx: Context, *, note: str | None = None, verifier: str | None = None) -> AuditCheck:
    """Recompute the chain; with a checkpoint `note`, also check that the log extends it
    (signature checked with `verifier`, default this workspace's key)."""
    claimed = None
    if note is not None:
        claimed = checkpoints.read(note, verifier or verifier_key(ctx))

    def check(tx: Tx) -> AuditCheck:
        count, head, problems = tx.audit_log.verify()
        if claimed is not None:
            problems = problems + _against(tx, claimed)
        problems = problems + _decisions_against_log(tx)
        problems.sort(key=lambda p: p.seq)
        return AuditCheck(count, head, problems, claimed)

    return ctx.store.read(check)


def _decisions_against_log(tx: Tx) -> list[ChainProblem]:
    """Review decisions and checks as stored against the audit entries that recorded them:
    a decision changed, added or removed outside facesift no longer matches the log."""
    problems: list[ChainProblem] = []
    decided = {e.objects.get("decision"): e for e in tx.audit_log.entries(action="review.decide")}
    checked = {e.objects.get("check"): e for e in tx.audit_log.entries(action="review.check")}
    stored = tx.reviews.all()
    for d in stored:
        entry = decided.pop(d.id, None)
        if entry is None:
            problems.append(ChainProblem(0, f"decision {d.id} has no audit entry (added outside)"))
            continue
        recorded = (entry.actor, entry.objects.get("person"), entry.objects.get("face"),
                    entry.objects.get("track"), entry.details.get("verdict"),
                    entry.details.get("note"), entry.details.get("shown"))  # fmt: skip
        now = (d.reviewer, d.person, d.face_id, d.track_id, d.verdict, d.note, d.shown)
        if canonical_json(recorded) != canonical_json(now):
            problems.append(
                ChainProblem(
                    entry.seq, f"decision {d.id} differs from this entry, which recorded it"
                )
            )
        for c in d.checks:
            check_entry = checked.pop(c.id, None)
            if check_entry is None:
                problems.append(
                    ChainProblem(0, f"check {c.id} of decision {d.id} has no audit entry")
                )
            elif (check_entry.actor, check_entry.objects.get("decision"),
                  check_entry.details.get("outcome"), check_entry.details.get("note")) != (
                      c.reviewer, d.id, c.outcome, c.note):  # fmt: skip
                problems.append(
                    ChainProblem(check_entry.seq, f"check {c.id} differs from this entry")
                )
    for number, entry in decided.items():
        problems.append(ChainProblem(entry.seq, f"decision {number} was removed from the store"))
    for number, entry in checked.items():
        problems.append(ChainProblem(entry.seq, f"check {number} was removed from the store"))
    return problems


def _against(tx: Tx, claimed: checkpoints.Checkpoint) -> list[ChainProblem]:
    if claimed.origin != origin(tx):
        return [ChainProblem(0, f"the checkpoint is of another log ({claimed.origin})")]
    if claimed.size == 0:
        return []
    last, _ = tx.audit_log.head()
    if last < claimed.size:
        return [
            ChainProblem(
                last + 1,
                f"missing: the log ends at entry {last} but the checkpoint covers "
                f"{claimed.size}; entries {last + 1}–{claimed.size} were removed",
            )
        ]
    entry = tx.audit_log.entry(claimed.size)
    if entry is None or entry.entry_hash != claimed.head_sha256:
        return [
            ChainProblem(
                claimed.size,
                "differs from the checkpoint: the log no longer extends it (entries up to "
                "here were rewritten)",
            )
        ]
    return []
