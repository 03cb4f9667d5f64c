"""JSON text may escape a lone UTF-16 surrogate ("\\ud800"): the parser turns it into a string that UTF-8 and
PostgreSQL cannot hold. Every API body with one, in a value or a key, at any depth, is a 400 naming the field; no
endpoint answers a server error for it, and nothing is written."""

import json
import re

import pytest
from django.test import Client

from apps.core.jsontext import lone_surrogate_path
from apps.core.models import ApiScope
from apps.feedback.links import survey_token
from apps.feedback.models import SurveyResponse
from apps.sales.models import Lead
from tests.core.factories import ApiClientFactory
from tests.feedback.factories import SurveyFactory
from tests.members.factories import MemberFactory, MemberTokenFactory
from tests.sales.factories import DealerFactory

pytestmark = pytest.mark.django_db

LONE = "\\ud800"  # as JSON text: a backslash escape, which json.loads turns into the lone surrogate


def test_the_path_names_the_first_value_or_key_that_is_not_text():
    assert lone_surrogate_path({"a": ["fine", {"b": "中文 ✓ 😀"}]}) is None
    assert lone_surrogate_path(json.loads('{"a": ["fine", {"b": "x\\udfff"}]}')) == "a.1.b"
    assert lone_surrogate_path(json.loads('{"ok": 1, "answers": {"\\ud800": "yes"}}')) == "answers.\\ud800"
    assert lone_surrogate_path(json.loads('"\\udc00"')) == ""
    deep = json.loads(f'"{LONE}"')
    for _depth in range(5000):
        deep = [deep]
    assert lone_surrogate_path(deep) == ".".join(["0"] * 5000)


def test_a_survey_answer_with_a_lone_surrogate_is_a_400_naming_the_field():
    member = MemberFactory()
    survey = SurveyFactory()
    token = survey_token(member_id=member.pk, survey_id=survey.pk, valid_days=survey.link_valid_days)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {MemberTokenFactory(member=member).raw}")
    url = f"/api/v1/me/surveys/{token}/"
    for body, field in (
        (f'{{"nps_score": 8, "answers": {{"1": "{LONE}"}}}}', "answers.1"),
        (f'{{"nps_score": 8, "answers": {{"{LONE}": "fine"}}}}', "answers.\\ud800"),
        (f'{{"nps_score": 8, "answers": {{"1": ["a", {{"b": "x{LONE}y"}}]}}}}', "answers.1.1.b"),
    ):
        response = client.post(url, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"k-{field}")
        assert response.status_code == 400, (body, response.content)
        error = response.json()["error"]
        assert error["code"] == "invalid_text" and list(error["fields"]) == [field], error
    assert not SurveyResponse.objects.exists()
    answered = client.post(url, '{"nps_score": 8}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="fine")
    assert answered.status_code == 201, answered.content


def test_a_lead_batch_with_a_lone_surrogate_names_the_lead_and_its_field():
    DealerFactory(code="SH001")
    key = ApiClientFactory(scopes=[ApiScope.LEADS_WRITE]).raw_key
    body = f'{{"leads": [{{"source_ref": "W-1", "name": "李雷", "phone": "13800138000"}}, {{"source_ref": "W-2", "name": "a{LONE}"}}]}}'
    response = Client(HTTP_X_API_KEY=key).post("/api/v1/leads/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="l")
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["leads.1.name"]
    assert not Lead.objects.exists()


def _operations(schema: dict) -> list[tuple[str, str]]:
    """Every (method, path) whose request body is JSON, with its path parameters filled with 1."""
    found = []
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                found.append((method, re.sub(r"\{[^}]+\}", "1", path)))
    return found


def test_no_endpoint_answers_a_lone_surrogate_with_a_server_error():
    member = MemberFactory()
    member_headers = {"HTTP_AUTHORIZATION": f"Bearer {MemberTokenFactory(member=member).raw}"}
    system_headers = {"HTTP_X_API_KEY": ApiClientFactory(scopes=list(ApiScope.values)).raw_key}
    client = Client(raise_request_exception=False)
    schema = client.get("/api/v1/schema/?format=json", **system_headers).json()
    operations = _operations(schema)
    assert len(operations) > 20
    refused, failures = 0, []
    for method, path in operations:
        headers = member_headers if "/me/" in path else system_headers
        for body in (f'{{"name": "{LONE}", "body": "{LONE}", "leads": ["{LONE}"]}}', f'{{"{LONE}": 1}}', f'"{LONE}"'):
            response = getattr(client, method)(path, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"{path}{body}", **headers)
            if response.status_code >= 500:
                failures.append(f"{method.upper()} {path} {body}: {response.status_code}")
            elif response.status_code == 400 and response.json()["error"]["code"] == "invalid_text":
                refused += 1
                assert response.json()["error"]["fields"], (method, path, body)
    assert failures == [], "\n".join(failures)
    assert refused >= 2 * len(operations)  # most reach the body; a few answer 404 for the made-up ids first
