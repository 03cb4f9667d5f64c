"""The shape docs/architecture.md promises, proven by reading every import under apps/ (migrations aside):
dependencies between apps point one way, and the business layer never imports the interface layer."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# core ← members ← benefits, messaging, imports ← campaigns, events ← analytics: an app imports only lower levels.
# identities sits between members and messaging: it needs members, and messaging's WeChat senders need it.
LEVELS = {
    "core": 0,
    "members": 1,
    "identities": 1.5,
    "sales": 1.5,
    "benefits": 2,
    "webhooks": 2,
    "messaging": 2,
    "imports": 2,
    "campaigns": 3,
    "events": 3,
    "reminders": 3,
    "tagging": 3.5,
    "feedback": 3.5,
    "analytics": 4,
    "abuse": 5,
    "engagement": 5,
    "rules": 5,
    "lifecycle": 5,
    "journeys": 6,
}
BUSINESS_MODULES = {"models", "services", "selectors", "locks"}
INTERFACE_MODULES = {"admin", "api", "tasks", "management"}


def _imported_modules(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def layer_violations(source: str, module: str) -> list[str]:
    """What ``module`` (a path such as apps/members/services/ledger.py) imports against the layering."""
    app, *inner = module.removesuffix(".py").split("/")[1:]
    found = []
    for line, name in _imported_modules(source):
        parts = name.split(".")
        if parts[0] != "apps" or len(parts) < 2:
            continue
        other = parts[1]
        if other != app and LEVELS[other] >= LEVELS[app]:
            found.append(f"{module}:{line} imports {name} ({app} may import only apps below it)")
        if inner and inner[0] in BUSINESS_MODULES and len(parts) > 2 and parts[2] in INTERFACE_MODULES:
            found.append(f"{module}:{line} imports {name} (services, selectors, models and locks never import admin, api or tasks)")
    return found


def test_every_app_has_a_level():
    apps = {path.name for path in (ROOT / "apps").iterdir() if (path / "apps.py").exists()}
    assert apps == set(LEVELS)


def test_dependencies_point_one_way_and_business_code_never_imports_the_interface():
    found = []
    for path in sorted((ROOT / "apps").rglob("*.py")):
        module = path.relative_to(ROOT).as_posix()
        if "/migrations/" not in module:
            found += layer_violations(path.read_text(encoding="utf-8"), module)
    assert found == []


def test_the_scan_sees_each_kind_of_violation():
    source = """
from apps.campaigns.services import referral_qualify
import apps.analytics.selectors
from apps.members.tasks import expire_points
from apps.benefits.api.views import GrantRedeemView
from apps.core.errors import ApplicationError
"""
    assert len(layer_violations(source, "apps/members/services/ledger.py")) == 5
    assert len(layer_violations(source, "apps/events/services.py")) == 4
    assert layer_violations("from apps.messaging.services import messages_enqueue_bulk", "apps/benefits/services.py") != []
