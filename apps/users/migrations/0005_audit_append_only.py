"""The audit log is append-only in the database too, not only in the ORM: row triggers refuse UPDATE and DELETE.

PostgreSQL: one trigger function and a BEFORE UPDATE OR DELETE row trigger. TRUNCATE fires no row trigger, so
Django's flush (the test runner's teardown) still empties the table; so can an owner who means to.
SQLite: a BEFORE UPDATE trigger that RAISE(ABORT)s. No DELETE trigger there: SQLite's flush is a DELETE, which
the test runner's teardown needs; the ORM still refuses deletes (AuditLogQuerySet, AuditLogEntry.delete).
SQLite drops a table's triggers when Django rebuilds the table, which it does for most column changes: a later
migration that alters AuditLogEntry on SQLite must create these triggers again.
"""

from django.db import migrations

MESSAGE = "audit log entries are append-only"
PG_FUNCTION = "users_audit_append_only"
PG_TRIGGER = "users_audit_append_only"
SQLITE_TRIGGERS = {"UPDATE": "users_audit_no_update"}


def _table(apps, schema_editor):
    model = apps.get_model("users", "AuditLogEntry")
    return schema_editor.quote_name(model._meta.db_table)


def guard_create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    table = _table(apps, schema_editor)
    if vendor == "postgresql":
        schema_editor.execute(
            f"""
            CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION USING
                    MESSAGE = '{MESSAGE}: ' || TG_OP || ' refused on ' || TG_TABLE_NAME,
                    ERRCODE = 'raise_exception';
            END;
            $$
            """,
            params=None,
        )
        schema_editor.execute(
            f"CREATE TRIGGER {PG_TRIGGER} BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()",
            params=None,
        )
    elif vendor == "sqlite":
        for operation, name in SQLITE_TRIGGERS.items():
            schema_editor.execute(
                f"CREATE TRIGGER {name} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}: {operation} refused'); END",
                params=None,
            )


def guard_drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    table = _table(apps, schema_editor)
    if vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {PG_TRIGGER} ON {table}", params=None)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()", params=None)
    elif vendor == "sqlite":
        for name in SQLITE_TRIGGERS.values():
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0004_service_access_vault_audit"),
    ]

    operations = [
        migrations.RunPython(guard_create, guard_drop, elidable=False),
    ]
