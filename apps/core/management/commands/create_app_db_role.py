"""Create or refresh the application's least-privileged PostgreSQL role (run as the database owner)."""

import os
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import sql


def append_only_tables() -> list[str]:
    """Tables no one may change once written: each app lists its own in ``AppConfig.append_only_models``."""
    tables = []
    for config in apps.get_app_configs():
        for model_name in getattr(config, "append_only_models", ()):
            tables.append(config.get_model(model_name)._meta.db_table)
    return sorted(tables)


def redactable_columns() -> dict[str, tuple[str, ...]]:
    """Free-text columns of append-only tables that anonymisation may overwrite (``AppConfig.redactable_columns``)."""
    columns = {}
    for config in apps.get_app_configs():
        for model_name, fields in getattr(config, "redactable_columns", {}).items():
            model = config.get_model(model_name)
            columns[model._meta.db_table] = tuple(model._meta.get_field(field).column for field in fields)
    return columns


class Command(BaseCommand):
    help = (
        "Create (or bring up to date) the role the application connects as: it may read and write rows but is no "
        "superuser, owns nothing, cannot TRUNCATE, alter tables or disable triggers, and cannot UPDATE or DELETE the "
        "ledger and access-log tables. Run it as the owner role after every migrate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--role", default=os.environ.get("USEROPS_APP_DB_ROLE", "userops_app"), help="role name")
        parser.add_argument(
            "--password-env",
            default="USEROPS_APP_DB_PASSWORD",
            help="environment variable holding the role's password (not set: the password is left as it is)",
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args: Any, role: str, password_env: str, database: str, **options: Any) -> None:
        connection = connections[database]
        if connection.vendor != "postgresql":
            raise CommandError("Database roles exist on PostgreSQL only; the embedded SQLite database has none.")
        password = os.environ.get(password_env)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, current_database()")
            owner, database_name = cursor.fetchone()
            if owner == role:
                raise CommandError("Run this as the owner role (DATABASE_MIGRATE_URL), not as the application role.")
            for statement in self._statements(role=role, owner=owner, database_name=database_name, password=password):
                cursor.execute(statement)
        self.stdout.write(
            self.style.SUCCESS(f"Role {role} may read and write rows of {database_name}; append-only: {', '.join(append_only_tables())}.")
        )

    def _statements(self, *, role: str, owner: str, database_name: str, password: str | None) -> list[sql.Composable]:
        role_id, owner_id = sql.Identifier(role), sql.Identifier(owner)
        # Two processes creating the same role at once (parallel test databases) must both succeed.
        create = sql.SQL(
            "DO $$ BEGIN CREATE ROLE {role} LOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ).format(role=role_id)
        statements: list[sql.Composable] = [
            create,
            sql.SQL("ALTER ROLE {role} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS LOGIN").format(role=role_id),
        ]
        if password:
            statements.append(sql.SQL("ALTER ROLE {role} PASSWORD {password}").format(role=role_id, password=sql.Literal(password)))
        statements += [
            sql.SQL("GRANT CONNECT ON DATABASE {db} TO {role}").format(db=sql.Identifier(database_name), role=role_id),
            # Only the owner creates objects (PostgreSQL 15's default; older clusters let every role create in public).
            sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
            sql.SQL("GRANT USAGE ON SCHEMA public TO {role}").format(role=role_id),
            sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}").format(role=role_id),
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}").format(role=role_id),
            sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}").format(role=role_id),
            # Tables a later migration adds are usable at once; the command is still run after migrate so that
            # new append-only tables lose UPDATE and DELETE.
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public {grant} TO {role}").format(
                owner=owner_id, grant=sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES"), role=role_id
            ),
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public {grant} TO {role}").format(
                owner=owner_id, grant=sql.SQL("GRANT USAGE, SELECT ON SEQUENCES"), role=role_id
            ),
            sql.SQL("REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {role}").format(role=role_id),
        ]
        statements += [
            sql.SQL("REVOKE UPDATE, DELETE ON {table} FROM {role}").format(table=sql.Identifier(table), role=role_id)
            for table in append_only_tables()
        ]
        # A partitioned append-only table's partitions are tables of their own: reached directly they refuse too.
        statements += [
            sql.SQL(
                "DO $$ DECLARE part regclass; BEGIN FOR part IN SELECT relid FROM pg_partition_tree({table}::regclass) "
                "WHERE relid <> {table}::regclass LOOP EXECUTE format('REVOKE UPDATE, DELETE ON %s FROM %I', part, {role}); "
                "END LOOP; END $$"
            ).format(table=sql.Literal(table), role=sql.Literal(role))
            for table in append_only_tables()
        ]
        statements += [
            sql.SQL("GRANT UPDATE ({columns}) ON {table} TO {role}").format(
                columns=sql.SQL(", ").join(map(sql.Identifier, columns)), table=sql.Identifier(table), role=role_id
            )
            for table, columns in redactable_columns().items()
        ]
        return statements
