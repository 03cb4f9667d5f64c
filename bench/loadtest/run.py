"""Load test: seed PostgreSQL, serve the API with gunicorn on loopback, run locust headless for a few minutes with a
redeem-heavy mix, print the failure rate and p95, then prove the books: reconcile_points finds nothing and no
voucher was redeemed twice.

    DATABASE_URL=postgres://… python -m bench.loadtest.run [--minutes 3] [--users 8]
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "loadtest"


def seed(members: int, codes: int, contested: int, tokens: int) -> dict:
    from django.utils import timezone

    from apps.benefits.models import Benefit, BenefitKind, Grant, GrantSource
    from apps.core.models import ApiScope
    from apps.core.services import api_client_create
    from apps.members import services as member_services
    from apps.members.models import Member
    from bench.data import ensure_members

    ensure_members(members)
    member_ids = list(Member.objects.filter(status="active").order_by("pk").values_list("pk", flat=True)[:members])
    now = timezone.now()
    voucher = Benefit.objects.create(
        name=f"load voucher {uuid.uuid4().hex[:6]}",
        kind=BenefitKind.FIXED_COUPON,
        category="economic",
        face_value=Decimal(50),
        validity_days=30,
    )
    grants = Grant.objects.bulk_create(
        [
            Grant(
                benefit=voucher,
                member_id=member_ids[i % len(member_ids)],
                source=GrantSource.CAMPAIGN,
                valid_from=now,
                valid_until=now + timedelta(days=30),
            )
            for i in range(codes + contested)
        ],
        batch_size=5000,
    )
    all_codes = [grant.code for grant in grants]
    mall = Benefit.objects.create(
        name=f"load mall item {uuid.uuid4().hex[:6]}",
        kind=BenefitKind.FIXED_COUPON,
        category="economic",
        face_value=Decimal(20),
        validity_days=30,
        points_price=500,
        total_stock=2000,
    )
    _client, api_key = api_client_create(name=f"load-{uuid.uuid4().hex[:8]}", scopes=list(ApiScope.values))
    from apps.core.models import ApiClient

    client = ApiClient.objects.get(key_prefix=api_key.split(".")[0])
    token_rows = []
    for member_id in member_ids[:tokens]:
        member = Member.objects.get(pk=member_id)
        member_services.points_earn(member=member, amount=3_000, reason="Load test opening balance")
        _token, raw = member_services.member_token_issue(member=member, client=client)
        token_rows.append([raw, member_id])
    return {
        "api_key": api_key,
        "codes": all_codes[:codes],
        "contested_codes": all_codes[codes:],
        "voucher_id": voucher.pk,
        "mall_benefit_id": mall.pk,
        "tokens": token_rows,
        "member_ids": member_ids,
    }


def aggregated(stats_csv: Path) -> dict:
    rows = list(csv.DictReader(stats_csv.open(encoding="utf-8")))
    per_name = {row["Name"]: row for row in rows}
    total = per_name["Aggregated"]
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    return {
        "requests": requests,
        "failures": failures,
        "failure_rate_percent": round(100 * failures / requests, 3) if requests else None,
        "requests_per_second": round(float(total["Requests/s"]), 1),
        "p50_ms": int(float(total["50%"])),
        "p95_ms": int(float(total["95%"])),
        "p99_ms": int(float(total["99%"])),
        "by_request": {
            row["Name"]: {"requests": int(row["Request Count"]), "failures": int(row["Failure Count"]), "p95_ms": int(float(row["95%"]))}
            for row in rows
            if row["Name"] != "Aggregated"
        },
    }


def check_books(voucher_id: int, contested: list[str]) -> dict:
    from django.core.management import call_command
    from django.db.models import Count

    from apps.benefits.models import Grant, GrantState, Redemption

    call_command("reconcile_points")  # raises CommandError on any difference
    redeemed = Grant.objects.filter(benefit_id=voucher_id, state=GrantState.REDEEMED).count()
    redemptions = Redemption.objects.filter(grant__benefit_id=voucher_id).count()
    doubles = Redemption.objects.values("grant_id").annotate(n=Count("id")).filter(n__gt=1).count()
    contested_redeemed = Grant.objects.filter(code__in=contested, state=GrantState.REDEEMED).count()
    assert redeemed == redemptions and doubles == 0, (redeemed, redemptions, doubles)
    return {"vouchers_redeemed": redemptions, "double_redemptions": doubles, "contested_codes_redeemed_once": contested_redeemed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=3)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("The load test runs on PostgreSQL: set DATABASE_URL=postgres://…")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from bench.server import gunicorn

    call_command("migrate", verbosity=0)
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = seed(members=5_000, codes=60_000, contested=300, tokens=400)
    print(f"Seeded in {time.perf_counter() - started:.0f}s: 5,000 members, 60,300 vouchers, 400 member tokens.")
    data_file = OUT / "data.json"
    data_file.write_text(json.dumps(data))
    prefix = OUT / "locust"
    with gunicorn(workers=args.workers) as base_url:
        command = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(Path(__file__).with_name("locustfile.py")),
            "--headless",
            "--users",
            str(args.users),
            "--spawn-rate",
            str(args.users),
            "--run-time",
            f"{int(args.minutes * 60)}s",
            "--host",
            base_url,
            "--csv",
            str(prefix),
            "--only-summary",
            "--loglevel",
            "WARNING",
        ]
        subprocess.run(command, cwd=ROOT, env={**os.environ, "USEROPS_LOADTEST_DATA": str(data_file)}, check=False)
    figures = aggregated(Path(f"{prefix}_stats.csv"))
    figures["books"] = check_books(data["voucher_id"], data["contested_codes"])
    figures.update(users=args.users, minutes=args.minutes, gunicorn_workers=args.workers)
    (OUT / "result.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))
    print(
        f"\n{figures['requests']} requests in {args.minutes:g} min ({figures['requests_per_second']}/s), "
        f"failure rate {figures['failure_rate_percent']}%, p95 {figures['p95_ms']} ms; "
        f"reconcile_points: every account reconciles; {figures['books']['double_redemptions']} vouchers redeemed twice."
    )
    if figures["failures"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
