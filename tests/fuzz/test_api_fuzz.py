"""API fuzzing: schemathesis generates requests from the project's own OpenAPI schema (drf-spectacular) and sends
them to the WSGI app with member credentials and with a trusted system's API key. No answer may be a server error,
and every documented answer must match the schema. Runs in about a minute: few examples per operation."""

import os
from collections.abc import Callable, Iterator

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from apps.core.models import ApiScope
from apps.members import services as member_services
from tests.benefits.factories import BenefitFactory
from tests.core.factories import ApiClientFactory
from tests.events.factories import EventFactory
from tests.members.factories import MemberFactory, MemberTokenFactory

# Autocommit, as in production: a refused statement must not poison the requests after it.
pytestmark = pytest.mark.django_db(transaction=True)

MAX_EXAMPLES = int(os.environ.get("USEROPS_FUZZ_EXAMPLES", "10"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


@pytest.fixture(autouse=True)
def keep_test_connection() -> Iterator[None]:
    """Requests go straight to the WSGI app: keep Django from closing the test's connection after each (as its test client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema() -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())


@pytest.fixture
def programme() -> dict[str, object]:
    """Something for the generated requests to find: members with points, an active benefit, an open event."""
    member = MemberFactory()
    member_services.points_earn(member=member, amount=5_000, reason="Fuzz seed")
    MemberFactory.create_batch(2)
    BenefitFactory()
    EventFactory()
    return {"member": member}


def fuzz(api_schema: schemathesis.schemas.BaseSchema, headers: dict[str, str], wanted: Callable[[str], bool]) -> list[str]:
    """Run every operation ``wanted(label)`` selects; return what failed (an empty list is a pass)."""
    failures: list[str] = []
    ran = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if not wanted(operation.label):
            continue
        ran += 1

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, not only the first
            failures.append(f"{operation.label}: {exc}"[:3000])
    assert ran > 0
    return failures


def test_member_endpoints_never_fail_and_match_the_schema(api_schema, programme):
    token = MemberTokenFactory(member=programme["member"])
    failures = fuzz(api_schema, {"Authorization": f"Bearer {token.raw}"}, lambda label: "/me/" in label or "/events" in label)
    assert failures == [], "\n\n".join(failures)


def test_trusted_system_endpoints_never_fail_and_match_the_schema(api_schema, programme):
    client = ApiClientFactory(scopes=list(ApiScope.values))
    failures = fuzz(api_schema, {"X-Api-Key": client.raw_key}, lambda label: "/me/" not in label)
    assert failures == [], "\n\n".join(failures)
