"""The audit log: append-only rows (the database refuses UPDATE, DELETE and TRUNCATE, see migration 0004)."""

from __future__ import annotations

from typing import Any

from dsta.core.contracts import AuditRecord
from dsta.core.models import AuditEntry


def record(
    *, actor_id: int | None, action: str, target: str = "", details: dict[str, Any] | None = None, ip: str | None = None
) -> AuditRecord:
    entry = AuditEntry.objects.create(
        actor_id=actor_id, action=action, target=target[:200], details=details or {}, ip_address=ip
    )
    return as_record(entry)


def as_record(entry: AuditEntry) -> AuditRecord:
    return AuditRecord(
        entry_id=entry.pk,
        occurred_at=entry.occurred_at,
        actor_id=entry.actor_id,
        action=entry.action,
        target=entry.target,
        details=dict(entry.details),
        ip_address=entry.ip_address,
    )


def entries(*, actor_id: int | None = None, action: str | None = None, limit: int = 100) -> list[AuditRecord]:
    rows = AuditEntry.objects.order_by("-id")
    if actor_id is not None:
        rows = rows.filter(actor_id=actor_id)
    if action:
        rows = rows.filter(action=action)
    return [as_record(entry) for entry in rows[:limit]]
