"""The application's database role: it runs the programme but cannot rewrite the books or switch their guards off."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from apps.core.management.commands.create_app_db_role import append_only_tables
from apps.members import services as member_services
from tests.conftest import APP_ROLE_MODE
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
PROBE_PASSWORD = "probe-role-password"


def _connect(user: str, password: str) -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, dbname=settings["NAME"], user=user, password=password, autocommit=True
    )


@pytest.fixture
def app_role() -> Iterator[psycopg.Connection]:
    """A connection as the application role: the suite's own in USEROPS_TEST_APP_ROLE mode, else one made here."""
    if connection.vendor != "postgresql":
        pytest.skip("database roles exist on PostgreSQL")
    if APP_ROLE_MODE:
        with _connect(connection.settings_dict["USER"], connection.settings_dict["PASSWORD"]) as conn:
            yield conn
        return
    role = f"{connection.settings_dict['NAME']}_probe"
    os.environ["USEROPS_TEST_PROBE_PASSWORD"] = PROBE_PASSWORD
    call_command("create_app_db_role", role=role, password_env="USEROPS_TEST_PROBE_PASSWORD", verbosity=0)
    try:
        with _connect(role, PROBE_PASSWORD) as conn:
            yield conn
    finally:
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


def refused(conn: psycopg.Connection, statement: str) -> bool:
    try:
        conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_the_role_is_no_superuser_and_runs_the_programme(app_role):
    assert app_role.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user").fetchone() == (
        False,
        False,
        False,
    )
    member = MemberFactory()
    member_services.points_earn(member=member, amount=10, reason="Purchase")
    assert app_role.execute("SELECT count(*) FROM members_pointsentry").fetchone() == (1,)
    app_role.execute("UPDATE members_member SET city = 'Hangzhou' WHERE id = %s", [member.pk])


def test_the_ledger_cannot_be_rewritten_emptied_or_unguarded(app_role):
    member_services.points_earn(member=MemberFactory(), amount=10, reason="Purchase")
    assert set(append_only_tables()) >= {"members_pointsentry", "members_pointslotuse", "core_accesslogentry"}
    for table in append_only_tables():
        assert refused(app_role, f"UPDATE {table} SET id = id"), table
        assert refused(app_role, f"DELETE FROM {table}"), table
        assert refused(app_role, f"TRUNCATE {table}"), table
    assert refused(app_role, "TRUNCATE members_member CASCADE")
    assert refused(app_role, "ALTER TABLE members_pointsentry DISABLE TRIGGER ALL")
    assert refused(app_role, "DROP TRIGGER members_pointsentry_append_only ON members_pointsentry")
    assert refused(app_role, "SET session_replication_role = replica")
    assert refused(app_role, "CREATE TABLE smuggled (id int)")


def test_anonymisation_may_only_redact_the_ledgers_free_text(app_role):
    member = MemberFactory()
    member_services.points_earn(member=member, amount=10, reason="Purchase")
    assert refused(app_role, "UPDATE members_pointsentry SET amount = amount + 1")
    assert refused(app_role, "UPDATE members_growthentry SET amount = amount + 1")
    with pytest.raises(psycopg.errors.RestrictViolation):
        app_role.execute("UPDATE members_pointsentry SET reason = 'rewritten'")
    with app_role.transaction():
        app_role.execute("SELECT set_config('userops.ledger_redaction', 'on', true)")
        app_role.execute("UPDATE members_pointsentry SET reason = 'Purchase [redacted]'")
    assert app_role.execute("SELECT reason, amount FROM members_pointsentry").fetchall() == [("Purchase [redacted]", 10)]


def test_migrate_connects_through_database_migrate_url():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    settings = connection.settings_dict
    owner_url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:1/unreachable", "DATABASE_MIGRATE_URL": owner_url}
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_command_refuses_to_run_as_the_role_it_configures():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    with pytest.raises(CommandError, match="owner role"):
        call_command("create_app_db_role", role=connection.settings_dict["USER"], verbosity=0)
