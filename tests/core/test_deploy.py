"""Production settings: ``check --deploy`` is clean, security headers and the content security policy are sent."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]


def production_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "USEROPS_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="false",
        USEROPS_PRODUCTION="true",
        DJANGO_SECRET_KEY="k" * 10 + "-production-secret-with-enough-variety-0123456789-ABCDEFGHIJ",
        DJANGO_ALLOWED_HOSTS="userops.example.com",
        DJANGO_CSRF_TRUSTED_ORIGINS="https://userops.example.com",
        USEROPS_BEHIND_PROXY="true",
        **extra,
    )
    return env


def test_check_deploy_has_no_warnings_in_production():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_when_limits_would_be_counted_per_process():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(CACHE_URL="locmemcache://"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0 and "userops.W001" in result.stderr + result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_back_office_pages_carry_the_security_headers_and_csp(client, staff):
    client.force_login(staff("Operations manager"))
    response = client.get(reverse("admin:campaigns_campaignrun_changelist"))
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin" and "microphone=()" in response["Permissions-Policy"]


@pytest.mark.django_db
def test_inline_scripts_carry_the_nonce_of_the_policy(client, staff):
    from tests.campaigns.factories import SegmentFactory

    client.force_login(staff("Operations manager"))
    response = client.get(reverse("admin:campaigns_segment_change", args=[SegmentFactory().pk]))
    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script nonce="{nonce}">' in response.content.decode()
