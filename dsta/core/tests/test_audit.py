from __future__ import annotations

import pytest
from django.db import DatabaseError, connections, transaction
from rest_framework.test import APIClient

from dsta.core import api
from dsta.core.models import AuditEntry
from dsta.core.tests.factories import access_token_for, bearer, user_with_role

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entry SET action = 'forged' WHERE id = %s",
        "DELETE FROM audit_entry WHERE id = %s",
        "TRUNCATE audit_entry",
    ],
)
def test_the_database_refuses_to_change_or_remove_audit_entries(statement):
    record = api.audit_record(actor_id=1, action="trading.order_placed", target="order:1", details={"qty": "1"})
    refused = pytest.raises(DatabaseError, match="append-only")
    with refused, transaction.atomic(), connections["default"].cursor() as cursor:
        cursor.execute(statement, [record.entry_id] if "%s" in statement else [])
    assert AuditEntry.objects.get(pk=record.entry_id).action == "trading.order_placed"
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=record.entry_id).update(action="forged")


def test_users_see_their_own_audit_log_and_admins_anyone_s():
    trader, admin = user_with_role("trader"), user_with_role("admin")
    api.audit_record(actor_id=trader.pk, action="trading.order_placed", target="order:7", details={})
    api.audit_record(actor_id=admin.pk, action="config.changed", target="config:x", details={})
    client = APIClient()
    own = client.get("/api/v1/users/audit-log", {"actor_id": admin.pk}, **bearer(access_token_for(trader))).json()
    assert [entry["action"] for entry in own] == ["trading.order_placed"]  # actor_id ignored without audit.read
    other = client.get("/api/v1/users/audit-log", {"actor_id": trader.pk}, **bearer(access_token_for(admin))).json()
    assert [entry["target"] for entry in other] == ["order:7"]
    assert client.get("/api/v1/users/audit-log", {"limit": 0}, **bearer(access_token_for(admin))).status_code == 400
