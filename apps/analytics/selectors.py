"""Programme metrics. Each is defined in docs/metrics.md; the dashboard, its CSV exports and the API share these.

Activity figures read only the roll-ups (DailyMetric, PeriodMetric, CohortActivity, DailyMemberActivity, RfmScore),
never the raw activity table. Points, tiers, benefits, events and campaigns read their own apps' tables.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, DateField, DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.analytics.days import day_start, local_zone
from apps.analytics.models import (
    ActivityEvent,
    CohortActivity,
    DailyMemberActivity,
    DailyMetric,
    MemberSummary,
    PeriodKind,
    PeriodMetric,
    RfmScore,
    RfmSegment,
)
from apps.benefits.models import Benefit, GrantState, Redemption
from apps.campaigns.models import ActionOutcome, Campaign, CampaignAction, CampaignRun
from apps.core.errors import ApplicationError
from apps.events.models import Event, RegistrationState
from apps.members.models import PointsAccount, PointsEntry, PointsEntryKind, SourceChannel, Tier, TierChange, TierChangeKind
from apps.members.selectors import points_cost

ZERO = Decimal("0")


@dataclass(frozen=True)
class MetricFilter:
    """A date range of local days (both ends included) and an optional slice."""

    start: date
    end: date
    tier_id: int | None = None
    city: str = ""
    channel: str = ""

    def slice_q(self) -> Q:
        """The slice on a roll-up table (tier_id, city, channel columns)."""
        q = Q()
        if self.tier_id:
            q &= Q(tier_id=self.tier_id)
        if self.city:
            q &= Q(city=self.city)
        if self.channel:
            q &= Q(channel=self.channel)
        return q

    def member_q(self, prefix: str = "") -> Q:
        q = Q()
        if self.tier_id:
            q &= Q(**{f"{prefix}tier_id": self.tier_id})
        if self.city:
            q &= Q(**{f"{prefix}city": self.city})
        if self.channel:
            q &= Q(**{f"{prefix}source_channel": self.channel})
        return q

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def months(self) -> list[date]:
        months, month = [], self.start.replace(day=1)
        while month <= self.end:
            months.append(month)
            month = (month + timedelta(days=32)).replace(day=1)
        return months

    def as_params(self) -> dict[str, Any]:
        params = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        if self.tier_id:
            params["tier"] = self.tier_id
        if self.city:
            params["city"] = self.city
        if self.channel:
            params["channel"] = self.channel
        return params


MAX_RANGE_DAYS = 732


def metric_filter_from(params: Any) -> MetricFilter:
    """A MetricFilter from query parameters (start, end as YYYY-MM-DD; tier id, city, channel); the last 90 days by default."""
    default = default_filter()
    try:
        start = date.fromisoformat(params.get("start")) if params.get("start") else default.start
        end = date.fromisoformat(params.get("end")) if params.get("end") else default.end
    except ValueError:
        raise ApplicationError(
            "invalid_date", _("Dates are written YYYY-MM-DD."), fields={"start": params.get("start"), "end": params.get("end")}
        ) from None
    if end < start:
        raise ApplicationError("invalid_range", _("The range ends before it starts."), fields={"end": end.isoformat()})
    if (end - start).days > MAX_RANGE_DAYS:
        raise ApplicationError("range_too_long", _("The range is at most two years."), fields={"start": start.isoformat()})
    tier = params.get("tier") or None
    if tier is not None and not str(tier).isdigit():
        raise ApplicationError("invalid_tier", _("The tier is given by its id."), fields={"tier": tier})
    channel = params.get("channel") or ""
    if channel and channel not in SourceChannel.values:
        raise ApplicationError("invalid_channel", _("Unknown channel."), fields={"channel": channel})
    return MetricFilter(start=start, end=end, tier_id=int(tier) if tier else None, city=(params.get("city") or "").strip(), channel=channel)


def local_today() -> date:
    return timezone.localtime(timezone.now(), local_zone()).date()


def default_filter() -> MetricFilter:
    today = local_today()
    return MetricFilter(start=today - timedelta(days=89), end=today)


def _ratio(numerator: Any, denominator: Any, places: str = "0.01") -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal(places))


def _percent(numerator: Any, denominator: Any) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.1"))


def _money(value: Any) -> Decimal:
    """Yuan with two places, whatever the database's sum returned (SQLite drops trailing zeros)."""
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _month_end(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)


@dataclass
class Figure:
    """A metric as a table: the dashboard draws it, the CSV export writes it, the API returns it."""

    name: str
    title: Any
    columns: list[Any]
    rows: list[list[Any]]
    headline: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, Decimal):
                return str(value)
            if isinstance(value, date):
                return value.isoformat()
            return value

        keys = [str(c) for c in self.columns]
        return {
            "name": self.name,
            "title": str(self.title),
            "columns": keys,
            "rows": [dict(zip(keys, [plain(v) for v in row], strict=True)) for row in self.rows],
            "headline": {k: plain(v) for k, v in self.headline.items()},
        }


# Activity ----------------------------------------------------------------------------------------


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
        rows.append([day, row.get("dau") or 0, row.get("new") or 0, row.get("purchases") or 0, _money(row.get("revenue"))])
    headline = {
        "dau_last_day": rows[-1][1] if rows else 0,
        "dau_average": _ratio(sum(r[1] for r in rows), len(rows), "0.1"),
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
        days_in = (min(_month_end(month), max(today, month)) - month).days + 1
        avg_dau = _ratio(dau.get(month) or 0, days_in, "0.1")
        mau = row.get("mau") or 0
        rows.append(
            [
                month,
                mau,
                avg_dau,
                _percent(dau.get(month) or 0, days_in * mau),
                row.get("purchasers") or 0,
                row.get("repeat") or 0,
                _percent(row.get("repeat") or 0, row.get("purchasers") or 0),
                _ratio(row.get("purchases") or 0, row.get("purchasers") or 0),
                _ratio(row.get("revenue") or 0, row.get("purchases") or 0),
            ]
        )
    total = {k: sum(periods.get(m, {}).get(k) or 0 for m in months) for k in ("purchasers", "repeat", "purchases", "revenue")}
    headline = {
        "mau": rows[-1][1] if rows else 0,
        "stickiness_percent": rows[-1][3] if rows else None,
        "purchases": total["purchases"],
        "revenue": _money(total["revenue"]),
        "aov": _ratio(total["revenue"], total["purchases"]),
        "purchase_frequency": _ratio(total["purchases"], total["purchasers"]),
        "repurchase_rate_percent": _percent(total["repeat"], total["purchasers"]),
    }
    columns = [_("month"), _("MAU"), _("average DAU"), _("stickiness %"), _("purchasers"), _("repeat purchasers")]
    columns += [_("repurchase rate %"), _("purchase frequency"), _("AOV")]
    return Figure("monthly", _("Monthly activity and purchases"), columns, rows, headline)


def _daily_sum_by_month(f: MetricFilter, months: list[date], column: str) -> dict[date, int]:
    """A daily roll-up column summed per month over ``months`` (first days), for the filter's slice."""
    return {
        row["m"]: row["total"]
        for row in DailyMetric.objects.filter(f.slice_q(), day__gte=months[0], day__lte=_month_end(months[-1]))
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
        "average_dau": _ratio(counts["member_days"], MAU_DAYS, "0.1"),
        "stickiness_percent": _percent(counts["member_days"], MAU_DAYS * counts["MAU"]),
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
                cells.append(_percent(active.get((cohort, month), 0), size))
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
    rows = [[label, count, _percent(count, members)] for label, count in steps]
    return Figure("funnel", _("Funnel, %(month)s") % {"month": month.strftime("%Y-%m")}, [_("step"), _("members"), _("% of members")], rows)


# Members, tiers, value ---------------------------------------------------------------------------


def tier_distribution(*, f: MetricFilter) -> Figure:
    """Members per tier, as of the last (nightly) scoring."""
    counts = dict(
        MemberSummary.objects.filter(f.slice_q()).values("tier_id").annotate(n=Sum("members")).values_list("tier_id", "n").order_by()
    )
    total = sum(counts.values())
    rows = [[tier.name, tier.pk, counts.get(tier.pk, 0), _percent(counts.get(tier.pk, 0), total)] for tier in Tier.objects.order_by("rank")]
    return Figure("tiers", _("Members by tier"), [_("tier"), _("tier id"), _("members"), _("share %")], rows, {"members": total})


def tier_movements(*, f: MetricFilter) -> Figure:
    changes = (
        TierChange.objects.filter(
            f.member_q("member__"), created_at__gte=day_start(f.start), created_at__lt=day_start(f.end + timedelta(days=1))
        )
        .exclude(kind=TierChangeKind.INITIAL)
        .annotate(m=TruncMonth("created_at", tzinfo=local_zone(), output_field=DateField()))
        .values("m", "kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts: dict[date, dict[str, int]] = defaultdict(dict)
    for row in changes:
        counts[row["m"]][row["kind"]] = row["n"]
    rows = [[m, counts[m].get(TierChangeKind.PROMOTION, 0), counts[m].get(TierChangeKind.DEMOTION, 0)] for m in f.months]
    return Figure("tier_movements", _("Promotions and demotions"), [_("month"), _("promotions"), _("demotions")], rows)


def ltv_by_tier(*, f: MetricFilter) -> Figure:
    """Lifetime revenue per member of each (current) tier, as of the last (nightly) scoring."""
    by_tier = {
        row["tier_id"]: row
        for row in MemberSummary.objects.filter(f.slice_q())
        .values("tier_id")
        .annotate(n=Sum("members"), revenue=Sum("lifetime_revenue"))
        .order_by()
    }
    rows = []
    for tier in Tier.objects.order_by("rank"):
        row = by_tier.get(tier.pk, {})
        rows.append([tier.name, row.get("n") or 0, _money(row.get("revenue")), _ratio(row.get("revenue") or 0, row.get("n") or 0)])
    return Figure("ltv", _("Lifetime value by tier"), [_("tier"), _("members scored"), _("lifetime revenue"), _("LTV")], rows)


def rfm_segments(*, f: MetricFilter) -> Figure:
    counts = dict(
        MemberSummary.objects.filter(f.slice_q()).values("segment").annotate(n=Sum("members")).values_list("segment", "n").order_by()
    )
    total = sum(counts.values())
    rows = [[label, value, counts.get(value, 0), _percent(counts.get(value, 0), total)] for value, label in RfmSegment.choices]
    return Figure("rfm", _("RFM segments"), [_("segment"), _("code"), _("members"), _("share %")], rows)


def points_summary(*, f: MetricFilter) -> Figure:
    """The points ledger over the range, programme-wide, as a statement that adds up:
    opening + issued − spent − expired ± adjusted ± reversed = closing. Adjustments and reversals are net
    (signed) figures on their own lines; each line sums the ledger, so nothing is counted twice."""
    range_start, range_end = day_start(f.start), day_start(f.end + timedelta(days=1))
    before = PointsEntry.objects.filter(created_at__lt=range_start)
    opening = before.aggregate(n=Coalesce(Sum("amount"), 0))["n"]
    entries = PointsEntry.objects.filter(created_at__gte=range_start, created_at__lt=range_end)
    by_kind = dict(entries.values("kind").annotate(n=Sum("amount")).values_list("kind", "n").order_by())
    kinds = PointsEntryKind
    issued = (by_kind.get(kinds.EARN) or 0) + (by_kind.get(kinds.MIGRATE) or 0)
    spent = -(by_kind.get(kinds.SPEND) or 0)
    expired = -(by_kind.get(kinds.EXPIRE) or 0)
    adjusted = by_kind.get(kinds.ADJUST) or 0
    reversed_ = by_kind.get(kinds.REVERSE) or 0
    closing = opening + issued - spent - expired + adjusted + reversed_
    outstanding = PointsAccount.objects.aggregate(n=Coalesce(Sum("balance"), 0))["n"]
    liability = points_cost(outstanding)
    rows = [
        [_("opening balance"), opening],
        [_("issued (earned and migrated)"), issued],
        [_("spent"), -spent],
        [_("expired"), -expired],
        [_("adjusted (net)"), adjusted],
        [_("reversed (net)"), reversed_],
        [_("closing balance"), closing],
    ]
    headline = {
        "opening": opening,
        "issued": issued,
        "spent": spent,
        "expired": expired,
        "adjusted": adjusted,
        "reversed": reversed_,
        "closing": closing,
        "outstanding": outstanding,
        "liability": liability,
    }
    return Figure("points", _("Points"), [_("figure"), _("points")], rows, headline)


def benefit_summary(*, f: MetricFilter) -> Figure:
    """Per benefit, grants issued in the range: redeemed, redemption rate, cost, value delivered, value density."""
    window = Q(grants__issued_at__gte=day_start(f.start), grants__issued_at__lt=day_start(f.end + timedelta(days=1)))
    benefits = Benefit.objects.annotate(
        issued=Count("grants", filter=window),
        redeemed=Count("grants", filter=window & Q(grants__state=GrantState.REDEEMED)),
        revoked=Count("grants", filter=window & Q(grants__state=GrantState.REVOKED)),
        cost=Coalesce(Sum("grants__cost", filter=window & ~Q(grants__state=GrantState.REVOKED)), Value(ZERO)),
    ).order_by("-issued", "pk")
    rows = []
    for b in benefits:
        if not b.issued:
            continue
        live = b.issued - b.revoked
        rows.append(
            [b.name, b.issued, b.redeemed, _percent(b.redeemed, live), _money(b.cost), _money(b.face_value * b.redeemed), b.value_density]
        )
    columns = [_("benefit"), _("issued"), _("redeemed"), _("redemption rate %"), _("cost"), _("value redeemed"), _("value density")]
    redeemed_in_range = Redemption.objects.filter(
        redeemed_at__gte=day_start(f.start), redeemed_at__lt=day_start(f.end + timedelta(days=1))
    ).count()
    headline = {
        "issued": sum(r[1] for r in rows),
        "redeemed": sum(r[2] for r in rows),
        "redemptions_in_range": redeemed_in_range,
        "cost": sum((r[4] for r in rows), ZERO),
    }
    return Figure("benefits", _("Benefits"), columns, rows, headline)


def event_summary(*, f: MetricFilter) -> Figure:
    """Events starting in the range: seats held ÷ capacity, attendance and no-show rates of those who held a seat."""
    states = RegistrationState
    events = (
        Event.objects.filter(starts_at__gte=day_start(f.start), starts_at__lt=day_start(f.end + timedelta(days=1)))
        .annotate(
            held=Count("registrations", filter=Q(registrations__state__in=[states.REGISTERED, states.ATTENDED, states.NO_SHOW])),
            attended=Count("registrations", filter=Q(registrations__state=states.ATTENDED)),
            no_show=Count("registrations", filter=Q(registrations__state=states.NO_SHOW)),
            waitlisted=Count("registrations", filter=Q(registrations__state=states.WAITLISTED)),
        )
        .order_by("starts_at", "pk")
    )
    rows = []
    for e in events:
        shown = e.attended + e.no_show
        rows.append(
            [
                e.title,
                timezone.localtime(e.starts_at, local_zone()).date(),
                e.capacity,
                e.held,
                _percent(e.held, e.capacity),
                e.attended,
                e.no_show,
                _percent(e.attended, shown),
                _percent(e.no_show, shown),
            ]
        )
    columns = [_("event"), _("day"), _("capacity"), _("registrations"), _("registration rate %"), _("attended"), _("no-shows")]
    columns += [_("attendance rate %"), _("no-show rate %")]
    attended, no_show = sum(r[5] for r in rows), sum(r[6] for r in rows)
    headline = {
        "registrations": sum(r[3] for r in rows),
        "attendance_rate_percent": _percent(attended, attended + no_show),
        "no_show_rate_percent": _percent(no_show, attended + no_show),
    }
    return Figure("events", _("Community events"), columns, rows, headline)


def _converted() -> Exists:
    """A purchase on a local day from the action's day to its ``until_day`` (member-day roll-up)."""
    return Exists(
        DailyMemberActivity.objects.filter(
            member_id=OuterRef("member_id"), purchases__gt=0, day__gte=OuterRef("action_day"), day__lte=OuterRef("until_day")
        )
    )


def campaign_summary(*, f: MetricFilter, window_days: int | None = None) -> Figure:
    """Campaigns with runs started in the range: reach, cost, conversion (a purchase within N days of the action),
    the same for the holdout group, uplift and cost per conversion."""
    window_days = window_days or settings.USEROPS_ANALYTICS["CONVERSION_WINDOW_DAYS"]
    runs = CampaignRun.objects.filter(
        dry_run=False, created_at__gte=day_start(f.start), created_at__lt=day_start(f.end + timedelta(days=1))
    )
    costs = dict(runs.values("campaign_id").annotate(c=Sum("cost")).values_list("campaign_id", "c").order_by())
    actions = CampaignAction.objects.filter(run__in=runs, outcome__in=[ActionOutcome.ACTED, ActionOutcome.HELD_OUT])
    counted = (
        actions.annotate(
            action_day=TruncDate("created_at", tzinfo=local_zone()),
            until_day=TruncDate(
                ExpressionWrapper(F("created_at") + Value(timedelta(days=window_days)), output_field=DateTimeField()), tzinfo=local_zone()
            ),
        )
        .annotate(converted=_converted())
        .values("campaign_id", "outcome")
        .annotate(n=Count("id"), conversions=Count("id", filter=Q(converted=True)))
        .order_by()
    )
    stats: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    for row in counted:
        stats[row["campaign_id"]][row["outcome"]] = (row["n"], row["conversions"])
    rows = []
    for campaign in Campaign.objects.filter(pk__in=costs.keys()).order_by("-pk"):
        reach, conversions = stats[campaign.pk].get(ActionOutcome.ACTED, (0, 0))
        held, held_conversions = stats[campaign.pk].get(ActionOutcome.HELD_OUT, (0, 0))
        rate, held_rate = _percent(conversions, reach), _percent(held_conversions, held)
        uplift = (rate - held_rate) if rate is not None and held_rate is not None else None
        cost = _money(costs.get(campaign.pk))
        rows.append([campaign.name, reach, cost, conversions, rate, held, held_rate, uplift, _ratio(cost, conversions)])
    columns = [_("campaign"), _("reach"), _("cost"), _("conversions"), _("conversion %"), _("holdout"), _("holdout conversion %")]
    columns += [_("uplift (points)"), _("cost per conversion")]
    return Figure("campaigns", _("Campaigns (conversion: a purchase within %(days)d days)") % {"days": window_days}, columns, rows)


FIGURES: dict[str, Callable[..., Figure]] = {
    "active": active_members,
    "daily": daily_activity,
    "weekly": weekly_activity,
    "monthly": monthly_activity,
    "cohorts": cohort_retention,
    "funnel": funnel,
    "nps": nps,
    "tiers": tier_distribution,
    "tier_movements": tier_movements,
    "ltv": ltv_by_tier,
    "rfm": rfm_segments,
    "points": points_summary,
    "benefits": benefit_summary,
    "events": event_summary,
    "campaigns": campaign_summary,
}


def figure(*, name: str, f: MetricFilter) -> Figure:
    return FIGURES[name](f=f)


def member_rfm_segment(*, member_id: int) -> str | None:
    """The member's RFM segment from the last nightly scoring, or None before the first."""
    score = RfmScore.objects.filter(member_id=member_id).first()
    return score.get_segment_display() if score else None


def member_last_activity(*, member_id: int) -> datetime | None:
    return ActivityEvent.objects.filter(member_id=member_id).order_by("-occurred_at").values_list("occurred_at", flat=True).first()
