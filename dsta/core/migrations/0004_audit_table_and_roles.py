"""The append-only audit table (raw SQL: Django does not manage it) and the four built-in roles."""

from django.db import migrations

AUDIT_SQL = """
CREATE TABLE audit_entry (
    id bigserial PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    actor_id bigint NULL,
    action varchar(100) NOT NULL,
    target varchar(200) NOT NULL DEFAULT '',
    details jsonb NOT NULL DEFAULT '{}'::jsonb,
    ip_address inet NULL
);
CREATE INDEX audit_entry_actor ON audit_entry (actor_id, id);
CREATE INDEX audit_entry_action ON audit_entry (action, id);

-- The core role owns this table, so REVOKE on its own table would not bind it: a trigger refuses instead.
CREATE FUNCTION audit_entry_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_entry is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_entry_no_update_delete BEFORE UPDATE OR DELETE ON audit_entry
    FOR EACH ROW EXECUTE FUNCTION audit_entry_append_only();
CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry
    FOR EACH STATEMENT EXECUTE FUNCTION audit_entry_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_entry FROM PUBLIC;
"""

AUDIT_REVERSE_SQL = """
DROP TABLE audit_entry;
DROP FUNCTION audit_entry_append_only();
"""

VIEWER = ["market_data.read", "trading.read", "ml.read"]
BUILT_IN_ROLES = {
    "admin": ("Everything, including secrets, config writes and user administration", ["*"]),
    "trader": (
        "Trades: orders, strategies, exchange accounts",
        [*VIEWER, "trading.*", "exchange.*", "config.read", "notifications.send", "notifications.read",
         "auth.api_key.manage"],
    ),
    "analyst": (
        "Research: market data, backtests, ML",
        [*VIEWER, "data.*", "market_data.*", "ml.*", "config.read", "notifications.read", "auth.api_key.manage"],
    ),
    "viewer": ("Read-only dashboards", VIEWER),
}


def create_roles(apps, schema_editor):
    Role = apps.get_model("core", "Role")
    for name, (description, permissions) in BUILT_IN_ROLES.items():
        Role.objects.using(schema_editor.connection.alias).update_or_create(
            name=name, defaults={"description": description, "permissions": permissions}
        )


def delete_roles(apps, schema_editor):
    apps.get_model("core", "Role").objects.using(schema_editor.connection.alias).filter(
        name__in=list(BUILT_IN_ROLES)
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("core", "0003_auth_config_notifications")]

    operations = [
        migrations.RunSQL(AUDIT_SQL, AUDIT_REVERSE_SQL),
        migrations.RunPython(create_roles, delete_roles),
    ]
