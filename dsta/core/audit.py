"""The audit log: append-only rows (the database refuses UPDATE, DELETE and TRUNCATE, see migration 0004)."""

from __future__ import annotations

import json
from typing import Any

from django.db import connections, router

from dsta.core.contracts import AuditRecord
from dsta.core.models import AuditEntry
from dsta.kernel.clock import utc_now

# Every audited API call writes a row: one plain statement rather than the ORM's insert machinery.
_INSERT_SQL = """INSERT INTO audit_entry (occurred_at, actor_id, action, target, details, ip_address)
VALUES (%s, %s, %s, %s, %s::jsonb, %s::inet) RETURNING id"""


def record(
    *, actor_id: int | None, action: str, target: str = "", details: dict[str, Any] | None = None, ip: str | None = None
) -> AuditRecord:
    entry = AuditEntry(
        occurred_at=utc_now(),
        actor_id=actor_id,
        action=action,
        target=target[:200],
        details=details or {},
        ip_address=ip,
    )
    with connections[router.db_for_write(AuditEntry)].cursor() as cursor:
        cursor.execute(
            _INSERT_SQL,
            [entry.occurred_at, actor_id, action, entry.target, json.dumps(entry.details), ip],
        )
        entry.pk = cursor.fetchone()[0]
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
