"""Every change analytics makes: recording and ingesting activity (with purchase earning), the roll-ups, RFM scoring.

The roll-ups and the scoring are set-based SQL: Django compiles the inner SELECTs (so local-day arithmetic works on
PostgreSQL and on the embedded SQLite alike) and each is wrapped in one ``INSERT … SELECT``.
"""

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, DateField, Max, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce, TruncDate, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from apps.analytics.models import (
    OWN_SOURCE,
    ActivityChannel,
    ActivityEvent,
    ActivityKind,
    CohortActivity,
    DailyMemberActivity,
    DailyMetric,
    MemberSummary,
    PeriodKind,
    PeriodMetric,
    RfmScore,
    RollupState,
)
from apps.campaigns.services import referral_qualify
from apps.core.errors import ApplicationError
from apps.core.models import ApiClient
from apps.core.reasons import Reason
from apps.members import services as member_services
from apps.members.models import Member, MemberStatus

logger = logging.getLogger(__name__)

MAX_EVENT_ID_LENGTH = 128
FUTURE_TOLERANCE = timedelta(minutes=5)


def config(key: str) -> Any:
    return settings.USEROPS_ANALYTICS[key]


def local_zone() -> ZoneInfo:
    return ZoneInfo(config("TIME_ZONE"))


def day_start(day: date) -> datetime:
    """The UTC-aware instant a local day begins."""
    return datetime(day.year, day.month, day.day, tzinfo=local_zone())


# Recording ---------------------------------------------------------------------------------------


def activity_record(
    *,
    member_id: int,
    kind: str,
    event_id: str,
    occurred_at: datetime,
    source: str = OWN_SOURCE,
    channel: str = "",
    amount: Decimal | None = None,
    order_ref: str = "",
    nps_score: int | None = None,
) -> bool:
    """Store one activity event of our own services; False when ``(source, event_id)`` was already stored."""
    if kind not in ActivityKind.values:
        raise ApplicationError("invalid_kind", _("Unknown activity kind."), fields={"kind": kind})
    if channel and channel not in ActivityChannel.values:
        channel = ActivityChannel.OTHER
    event = ActivityEvent(
        member_id=member_id,
        kind=kind,
        event_id=event_id,
        source=source,
        occurred_at=occurred_at,
        channel=channel,
        amount=amount,
        order_ref=order_ref[:128],
        nps_score=nps_score,
    )
    return bool(_insert_new([event]))


def activity_record_announced(**event: Any) -> None:
    """The recorder registered with apps.core.activity: what benefits, events and campaigns announce."""
    with transaction.atomic():
        activity_record(**event)


def _insert_new(events: list[ActivityEvent]) -> dict[str, int]:
    """INSERT … ON CONFLICT (source, event_id) DO NOTHING RETURNING: the event ids actually stored, with their row ids.

    Concurrent batches carrying the same event cannot both see it as new, so purchase earning happens once.
    """
    if not events:
        return {}
    now = timezone.now()
    names = ["member", "kind", "occurred_at", "recorded_at", "source", "event_id", "amount", "order_ref", "channel", "nps_score"]
    fields = [ActivityEvent._meta.get_field(name) for name in names]
    rows, params = [], []
    for event in events:
        event.recorded_at = now
        rows.append("(" + ", ".join(["%s"] * len(fields)) + ")")
        params += [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    table = ActivityEvent._meta.db_table
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = f"INSERT INTO {table} ({columns}) VALUES {', '.join(rows)} ON CONFLICT (source, event_id) DO NOTHING RETURNING id, event_id"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {event_id: pk for pk, event_id in cursor.fetchall()}


# Ingestion ---------------------------------------------------------------------------------------


@dataclass
class IngestResult:
    created: int = 0
    duplicates: int = 0
    rejected: int = 0
    points_awarded: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "points_awarded": self.points_awarded,
            "items": self.items,
        }


class _InvalidItemError(Exception):
    def __init__(self, code: str, field_name: str, message: str) -> None:
        super().__init__(message)
        self.code, self.field_name, self.message = code, field_name, message


def _text(item: dict[str, Any], name: str, *, required: bool, max_length: int) -> str:
    value = item.get(name)
    if value in (None, ""):
        if required:
            raise _InvalidItemError("required", name, _("This field is required."))
        return ""
    if not isinstance(value, str) or len(value.strip()) > max_length:
        raise _InvalidItemError("invalid", name, _("Text of at most %(max)d characters is required.") % {"max": max_length})
    return value.strip()


def _occurred_at(item: dict[str, Any], now: datetime) -> datetime:
    value = item.get("occurred_at")
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise _InvalidItemError("invalid", "occurred_at", _("An ISO 8601 date and time is required, e.g. 2026-05-01T09:30:00+08:00."))
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=local_zone())
    if parsed > now + FUTURE_TOLERANCE:
        raise _InvalidItemError("in_future", "occurred_at", _("The event cannot happen in the future."))
    return parsed


def _amount(item: dict[str, Any], kind: str) -> Decimal | None:
    value = item.get("amount")
    if kind != ActivityKind.PURCHASE:
        if value not in (None, ""):
            raise _InvalidItemError("not_allowed", "amount", _("Only purchases carry an amount."))
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _InvalidItemError("required", "amount", _('A purchase needs an amount in yuan, e.g. "199.00".'))
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _InvalidItemError("invalid", "amount", _("The amount is not a number.")) from None
    if not amount.is_finite() or amount <= 0 or amount >= Decimal("10000000000") or amount != amount.quantize(Decimal("0.01")):
        raise _InvalidItemError("invalid", "amount", _("The amount must be positive, in yuan with at most two decimals."))
    return amount


def _nps(item: dict[str, Any], kind: str) -> int | None:
    value = item.get("nps_score")
    if kind != ActivityKind.SURVEY:
        if value is not None:
            raise _InvalidItemError("not_allowed", "nps_score", _("Only survey answers carry an NPS score."))
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise _InvalidItemError("invalid", "nps_score", _("A survey answer needs an NPS score from 0 to 10."))
    return value


def _resolve_members(items: list[Any]) -> tuple[dict[int, Member], dict[str, Member]]:
    ids = {i["member_id"] for i in items if isinstance(i, dict) and isinstance(i.get("member_id"), int)}
    external = {i["external_id"] for i in items if isinstance(i, dict) and isinstance(i.get("external_id"), str)}
    found = Member.objects.filter(Q(pk__in=ids) | Q(external_id__in=external)).only("pk", "external_id", "status")
    by_id = {m.pk: m for m in found}
    return by_id, {m.external_id: m for m in by_id.values() if m.external_id}


def _validate(item: Any, by_id: dict[int, Member], by_external: dict[str, Member], now: datetime, source: str) -> ActivityEvent:
    if not isinstance(item, dict):
        raise _InvalidItemError("invalid", "item", _("Each event must be an object."))
    event_id = _text(item, "event_id", required=True, max_length=MAX_EVENT_ID_LENGTH)
    kind = item.get("kind")
    if kind not in ActivityKind.values:
        raise _InvalidItemError("invalid", "kind", _("Unknown kind; one of: %(kinds)s.") % {"kinds": ", ".join(ActivityKind.values)})
    if item.get("member_id") is not None:
        member = by_id.get(item["member_id"]) if isinstance(item["member_id"], int) else None
        field_name = "member_id"
    else:
        member = by_external.get(item.get("external_id")) if isinstance(item.get("external_id"), str) else None
        field_name = "external_id" if item.get("external_id") is not None else "member_id"
    if member is None:
        raise _InvalidItemError("member_not_found", field_name, _("No member with this id."))
    channel = _text(item, "channel", required=False, max_length=20)
    if channel and channel not in ActivityChannel.values:
        raise _InvalidItemError(
            "invalid", "channel", _("Unknown channel; one of: %(channels)s.") % {"channels": ", ".join(ActivityChannel.values)}
        )
    return ActivityEvent(
        member=member,
        kind=kind,
        event_id=event_id,
        source=source,
        occurred_at=_occurred_at(item, now),
        amount=_amount(item, kind),
        nps_score=_nps(item, kind),
        channel=channel,
        order_ref=_text(item, "order_ref", required=False, max_length=128),
    )


def source_of(client: ApiClient) -> str:
    return f"client:{client.pk}"


@transaction.atomic
def activity_ingest_batch(*, items: Any, client: ApiClient) -> IngestResult:
    """Validate and store up to MAX_BATCH events reported by ``client``; each is stored at most once.

    Invalid items are reported with their index, field and reason, and the valid ones are stored. A newly stored
    purchase earns points and growth value for an active member (see ``purchase_earn``); a retried event earns nothing.
    """
    if not isinstance(items, list) or not items:
        raise ApplicationError("invalid_batch", _("Send a non-empty list of events."), fields={"events": "required"})
    if len(items) > config("MAX_BATCH"):
        raise ApplicationError(
            "batch_too_large", _("At most %(max)d events per batch.") % {"max": config("MAX_BATCH")}, fields={"events": len(items)}
        )
    now = timezone.now()
    source = source_of(client)
    by_id, by_external = _resolve_members(items)
    result = IngestResult()
    valid: list[tuple[int, ActivityEvent]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        try:
            event = _validate(item, by_id, by_external, now, source)
        except _InvalidItemError as problem:
            result.rejected += 1
            event_id = item.get("event_id") if isinstance(item, dict) else None
            result.items.append(
                {
                    "index": index,
                    "event_id": event_id,
                    "status": "rejected",
                    "code": problem.code,
                    "fields": {problem.field_name: problem.message},
                }
            )
            continue
        if event.event_id in seen:
            result.duplicates += 1
            result.items.append({"index": index, "event_id": event.event_id, "status": "duplicate"})
            continue
        seen.add(event.event_id)
        valid.append((index, event))
    stored = _insert_new([event for _index, event in valid])
    for index, event in valid:
        if event.event_id not in stored:
            result.duplicates += 1
            result.items.append({"index": index, "event_id": event.event_id, "status": "duplicate"})
            continue
        result.created += 1
        answer: dict[str, Any] = {"index": index, "event_id": event.event_id, "status": "created"}
        if event.kind == ActivityKind.PURCHASE:
            earned = purchase_earn(
                member=event.member,
                amount=event.amount,
                event_pk=stored[event.event_id],
                source=source,
                event_id=event.event_id,
                client=client,
            )
            answer["points"] = earned
            result.points_awarded += earned
        result.items.append(answer)
    result.items.sort(key=lambda answer: answer["index"])
    return result


def purchase_points(*, amount: Decimal, multiplier: Decimal) -> tuple[int, int]:
    """Points (amount × points per yuan × tier multiplier) and growth value (amount × growth per yuan), rounded down."""
    points = int((amount * Decimal(config("POINTS_PER_YUAN")) * multiplier).to_integral_value(rounding=ROUND_DOWN))
    growth = int((amount * Decimal(config("GROWTH_PER_YUAN"))).to_integral_value(rounding=ROUND_DOWN))
    return points, growth


def purchase_earn(*, member: Member, amount: Decimal, event_pk: int, source: str, event_id: str, client: ApiClient | None) -> int:
    """Earn points and growth value for a newly stored purchase, through the members services; 0 when the member
    is not active. A member's first purchase also qualifies a pending referral when the programme says so."""
    member = Member.objects.select_related("tier").get(pk=member.pk)
    if member.status != MemberStatus.ACTIVE:
        return 0
    points, growth = purchase_points(amount=amount, multiplier=member.tier.points_multiplier)
    reason = Reason("purchase")
    source_ref = f"purchase:{source}:{event_id}"[:128]
    try:
        with transaction.atomic():
            if points > 0:
                member_services.points_earn(member=member, amount=points, reason=reason, source_ref=source_ref, client=client)
            if growth > 0:
                member_services.growth_add(member=member, amount=growth, reason=reason, source_ref=source_ref)
    except ApplicationError as exc:
        logger.warning("purchase %s earned nothing: %s", event_id, exc)
        return 0
    first = not ActivityEvent.objects.filter(member=member, kind=ActivityKind.PURCHASE, pk__lt=event_pk).exists()
    if first and "first_purchase" in settings.USEROPS_REFERRALS["QUALIFYING_ACTIONS"]:
        try:
            with transaction.atomic():
                referral_qualify(referee=member, action="first_purchase")
        except ApplicationError as exc:
            logger.warning("referral of member %s not qualified: %s", member.pk, exc)
    return max(points, 0)


# Roll-ups ----------------------------------------------------------------------------------------


def _insert_select(model: type, columns: list[str], sql: str, params: Any, suffix: str = "") -> int:
    table = model._meta.db_table
    names = ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} ({names}) {sql} {suffix}", params)
        return cursor.rowcount


def _compiled(queryset: QuerySet) -> tuple[str, tuple]:
    return queryset.query.sql_with_params()


def _local_day(expression: str) -> TruncDate:
    return TruncDate(expression, tzinfo=local_zone())


def _days_range_filter(name: str, days: list[date]) -> Q:
    return Q(**{f"{name}__gte": day_start(min(days)), f"{name}__lt": day_start(max(days) + timedelta(days=1))})


def _rebuild_member_days(days: list[date]) -> None:
    DailyMemberActivity.objects.filter(day__in=days).delete()
    survey = Q(kind=ActivityKind.SURVEY)
    rows = (
        ActivityEvent.objects.filter(_days_range_filter("occurred_at", days))
        .annotate(d=_local_day("occurred_at"))
        .filter(d__in=days)
        .values("d", "member_id", "member__tier_id", "member__city", "member__source_channel")
        .annotate(
            n_events=Count("id"),
            n_purchases=Count("id", filter=Q(kind=ActivityKind.PURCHASE)),
            n_revenue=Coalesce(Sum("amount", filter=Q(kind=ActivityKind.PURCHASE)), Value(Decimal("0"))),
            n_redemptions=Count("id", filter=Q(kind=ActivityKind.BENEFIT_REDEMPTION)),
            n_attendances=Count("id", filter=Q(kind=ActivityKind.EVENT_ATTENDANCE)),
            n_referrals=Count("id", filter=Q(kind=ActivityKind.REFERRAL)),
            n_promoters=Count("id", filter=survey & Q(nps_score__gte=9)),
            n_passives=Count("id", filter=survey & Q(nps_score__gte=7, nps_score__lte=8)),
            n_detractors=Count("id", filter=survey & Q(nps_score__lte=6)),
        )
        .order_by()
    )
    columns = ["day", "member", "tier_id", "city", "channel", "events", "purchases", "revenue", "redemptions", "attendances"]
    columns += ["referrals", "promoters", "passives", "detractors"]
    _insert_select(DailyMemberActivity, columns, *_compiled(rows))


DAILY_SUMS = ["events", "purchases", "revenue", "redemptions", "attendances", "referrals", "promoters", "passives", "detractors"]


def _rebuild_daily_metrics(days: list[date]) -> None:
    DailyMetric.objects.filter(day__in=days).delete()
    activity = (
        DailyMemberActivity.objects.filter(day__in=days)
        .values("day", "tier_id", "city", "channel")
        .annotate(
            n_active=Count("id"),
            n_new=Value(0),
            n_purchasers=Count("id", filter=Q(purchases__gt=0)),
            **{f"n_{name}": Sum(name) for name in DAILY_SUMS},
        )
        .order_by()
    )
    columns = ["day", "tier_id", "city", "channel", "active_members", "new_members", "purchasers", *DAILY_SUMS]
    _insert_select(DailyMetric, columns, *_compiled(activity))
    joined = (
        Member.objects.filter(_days_range_filter("joined_at", days))
        .annotate(d=_local_day("joined_at"))
        .filter(d__in=days)
        .values("d", "tier_id", "city", "source_channel")
        .annotate(n_new=Count("id"))
        .order_by()
    )
    _insert_select(
        DailyMetric,
        ["day", "tier_id", "city", "channel", "new_members"],
        *_compiled(joined),
        suffix="ON CONFLICT (day, tier_id, city, channel) DO UPDATE SET new_members = excluded.new_members",
    )


def _period_start(day: date, kind: str) -> date:
    return day - timedelta(days=day.weekday()) if kind == PeriodKind.WEEK else day.replace(day=1)


def _period_end(start: date, kind: str) -> date:
    if kind == PeriodKind.WEEK:
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


def _member_periods(kind: str, starts: list[date]) -> QuerySet:
    """One row per member and period: its slice (the greatest of the period, deterministic), days, purchases, revenue."""
    trunc = TruncWeek("day") if kind == PeriodKind.WEEK else TruncMonth("day")
    return (
        DailyMemberActivity.objects.filter(day__gte=min(starts), day__lt=_period_end(max(starts), kind))
        .annotate(p=trunc)
        .filter(p__in=starts)
        .values("p", "member_id")
        .annotate(
            s_tier=Max("tier_id"),
            s_city=Max("city"),
            s_channel=Max("channel"),
            s_purchases=Sum("purchases"),
            s_revenue=Sum("revenue"),
            s_joined=TruncMonth("member__joined_at", tzinfo=local_zone(), output_field=DateField()),
        )
        .order_by()
    )


def _rebuild_periods(days: list[date]) -> None:
    for kind in PeriodKind.values:
        starts = sorted({_period_start(day, kind) for day in days})
        PeriodMetric.objects.filter(kind=kind, start__in=starts).delete()
        inner, params = _compiled(_member_periods(kind, starts))
        sql = f"""
            SELECT %s, x.p, x.s_tier, x.s_city, x.s_channel, COUNT(*),
                   SUM(CASE WHEN x.s_purchases > 0 THEN 1 ELSE 0 END), SUM(CASE WHEN x.s_purchases > 1 THEN 1 ELSE 0 END),
                   SUM(x.s_purchases), SUM(x.s_revenue)
            FROM ({inner}) x GROUP BY x.p, x.s_tier, x.s_city, x.s_channel"""  # noqa: S608
        columns = [
            "kind",
            "start",
            "tier_id",
            "city",
            "channel",
            "active_members",
            "purchasers",
            "repeat_purchasers",
            "purchases",
            "revenue",
        ]
        _insert_select(PeriodMetric, columns, sql, (kind, *params))
        if kind == PeriodKind.MONTH:
            CohortActivity.objects.filter(month__in=starts).delete()
            sql = f"""
                SELECT x.s_joined, x.p, x.s_tier, x.s_city, x.s_channel, COUNT(*)
                FROM ({inner}) x GROUP BY x.s_joined, x.p, x.s_tier, x.s_city, x.s_channel"""  # noqa: S608
            _insert_select(CohortActivity, ["cohort", "month", "tier_id", "city", "channel", "active_members"], sql, params)


def _touched_days(since: datetime | None) -> list[date]:
    """Local days with events recorded (or members created) after ``since``; every such day when ``since`` is None."""
    events = ActivityEvent.objects.all() if since is None else ActivityEvent.objects.filter(recorded_at__gt=since)
    members = Member.objects.all() if since is None else Member.objects.filter(created_at__gt=since)
    days = set(events.annotate(d=_local_day("occurred_at")).values_list("d", flat=True).distinct().order_by())
    days |= set(members.annotate(d=_local_day("joined_at")).values_list("d", flat=True).distinct().order_by())
    return sorted(day for day in days if day is not None)


@dataclass(frozen=True)
class RollupResult:
    days: list[date]
    watermark: datetime


def rollup_days(*, days: list[date]) -> None:
    """Rebuild the roll-ups of these local days (and of their weeks and months), in one transaction."""
    if not days:
        return
    days = sorted(set(days))
    with transaction.atomic():
        _rebuild_member_days(days)
        _rebuild_daily_metrics(days)
        _rebuild_periods(days)


def rollup_run(*, now: datetime | None = None, full: bool = False, chunk_days: int = 31) -> RollupResult:
    """The incremental roll-up: rebuild only the days that events recorded since the last run (late ones included)
    fall on. Safe to re-run and to run twice at once (the state row is locked); ``full`` rebuilds every day.

    The watermark is read back by ``ROLLUP_OVERLAP_MINUTES`` so that an event committed a little after its
    ``recorded_at`` is still seen; re-reading is harmless because each day is rebuilt whole.
    """
    now = now or timezone.now()
    RollupState.objects.get_or_create(name="activity")
    with transaction.atomic():
        state = RollupState.objects.select_for_update().get(name="activity")
        since = None if full or state.watermark is None else state.watermark - timedelta(minutes=config("ROLLUP_OVERLAP_MINUTES"))
        days = _touched_days(since)
        if full:
            DailyMemberActivity.objects.all().delete()
            DailyMetric.objects.all().delete()
            PeriodMetric.objects.all().delete()
            CohortActivity.objects.all().delete()
        # Days are rebuilt a month at a time (weeks and months are re-aggregated whole from the member-day rows), all in
        # this one transaction: readers keep seeing the previous roll-up until it commits.
        for start in range(0, len(days), chunk_days):
            rollup_days(days=days[start : start + chunk_days])
        state.watermark = now
        state.finished_at = timezone.now()
        state.days_rebuilt = len(days)
        state.save()
    return RollupResult(days=days, watermark=now)


# RFM ---------------------------------------------------------------------------------------------

SEGMENT_CASE = """
    CASE
        WHEN s.member_id IS NULL THEN 'no_purchase'
        WHEN s.r >= 4 AND s.f >= 4 AND s.m >= 4 THEN 'champions'
        WHEN s.r >= 3 AND s.f >= 3 THEN 'loyal'
        WHEN s.r >= 4 AND s.f = 1 THEN 'new'
        WHEN s.r >= 3 THEN 'potential'
        WHEN s.f >= 3 THEN 'at_risk'
        WHEN s.r = 2 THEN 'hibernating'
        ELSE 'lost'
    END"""


def rfm_score_members(*, now: datetime | None = None, window_days: int | None = None) -> int:
    """Score every member in one set-based statement: quintiles (NTILE(5)) of last purchase day, number of purchases
    and revenue over the window, read from the member-day roll-up. Tied values share the lowest quintile they span,
    so two members with the same figure always get the same score. Members without a purchase in the window get
    1/1/1 and the segment ``no_purchase``. Replaces every score in one transaction; returns the members scored.
    """
    now = now or timezone.now()
    window_days = window_days or config("RFM_WINDOW_DAYS")
    today = timezone.localtime(now, local_zone()).date()
    window = (
        DailyMemberActivity.objects.filter(day__gt=today - timedelta(days=window_days), day__lte=today, purchases__gt=0)
        .values("member_id")
        .annotate(last=Max("day"), freq=Sum("purchases"), money=Sum("revenue"))
        .order_by()
    )
    lifetime = (
        DailyMemberActivity.objects.filter(day__lte=today)
        .values("member_id")
        .annotate(last_active=Max("day"), total=Sum("revenue"))
        .order_by()
    )
    window_sql, window_params = _compiled(window)
    lifetime_sql, lifetime_params = _compiled(lifetime)
    ranked = f"""
        SELECT w.member_id, w.last, w.freq, w.money,
               NTILE(5) OVER (ORDER BY w.last, w.member_id) AS r0,
               NTILE(5) OVER (ORDER BY w.freq, w.member_id) AS f0,
               NTILE(5) OVER (ORDER BY w.money, w.member_id) AS m0
        FROM ({window_sql}) w"""  # noqa: S608
    scored = f"""
        SELECT q.member_id, q.last, q.freq, q.money,
               MIN(q.r0) OVER (PARTITION BY q.last) AS r,
               MIN(q.f0) OVER (PARTITION BY q.freq) AS f,
               MIN(q.m0) OVER (PARTITION BY q.money) AS m
        FROM ({ranked}) q"""  # noqa: S608
    member_table = Member._meta.db_table
    sql = f"""
        SELECT mm.id, COALESCE(s.r, 1), COALESCE(s.f, 1), COALESCE(s.m, 1), {SEGMENT_CASE},
               s.last, COALESCE(s.freq, 0), COALESCE(s.money, 0), COALESCE(l.total, 0), l.last_active, %s
        FROM {member_table} mm
        LEFT JOIN ({scored}) s ON s.member_id = mm.id
        LEFT JOIN ({lifetime_sql}) l ON l.member_id = mm.id
        WHERE 1 = 1"""  # noqa: S608
    columns = ["member", "recency", "frequency", "monetary", "segment", "last_purchase_day", "purchases", "revenue"]
    columns += ["lifetime_revenue", "last_active_day", "scored_at"]
    scored_at = RfmScore._meta.get_field("scored_at").get_db_prep_save(now, connection)
    summary = (
        RfmScore.objects.values("member__tier_id", "member__city", "member__source_channel", "segment")
        .annotate(n=Count("member_id"), total=Sum("lifetime_revenue"))
        .order_by()
    )
    with transaction.atomic():
        RfmScore.objects.all().delete()
        scored = _insert_select(RfmScore, columns, sql, (scored_at, *window_params, *lifetime_params))
        MemberSummary.objects.all().delete()
        _insert_select(MemberSummary, ["tier_id", "city", "channel", "segment", "members", "lifetime_revenue"], *_compiled(summary))
        return scored
