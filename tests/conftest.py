import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection
from rest_framework.test import APIClient

from apps.core.models import ApiClient, ApiScope, User
from apps.members.models import Member, Tier
from apps.members.seed import seed_default_tiers
from tests.core.factories import ApiClientFactory, UserFactory
from tests.members.factories import MemberFactory, MemberTokenFactory


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


@pytest.fixture
def celery_worker_process(transactional_db: None) -> Iterator[subprocess.Popen]:
    """A real Celery worker (a separate process) on the test broker and the test database.

    Runs only in the serial ``-m celery_worker`` pass of ``make test``, where CELERY_BROKER_URL is Redis.
    """
    from config.celery import app

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
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
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
