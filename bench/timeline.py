"""The customer profile's timeline for a member with 100,000 items, beside a plain read of the activity table.

One member gets 100,000 timeline items (``full``; 20,000 for ``quick``, still more than 500 pages) spread over five sources and the same
stretch of time: activities, points ledger entries, growth value entries, benefit grants and sign-ins. Measured:

- the first page (25 items) merged from every registered source, against the plain query of the activity table alone
  for the same member and page size (``ORDER BY occurred_at DESC, id DESC LIMIT 25``), the baseline;
- page 500, reached by following the "older" cursors from page 1, against page 1: keyset paging should cost the same
  on any page.

Rounds alternate the order of the sides; each side's figure is the median of its rounds, each round the median of
``CALLS`` reads. Checked afterwards: the pages hold 25 items each, newest first, and page 500 follows page 499.
"""

import statistics
import time
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction

from apps.analytics.models import ActivityEvent
from apps.benefits.models import Benefit, BenefitCategory, BenefitKind
from apps.members import selectors
from apps.members.models import Member, PointsAccount, Tier
from apps.members.timeline import TIMELINE_SOURCES

SIZES = {"quick": 20_000, "full": 100_000}
PAGE = 25
DEEP_PAGE = 500
ROUNDS = 7
CALLS = 15
# Shares of the member's items per source; every source spreads its items over the same ten thousand days.
SHARES = {"activities": 0.55, "points": 0.15, "growth": 0.10, "grants": 0.10, "sign_ins": 0.10}
SPAN_DAYS = 10_000


@transaction.atomic
def _member(items: int) -> Member:
    external_id = f"BENCH-TIMELINE-{items}"
    member = Member.objects.filter(external_id=external_id).first()
    if member is not None:
        return member
    member = Member.objects.create(external_id=external_id, name="Timeline bench", tier=Tier.objects.order_by("rank").first())
    account = PointsAccount.objects.create(member=member)
    benefit = Benefit.objects.create(
        name=f"Timeline bench coupon {items}",
        kind=BenefitKind.FIXED_COUPON,
        category=BenefitCategory.ECONOMIC,
        face_value=10,
        validity_days=30,
    )
    count = {name: int(items * share) for name, share in SHARES.items()}
    step = "(%(span)s * interval '1 day') / %(n)s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO analytics_activityevent (member_id, kind, occurred_at, recorded_at, source, event_id, order_ref, channel,
                                                 properties, device_id)
            SELECT %(member)s, (ARRAY['app_open','login','service_visit','share','community_post'])[1 + i %% 5],
                   now() - i * {step}, now(), 'bench-timeline', 'tl-' || %(member)s || '-' || i, '', '', '{{}}', ''
            FROM generate_series(1, %(n)s) AS i
            """,
            {"member": member.pk, "n": count["activities"], "span": SPAN_DAYS},
        )
        cursor.execute(
            f"""
            INSERT INTO members_pointsentry (account_id, kind, amount, balance_after, reason, source_ref, created_at,
                                             reason_code, reason_params)
            SELECT %(account)s, 'earn', 1, i, 'bench', '', now() - (%(n)s - i) * {step}, '', '{{}}'
            FROM generate_series(1, %(n)s) AS i
            """,
            {"account": account.pk, "n": count["points"], "span": SPAN_DAYS},
        )
        cursor.execute("UPDATE members_pointsaccount SET balance = %s WHERE id = %s", [count["points"], account.pk])
        cursor.execute(
            f"""
            INSERT INTO members_growthentry (member_id, amount, reason, source_ref, created_at, reason_code, reason_params)
            SELECT %(member)s, 1, 'bench', '', now() - i * {step}, '', '{{}}'
            FROM generate_series(1, %(n)s) AS i
            """,
            {"member": member.pk, "n": count["growth"], "span": SPAN_DAYS},
        )
        cursor.execute(
            f"""
            INSERT INTO benefits_grant (benefit_id, member_id, code, state, source, source_ref, valid_from, valid_until,
                                        issued_at, cost, revoke_reason)
            SELECT %(benefit)s, %(member)s, upper(substr(md5(%(member)s || '-' || i), 1, 16)), 'expired', 'staff', '',
                   now() - i * {step}, now() - i * {step} + interval '30 days', now() - i * {step}, 0, ''
            FROM generate_series(1, %(n)s) AS i
            """,
            {"benefit": benefit.pk, "member": member.pk, "n": count["grants"], "span": SPAN_DAYS},
        )
        cursor.execute(
            f"""
            INSERT INTO engagement_signin (member_id, day, streak, signed_in_at)
            SELECT %(member)s, (now() - i * {step})::date, 1, now() - i * {step}
            FROM generate_series(1, %(n)s) AS i
            """,
            {"member": member.pk, "n": count["sign_ins"], "span": SPAN_DAYS},
        )
        for table in ("analytics_activityevent", "members_pointsentry", "members_growthentry", "benefits_grant", "engagement_signin"):
            cursor.execute(f"ANALYZE {table}")
    return member


def _median_ms(read: Callable[[], Any]) -> float:
    times = []
    for _call in range(CALLS):
        started = time.perf_counter()
        read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(size: str) -> list[dict[str, Any]]:
    items = SIZES[size]
    member = _member(items)
    sources = list(TIMELINE_SOURCES)

    def plain_activity_page() -> list[ActivityEvent]:
        return list(ActivityEvent.objects.filter(member_id=member.pk).order_by("-occurred_at", "-id")[:PAGE])

    def first_page() -> selectors.TimelinePage:
        return selectors.member_timeline(member=member, sources=sources, limit=PAGE)

    # Follow the cursors from page 1 to page 500 once; the deep page is then read from the cursor page 499 handed over.
    cursor, previous_last = None, None
    for _page in range(DEEP_PAGE - 1):
        page = selectors.member_timeline(member=member, sources=sources, before=cursor, limit=PAGE)
        assert len(page.items) == PAGE and page.older is not None
        previous_last, cursor = page.items[-1], page.older
    deep_cursor = cursor

    def deep_page() -> selectors.TimelinePage:
        return selectors.member_timeline(member=member, sources=sources, before=deep_cursor, limit=PAGE)

    deep = deep_page()
    assert len(deep.items) == PAGE and deep.items[0].at <= previous_last.at
    sides = {"plain": plain_activity_page, "first": first_page, "deep": deep_page}
    figures: dict[str, list[float]] = {name: [] for name in sides}
    for round_number in range(ROUNDS):
        order = list(sides) if round_number % 2 == 0 else list(reversed(sides))
        for name in order:
            figures[name].append(_median_ms(sides[name]))
    plain, first, deep_ms = (statistics.median(figures[name]) for name in ("plain", "first", "deep"))
    # The machine's load drifts between rounds; the ratio within each round compares like with like.
    first_to_plain = statistics.median(f / p for f, p in zip(figures["first"], figures["plain"], strict=True))
    deep_to_first = statistics.median(d / f for d, f in zip(figures["deep"], figures["first"], strict=True))
    print(
        f"  timeline of {items:,} items: first page {first:.2f} ms, page {DEEP_PAGE} {deep_ms:.2f} ms, "
        f"activity table alone {plain:.2f} ms; median ratio within a round: first/plain {first_to_plain:.2f}, "
        f"page {DEEP_PAGE}/first {deep_to_first:.2f}; rounds first {[round(f, 2) for f in figures['first']]} "
        f"deep {[round(f, 2) for f in figures['deep']]} plain {[round(f, 2) for f in figures['plain']]}",
        flush=True,
    )
    return [
        {
            "name": "timeline first page (25 items, all sources)",
            "figure": round(first, 3),
            "unit": "ms",
            "baseline": round(plain, 3),
            "baseline_name": "activity table alone, same page size",
            "size": size,
        },
        {
            "name": f"timeline page {DEEP_PAGE} (following cursors)",
            "figure": round(deep_ms, 3),
            "unit": "ms",
            "baseline": round(first, 3),
            "baseline_name": "timeline first page",
            "size": size,
        },
    ]
