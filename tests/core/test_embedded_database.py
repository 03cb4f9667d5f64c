"""The embedded run (`make run` without configuration: SQLite, no services) answers the API's writes. The suite runs
on PostgreSQL, so this runs one points earn and its retry in a process of its own on a fresh SQLite file: raw SQL only
PostgreSQL knows must stay behind a vendor check."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from rest_framework.test import APIClient
from apps.core.models import ApiScope
from tests.core.factories import ApiClientFactory
from tests.members.factories import MemberFactory

member = MemberFactory()
api = APIClient()
api.credentials(HTTP_X_API_KEY=ApiClientFactory(scopes=list(ApiScope.values)).raw_key)
answers = []
for _attempt in range(2):
    response = api.post(
        f"/api/v1/members/{member.pk}/points/earn/", {"amount": 10, "reason": "Purchase"}, format="json",
        HTTP_IDEMPOTENCY_KEY="embedded-1",
    )
    answers.append([response.status_code, response.headers.get("Idempotent-Replayed", "")])
print(json.dumps(answers))
"""


def test_a_points_earn_and_its_retry_work_on_the_embedded_sqlite_database(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CELERY_BROKER_URL": "memory://",
    }
    env.pop("REDIS_URL", None)
    done = subprocess.run(  # noqa: S603 — fixed argv
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [[201, ""], [201, "true"]]
