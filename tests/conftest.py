import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, connections
from django.db.backends.postgresql.operations import DatabaseOperations
from django.utils import translation
from rest_framework.test import APIClient

from apps.core.models import ApiClient, ApiScope, User
from apps.members.models import Member, Tier
from apps.members.seed import seed_default_tiers
from tests.core.factories import ApiClientFactory, UserFactory
from tests.members.factories import MemberFactory, MemberTokenFactory

# USEROPS_TEST_APP_ROLE=1: the test database is created and migrated by the owner (DATABASE_URL), then every
# test connects as the application's least-privileged role, made by create_app_db_role — as in production.
APP_ROLE_MODE = os.environ.get("USEROPS_TEST_APP_ROLE") == "1"
APP_ROLE_PASSWORD = "app-role-test-password"


def _connect_as(user: str, password: str) -> None:
    for alias in connections:
        connections[alias].close()
        connections[alias].settings_dict.update(USER=user, PASSWORD=password)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    if not APP_ROLE_MODE:
        yield
        return
    if connection.vendor != "postgresql":
        pytest.exit("USEROPS_TEST_APP_ROLE=1 needs PostgreSQL", returncode=2)
    owner = {key: connection.settings_dict[key] for key in ("USER", "PASSWORD", "HOST", "PORT", "NAME")}
    role = f"{owner['NAME']}_app"
    with django_db_blocker.unblock():
        os.environ["USEROPS_TEST_APP_ROLE_PASSWORD"] = APP_ROLE_PASSWORD
        call_command("create_app_db_role", role=role, password_env="USEROPS_TEST_APP_ROLE_PASSWORD", verbosity=0)
    owner_flush = DatabaseOperations.execute_sql_flush

    def flush_as_owner(self: DatabaseOperations, sql_list: list[str]) -> None:
        # Emptying tables between transactional tests is TRUNCATE, which the application role may not do.
        with psycopg.connect(
            host=owner["HOST"], port=owner["PORT"] or 5432, dbname=owner["NAME"], user=owner["USER"], password=owner["PASSWORD"] or None
        ) as owner_connection:
            for statement in sql_list:
                owner_connection.execute(statement)

    DatabaseOperations.execute_sql_flush = flush_as_owner
    _connect_as(role, APP_ROLE_PASSWORD)
    try:
        yield
    finally:
        DatabaseOperations.execute_sql_flush = owner_flush
        _connect_as(owner["USER"], owner["PASSWORD"])
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


@pytest.fixture(autouse=True)
def default_language() -> Iterator[None]:
    """Every test starts in the default language: a request in zh-hans leaves its language active in the thread."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def trusted_client() -> Callable[..., tuple[APIClient, ApiClient]]:
    """An API client authenticated as a trusted system holding ``scopes`` (all by default)."""

    def make(scopes: list[str] | None = None) -> tuple[APIClient, ApiClient]:
        client = ApiClientFactory(scopes=list(ApiScope.values) if scopes is None else scopes)
        api = APIClient()
        api.credentials(HTTP_X_API_KEY=client.raw_key)
        return api, client

    return make


@pytest.fixture
def member_client() -> Callable[[Member | None], tuple[APIClient, Member]]:
    """An API client authenticated with a member token."""

    def make(member: Member | None = None) -> tuple[APIClient, Member]:
        member = member or MemberFactory()
        token = MemberTokenFactory(member=member)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.raw}")
        return api, member

    return make


@pytest.fixture
def staff() -> Callable[..., User]:
    def make(role: str | None = None, **kwargs: object) -> User:
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture(autouse=True)
def seeded_tiers(request: pytest.FixtureRequest) -> None:
    """Transactional tests flush the database; put back the tiers every programme has."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    seed_default_tiers(Tier)


@pytest.fixture(autouse=True)
def cache_without_flushed_rows(request: pytest.FixtureRequest) -> None:
    """A transactional test starts from a flushed database, but the flush keeps the cache's table: a version cached by
    an earlier test (the active earning rules, say) would describe rows that no longer exist."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        cache.clear()


@pytest.fixture
def celery_worker_process(request: pytest.FixtureRequest, transactional_db: None) -> Iterator[subprocess.Popen]:
    """A real Celery worker (a separate process) on the test broker and the test database, consuming every queue
    or those a ``worker_queues`` mark names.

    Runs only in the serial ``-m celery_worker`` pass of ``make test``, where CELERY_BROKER_URL is Redis.
    """
    from config.celery import app
    from config.celery_routes import QUEUES

    marker = request.node.get_closest_marker("worker_queues")
    queues = marker.args if marker else QUEUES

    broker = app.conf.broker_url
    if not broker.startswith("redis://") or connection.vendor != "postgresql":
        pytest.fail("worker tests need CELERY_BROKER_URL=redis://… and PostgreSQL (run them through `make test`)")
    reset_celery_connections()
    app.control.purge()
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": broker,
    }
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments; the queue names come from the test
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--queues",
            ",".join(queues),
            "--pool",
            "solo",
            "--without-gossip",
            "--without-mingle",
            "--loglevel",
            "WARNING",
        ],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        reset_celery_connections()


def reset_celery_connections() -> None:
    """Forget cached broker connections (kombu keeps producer pools in a global registry), so sends use the current broker."""
    from kombu import pools as kombu_pools

    from config.celery import app

    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    app.amqp._producer_pool = None
    kombu_pools.reset()


def wait_for(condition: Callable[[], bool], *, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")
