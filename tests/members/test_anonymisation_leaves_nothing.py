"""After anonymisation, no table and no stored file holds the member's phone, email or name."""

from pathlib import Path

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from apps.analytics.models import ActivityEvent
from apps.benefits import services as benefit_services
from apps.core.models import ApiScope, FailedTask
from apps.core.roles import OPERATIONS_MANAGER
from apps.imports.models import ImportJob
from apps.members.models import GrowthEntry, Member, PointsEntry, PointsEntryKind
from tests.benefits.factories import BenefitFactory
from tests.imports.files import CHINESE_HEADER, write_csv

pytestmark = pytest.mark.django_db

NAME = "欧阳晓梅"
PHONE = "+8613987654321"
NATIONAL = "13987654321"
EMAIL = "xiaomei.ouyang@example.net"
OPENID, UNIONID, WECOM_ID, PUSH_TOKEN = "oXiaomeiOpenId4242", "uXiaomeiUnion4242", "wmXiaomeiExternal42", "push-xiaomei-4242"
NEEDLES = [NAME, PHONE, NATIONAL, EMAIL, OPENID, UNIONID, WECOM_ID, PUSH_TOKEN]


def text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.table_name, c.column_name FROM information_schema.columns c
            JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
            WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
              AND c.data_type IN ('character varying', 'text', 'character', 'json', 'jsonb')
            ORDER BY 1, 2
            """
        )
        return cursor.fetchall()


def database_hits() -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a needle appears: a data-only dump, searched with SQL."""
    hits = []
    with connection.cursor() as cursor:
        for table, column in text_columns():
            for needle in NEEDLES:
                cursor.execute(f'SELECT 1 FROM "{table}" WHERE "{column}"::text LIKE %s LIMIT 1', [f"%{needle}%"])
                if cursor.fetchone():
                    hits.append((table, column, needle))
    return hits


def media_hits(root: Path) -> list[tuple[str, str]]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for needle in NEEDLES:
                if any(needle.encode(encoding) in data for encoding in ("utf-8", "gbk")):
                    hits.append((str(path.relative_to(root)), needle))
    return hits


def test_a_data_dump_and_the_media_folder_hold_nothing_of_an_anonymised_member(client, staff, trusted_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    operations = staff(OPERATIONS_MANAGER)
    client.force_login(operations)
    api, _api_client = trusted_client(list(ApiScope.values))

    # enrolled by the brand's backend: the idempotency record stores the full answer
    enrolled = api.post(
        "/api/v1/members/",
        {"name": NAME, "phone": NATIONAL, "email": EMAIL, "city": "上海", "consents": {"sms": True}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="enrol-1",
    )
    assert enrolled.status_code == 201, enrolled.content
    member = Member.objects.get(phone=PHONE)

    # where the member is reached: WeChat openids and unionid, a WeCom contact, a device, a mini-program subscription
    identities = [
        {"kind": "official_account", "app_id": "wx-oa", "external_id": OPENID, "unionid": UNIONID},
        {"kind": "mini_program", "app_id": "wx-mp", "external_id": f"{OPENID}-mp", "unionid": UNIONID},
        {"kind": "wecom", "app_id": "ww-corp", "external_id": WECOM_ID, "adviser_userid": "zhangwei"},
        {"kind": "push", "app_id": "ios", "external_id": PUSH_TOKEN},
    ]
    for identity in identities:
        assert api.post(f"/api/v1/members/{member.pk}/identities/", identity, format="json").status_code == 201
    subscribed = api.post(
        f"/api/v1/members/{member.pk}/subscriptions/", {"template_id": "tmpl-1", "count": 2}, format="json", HTTP_IDEMPOTENCY_KEY="sub-1"
    )
    assert subscribed.status_code == 201

    # a customer file naming the member, imported in the back office, and a malformed upload
    rows = [CHINESE_HEADER, ["CRM-X", NAME, f"{NATIONAL[:3]} {NATIONAL[3:7]} {NATIONAL[7:]}", EMAIL, "上海", "", "", "", "", ""]]
    upload = write_csv(tmp_path / "members.csv", rows)
    with upload.open("rb") as handle:
        preview = client.post(reverse("admin:imports_importjob_add"), {"file": handle})
    assert preview.status_code == 200
    client.post(reverse("admin:imports_importjob_confirm", args=[ImportJob.objects.get().pk]))
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook " + NATIONAL.encode())
    with broken.open("rb") as handle:
        client.post(reverse("admin:imports_importjob_add"), {"file": handle})

    # staff edit the profile (the admin's own log names the member) and give a benefit
    change = client.get(reverse("admin:members_member_change", args=[member.pk]))
    assert change.status_code == 200
    benefit_services.grant_issue(benefit=BenefitFactory(), member=member, source="staff", source_ref=f"asked on {NATIONAL}")

    # rows written before free text was checked: ledger and activity references naming the member
    account = member.points_account
    PointsEntry.objects.create(
        account=account, kind=PointsEntryKind.ADJUST, amount=5, balance_after=account.balance + 5, reason=f"called from {PHONE}"
    )
    ActivityEvent.objects.create(
        member=member, kind="purchase", amount=10, occurred_at=timezone.now(), source="pos", event_id=f"pos-{NATIONAL}", order_ref=EMAIL
    )
    GrowthEntry.objects.create(member=member, amount=1, reason=f"bonus for {NAME}", source_ref=EMAIL)
    FailedTask.objects.create(task_id="t1", task_name="members.sync", exception=f"duplicate phone {PHONE}")
    LogEntry.objects.create(
        user=operations,
        content_type=ContentType.objects.get_for_model(Member),
        object_id=str(member.pk),
        object_repr=NAME,
        action_flag=CHANGE,
        change_message=f"phone {PHONE}",
    )
    assert {hit[2] for hit in database_hits()} >= {NAME, PHONE, EMAIL, OPENID, UNIONID, WECOM_ID, PUSH_TOKEN}

    done = client.post(reverse("admin:members_member_anonymise", args=[member.pk]), {"reason": "Deletion request #7", "confirm": "on"})
    assert done.status_code == 302

    assert database_hits() == []
    assert media_hits(Path(settings.MEDIA_ROOT)) == []
