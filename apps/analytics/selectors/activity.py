"""Activity figures, read only from the roll-ups (DailyMetric, PeriodMetric, CohortActivity, DailyMemberActivity)."""

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.analytics.models import (
    CohortActivity,
    DailyMemberActivity,
    DailyMetric,
    PeriodKind,
    PeriodMetric,
)
from apps.analytics.selectors.figures import Figure, MetricFilter, local_today, money, month_end, percent, ratio


def _daily(f: MetricFilter) -> QuerySet[DailyMetric]:
    return DailyMetric.objects.filter(f.slice_q(), day__gte=f.start, day__lte=f.end)


def _periods(f: MetricFilter, kind: str, starts: list[date]) -> QuerySet[PeriodMetric]:
    return PeriodMetric.objects.filter(f.slice_q(), kind=kind, start__in=starts)


def daily_activity(*, f: MetricFilter) -> Figure:
    """Per local day: DAU, new members, purchases, revenue."""
    sums = {
        row["day"]: row
        for row in _daily(f)
        .values("day")
        .annotate(dau=Sum("active_members"), new=Sum("new_members"), purchases=Sum("purchases"), revenue=Sum("revenue"))
        .order_by()
    }
    rows = []
    for day in f.days:
        row = sums.get(day, {})
        rows.append([day, row.get("dau") or 0, row.get("new") or 0, row.get("purchases") or 0, money(row.get("revenue"))])
    headline = {
        "dau_last_day": rows[-1][1] if rows else 0,
        "dau_average": ratio(sum(r[1] for r in rows), len(rows), "0.1"),
        "new_members": sum(r[2] for r in rows),
    }
    return Figure("daily", _("Daily activity"), [_("day"), _("DAU"), _("new members"), _("purchases"), _("revenue")], rows, headline)


def monthly_activity(*, f: MetricFilter) -> Figure:
    """Per calendar month the range touches: MAU, average DAU, stickiness (average DAU ÷ MAU), and the purchase figures."""
    months = f.months
    periods = {
        row["start"]: row
        for row in _periods(f, PeriodKind.MONTH, months)
        .values("start")
        .annotate(
            mau=Sum("active_members"),
            purchasers=Sum("purchasers"),
            repeat=Sum("repeat_purchasers"),
            purchases=Sum("purchases"),
            revenue=Sum("revenue"),
        )
        .order_by()
    }
    dau = _daily_sum_by_month(f, months, "active_members")
    today = local_today()
    rows = []
    for month in months:
        row = periods.get(month, {})
        days_in = (min(month_end(month), max(today, month)) - month).days + 1
        avg_dau = ratio(dau.get(month) or 0, days_in, "0.1")
        mau = row.get("mau") or 0
        rows.append(
            [
                month,
                mau,
                avg_dau,
                percent(dau.get(month) or 0, days_in * mau),
                row.get("purchasers") or 0,
                row.get("repeat") or 0,
                percent(row.get("repeat") or 0, row.get("purchasers") or 0),
                ratio(row.get("purchases") or 0, row.get("purchasers") or 0),
                ratio(row.get("revenue") or 0, row.get("purchases") or 0),
            ]
        )
    total = {k: sum(periods.get(m, {}).get(k) or 0 for m in months) for k in ("purchasers", "repeat", "purchases", "revenue")}
    headline = {
        "mau": rows[-1][1] if rows else 0,
        "stickiness_percent": rows[-1][3] if rows else None,
        "purchases": total["purchases"],
        "revenue": money(total["revenue"]),
        "aov": ratio(total["revenue"], total["purchases"]),
        "purchase_frequency": ratio(total["purchases"], total["purchasers"]),
        "repurchase_rate_percent": percent(total["repeat"], total["purchasers"]),
    }
    columns = [_("month"), _("MAU"), _("average DAU"), _("stickiness %"), _("purchasers"), _("repeat purchasers")]
    columns += [_("repurchase rate %"), _("purchase frequency"), _("AOV")]
    return Figure("monthly", _("Monthly activity and purchases"), columns, rows, headline)


def _daily_sum_by_month(f: MetricFilter, months: list[date], column: str) -> dict[date, int]:
    """A daily roll-up column summed per month over ``months`` (first days), for the filter's slice."""
    return {
        row["m"]: row["total"]
        for row in DailyMetric.objects.filter(f.slice_q(), day__gte=months[0], day__lte=month_end(months[-1]))
        .annotate(m=TruncMonth("day"))
        .values("m")
        .annotate(total=Sum(column))
        .order_by()
    }


WAU_DAYS = 7
MAU_DAYS = 30


def active_members(*, f: MetricFilter) -> Figure:
    """DAU, WAU and MAU over rolling windows that all end on the range's last day (1, 7 and 30 days), and
    stickiness from the same 30 days: average DAU ÷ MAU. Nested windows, so DAU ≤ WAU ≤ MAU on every day."""
    end = f.end
    windows = [("DAU", 1), ("WAU", WAU_DAYS), ("MAU", MAU_DAYS)]
    counts = DailyMemberActivity.objects.filter(f.slice_q(), day__gt=end - timedelta(days=MAU_DAYS), day__lte=end).aggregate(
        **{label: Count("member_id", distinct=True, filter=Q(day__gt=end - timedelta(days=days))) for label, days in windows},
        member_days=Count("id"),
    )
    rows = [[label, end - timedelta(days=days - 1), end, counts[label]] for label, days in windows]
    headline = {
        "day": end,
        "dau": counts["DAU"],
        "wau": counts["WAU"],
        "mau": counts["MAU"],
        "average_dau": ratio(counts["member_days"], MAU_DAYS, "0.1"),
        "stickiness_percent": percent(counts["member_days"], MAU_DAYS * counts["MAU"]),
    }
    columns = [_("window"), _("first day"), _("last day"), _("active members")]
    return Figure("active", _("Active members over rolling windows"), columns, rows, headline)


def weekly_activity(*, f: MetricFilter) -> Figure:
    first = f.start - timedelta(days=f.start.weekday())
    weeks = [first + timedelta(weeks=n) for n in range((f.end - first).days // 7 + 1)]
    wau = dict(_periods(f, PeriodKind.WEEK, weeks).values("start").annotate(n=Sum("active_members")).values_list("start", "n").order_by())
    rows = [[week, wau.get(week) or 0] for week in weeks]
    return Figure("weekly", _("Weekly active members"), [_("week"), _("WAU")], rows, {"wau": rows[-1][1] if rows else 0})


def cohort_retention(*, f: MetricFilter, horizon: int = 12) -> Figure:
    """Monthly join cohorts of the range: size, and the share of the cohort active in month 0, 1, 2 …"""
    cohorts = f.months
    sizes = _daily_sum_by_month(f, cohorts, "new_members")
    active: dict[tuple[date, date], int] = {
        (row["cohort"], row["month"]): row["n"]
        for row in CohortActivity.objects.filter(f.slice_q(), cohort__in=cohorts)
        .values("cohort", "month")
        .annotate(n=Sum("active_members"))
        .order_by()
    }
    today = local_today()
    rows = []
    for cohort in cohorts:
        size = sizes.get(cohort) or 0
        cells: list[Any] = []
        month = cohort
        for _offset in range(horizon):
            if month > today:
                cells.append(None)
            else:
                cells.append(percent(active.get((cohort, month), 0), size))
            month = (month + timedelta(days=32)).replace(day=1)
        rows.append([cohort, size, *cells])
    columns = [_("cohort"), _("members"), *[f"M{n}" for n in range(horizon)]]
    return Figure("cohorts", _("Retention by monthly join cohort (% active)"), columns, rows)


def nps(*, f: MetricFilter) -> Figure:
    totals = _daily(f).aggregate(p=Coalesce(Sum("promoters"), 0), n=Coalesce(Sum("passives"), 0), d=Coalesce(Sum("detractors"), 0))
    answers = totals["p"] + totals["n"] + totals["d"]
    score = (Decimal(totals["p"] - totals["d"]) * 100 / answers).quantize(Decimal("0.1")) if answers else None
    rows = [[_("promoters (9-10)"), totals["p"]], [_("passives (7-8)"), totals["n"]], [_("detractors (0-6)"), totals["d"]]]
    return Figure("nps", _("Net promoter score"), [_("group"), _("answers")], rows, {"nps": score, "answers": answers})


def funnel(*, f: MetricFilter) -> Figure:
    """Members (joined by the range's end) → active in the last month of the range → purchased → purchased again."""
    month = f.months[-1]
    members = DailyMetric.objects.filter(f.slice_q(), day__lte=f.end).aggregate(n=Coalesce(Sum("new_members"), 0))["n"]
    period = _periods(f, PeriodKind.MONTH, [month]).aggregate(
        active=Coalesce(Sum("active_members"), 0), buyers=Coalesce(Sum("purchasers"), 0), repeat=Coalesce(Sum("repeat_purchasers"), 0)
    )
    steps = [
        (_("members"), members),
        (pgettext_lazy("funnel step", "active"), period["active"]),
        (_("purchased"), period["buyers"]),
        (_("purchased again"), period["repeat"]),
    ]
    rows = [[label, count, percent(count, members)] for label, count in steps]
    return Figure("funnel", _("Funnel, %(month)s") % {"month": month.strftime("%Y-%m")}, [_("step"), _("members"), _("% of members")], rows)
