"""Reads of lifecycle: a member's stages and history, and the journey analytics (funnel, movements, lifecycle
distribution and flows, the dealer league table) that the back office pages and the API share.

Periods are local days of the analytics time zone, ``start`` included and ``end`` included. docs/lifecycle.md defines
each figure.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.analytics.days import day_start, local_zone
from apps.analytics.models import ActivityKind
from apps.analytics.selectors import Figure
from apps.core.errors import ApplicationError
from apps.lifecycle.models import JourneyStage, LifecycleStage, MemberStage, StageChange, StageDimension
from apps.members.models import Member, MemberStatus
from apps.members.timeline import TimelineItem, TimelineRow

FUNNEL_DIMENSIONS = {
    "dealer": gettext_lazy("Dealer"),
    "city": gettext_lazy("City"),
    "channel": gettext_lazy("Channel"),
    "month": gettext_lazy("Month"),
}
# The kinds that bring a person into the funnel (its first step, "prospect").
FUNNEL_ENTRY_KINDS = [
    ActivityKind.LEAD_CREATED,
    ActivityKind.TEST_DRIVE_BOOKED,
    ActivityKind.TEST_DRIVE_COMPLETED,
    ActivityKind.ORDER_PLACED,
    ActivityKind.DELIVERED,
]
# What counts as a dealer answering a lead: the next journey event of that person at that dealer.
LEAD_FOLLOW_UP_KINDS = [
    ActivityKind.TEST_DRIVE_BOOKED,
    ActivityKind.TEST_DRIVE_COMPLETED,
    ActivityKind.ORDER_PLACED,
    ActivityKind.DELIVERED,
    ActivityKind.SERVICE_VISIT,
]
MAX_PERIOD_DAYS = 3 * 366
TIMELINE_SOURCE = "stages"


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    dimension: str = "dealer"

    @property
    def start_at(self) -> datetime:
        return day_start(self.start)

    @property
    def end_before(self) -> datetime:
        return day_start(self.end + timedelta(days=1))

    def as_params(self) -> dict[str, str]:
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "dimension": self.dimension}


def default_period() -> Period:
    today = timezone.now().astimezone(local_zone()).date()
    first = today.replace(day=1)
    for _month in range(5):
        first = (first - timedelta(days=1)).replace(day=1)
    return Period(start=first, end=today)


def period_from(params: Mapping[str, Any]) -> Period:
    """A period from query parameters; a bad one is refused naming the parameter."""
    default = default_period()
    values = {}
    for name in ("start", "end"):
        raw = params.get(name) or ""
        try:
            values[name] = date.fromisoformat(raw) if raw else getattr(default, name)
        except ValueError:
            raise ApplicationError(
                "invalid_period", _("%(name)s must be a date (YYYY-MM-DD).") % {"name": name}, fields={name: raw}
            ) from None
    dimension = params.get("dimension") or default.dimension
    if dimension not in FUNNEL_DIMENSIONS:
        raise ApplicationError(
            "invalid_dimension",
            _("dimension must be one of: %(choices)s.") % {"choices": ", ".join(FUNNEL_DIMENSIONS)},
            fields={"dimension": dimension},
        )
    if values["end"] < values["start"]:
        raise ApplicationError("invalid_period", _("end must not be before start."), fields={"end": values["end"].isoformat()})
    if (values["end"] - values["start"]).days > MAX_PERIOD_DAYS:
        raise ApplicationError(
            "invalid_period",
            _("A period may cover at most %(days)d days.") % {"days": MAX_PERIOD_DAYS},
            fields={"start": values["start"].isoformat()},
        )
    return Period(start=values["start"], end=values["end"], dimension=dimension)


def _rows(sql: str, params: Mapping[str, Any]) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _days(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


# A member's stages --------------------------------------------------------------------------------------------------


def member_stages(member: Member) -> dict[str, Any]:
    """The two stages with their since, as the profile panel and /me/ show them (a member not staged yet: the defaults)."""
    row = MemberStage.objects.filter(member=member).first()
    if row is None:
        return {
            "journey_stage": JourneyStage.PROSPECT.value,
            "journey_stage_label": str(JourneyStage.PROSPECT.label),
            "journey_stage_since": member.joined_at.isoformat(),
            "lifecycle_stage": LifecycleStage.NEW.value,
            "lifecycle_stage_label": str(LifecycleStage.NEW.label),
            "lifecycle_stage_since": member.joined_at.isoformat(),
        }
    return {
        "journey_stage": row.journey_stage,
        "journey_stage_label": str(row.get_journey_stage_display()),
        "journey_stage_since": row.journey_stage_since.isoformat(),
        "lifecycle_stage": row.lifecycle_stage,
        "lifecycle_stage_label": str(row.get_lifecycle_stage_display()),
        "lifecycle_stage_since": row.lifecycle_stage_since.isoformat(),
    }


STAGE_LABELS = {
    StageDimension.JOURNEY: dict(JourneyStage.choices),
    StageDimension.LIFECYCLE: dict(LifecycleStage.choices),
}
OWN_REASONS = {
    "lifecycle_nightly": gettext_lazy("Nightly lifecycle staging"),
    "member_merge": gettext_lazy("Member merge"),
}


def stage_label(dimension: str, stage: str) -> Any:
    return STAGE_LABELS.get(dimension, {}).get(stage, stage)


def stage_change_reason(reason: str) -> Any:
    """A stored reason in the reader's language: the activity kind that moved the stage, or one of our own codes."""
    if reason in OWN_REASONS:
        return OWN_REASONS[reason]
    if reason in ActivityKind.values:
        return ActivityKind(reason).label
    return reason


def stage_timeline(rows: Sequence[TimelineRow]) -> list[TimelineItem]:
    """A page of the member's stage changes as timeline items."""
    return [
        row.item(
            kind=f"{row['dimension']}_stage",
            title=_("%(dimension)s: %(from)s → %(to)s")
            % {
                "dimension": StageDimension(row["dimension"]).label,
                "from": stage_label(row["dimension"], row["from_stage"]) if row["from_stage"] else "—",
                "to": stage_label(row["dimension"], row["to_stage"]),
            },
            detail=str(stage_change_reason(row["reason"])),
            data={"dimension": row["dimension"], "from": row["from_stage"], "to": row["to_stage"]},
        )
        for row in rows
    ]


STAGE_CHANGE_COLUMNS = {"dimension": "dimension", "from_stage": "from_stage", "to_stage": "to_stage", "reason": "reason"}


def member_stage_data(member: Member) -> dict[str, Any]:
    """What lifecycle holds about one member, for the PIPL data export."""
    return {
        "current": member_stages(member),
        "history": [
            {
                "dimension": change.dimension,
                "from": change.from_stage,
                "to": change.to_stage,
                "at": change.changed_at.isoformat(),
                "reason": change.reason,
            }
            for change in StageChange.objects.filter(member=member).order_by("changed_at", "id")
        ],
    }


# Journey analytics --------------------------------------------------------------------------------------------------


def journey_funnel(*, period: Period) -> Figure:
    """Prospect → test drive → order → delivery per dealer, city, channel or month of entry.

    A person enters the funnel with their first journey event in the period (per dealer or channel, their first there);
    each step counts those who reached it, its conversion is the share of the previous step's people who reached it too,
    and the median days are between a person's first time at the previous step and their first time at this one.
    """
    keys = {
        "dealer": "COALESCE(e.properties->>'dealer', '')",
        "channel": "e.channel",
        "city": "m.city",
        "month": "''",
    }
    final_key = "to_char(entered AT TIME ZONE %(time_zone)s, 'YYYY-MM')" if period.dimension == "month" else "key"
    sql = f"""
        WITH per AS (
            SELECT e.member_id, {keys[period.dimension]} AS key,
                   min(e.occurred_at) AS entered,
                   min(e.occurred_at) FILTER (WHERE e.kind = 'test_drive_completed') AS test_drive,
                   min(e.occurred_at) FILTER (WHERE e.kind = 'order_placed') AS ordered,
                   min(e.occurred_at) FILTER (WHERE e.kind = 'delivered') AS delivered
            FROM analytics_activityevent e JOIN members_member m ON m.id = e.member_id
            WHERE e.kind = ANY(%(kinds)s)
            GROUP BY 1, 2
        )
        SELECT {final_key} AS key,
               count(*),
               count(test_drive),
               count(ordered) FILTER (WHERE test_drive IS NOT NULL),
               count(ordered),
               count(delivered) FILTER (WHERE ordered IS NOT NULL),
               count(delivered),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM test_drive - entered) / 86400),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ordered - test_drive) / 86400),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM delivered - ordered) / 86400)
        FROM per
        WHERE entered >= %(start)s AND entered < %(end)s
        GROUP BY 1
        ORDER BY 1
    """  # noqa: S608 (the key expressions are ours, chosen by a checked dimension)
    params = {
        "kinds": [str(kind) for kind in FUNNEL_ENTRY_KINDS],
        "start": period.start_at,
        "end": period.end_before,
        "time_zone": local_zone().key,
    }
    figure = Figure(
        name="funnel",
        title=_("Journey funnel: prospect → test drive → order → delivery"),
        rows=[],
        columns=[
            FUNNEL_DIMENSIONS[period.dimension],
            _("Prospects"),
            _("Test drives"),
            _("Prospect → test drive %"),
            _("Orders"),
            _("Test drive → order %"),
            _("Deliveries"),
            _("Order → delivery %"),
            _("Median days to test drive"),
            _("Median days test drive → order"),
            _("Median days order → delivery"),
        ],
    )
    for key, prospects, test_drives, ordered_after_drive, orders, delivered_after_order, deliveries, d1, d2, d3 in _rows(sql, params):
        figure.rows.append(
            [
                key or "—",
                prospects,
                test_drives,
                _rate(test_drives, prospects),
                orders,
                _rate(ordered_after_drive, test_drives),
                deliveries,
                _rate(delivered_after_order, orders),
                _days(d1),
                _days(d2),
                _days(d3),
            ]
        )
    return figure


def stage_movements(*, period: Period, dimension: str = StageDimension.JOURNEY) -> Figure:
    """How many people moved into each stage per month of the period (one row per month, one column per stage)."""
    stages = JourneyStage if dimension == StageDimension.JOURNEY else LifecycleStage
    rows = _rows(
        """
        SELECT to_char(changed_at AT TIME ZONE %(time_zone)s, 'YYYY-MM') AS month, to_stage, count(*)
        FROM lifecycle_stagechange
        WHERE dimension = %(dimension)s AND changed_at >= %(start)s AND changed_at < %(end)s
        GROUP BY 1, 2 ORDER BY 1
        """,
        {"dimension": str(dimension), "start": period.start_at, "end": period.end_before, "time_zone": local_zone().key},
    )
    by_month: dict[str, dict[str, int]] = {}
    for month, stage, count in rows:
        by_month.setdefault(month, {})[stage] = count
    figure = Figure(
        name=f"{dimension}_movements",
        title=_("Moves into each journey stage by month")
        if dimension == StageDimension.JOURNEY
        else _("Moves into each lifecycle stage by month"),
        columns=[_("Month"), *[stage.label for stage in stages]],
        rows=[],
    )
    for month, counts in by_month.items():
        figure.rows.append([month, *[counts.get(stage.value, 0) for stage in stages]])
    return figure


def stage_distribution(*, dimension: str) -> Figure:
    """How many enrolled members stand in each stage now (a member not staged yet counts in the first stage)."""
    stages, column, default = (
        (JourneyStage, "journey_stage", JourneyStage.PROSPECT)
        if dimension == StageDimension.JOURNEY
        else (LifecycleStage, "lifecycle_stage", LifecycleStage.NEW)
    )
    counts = dict(
        _rows(
            f"""
            SELECT COALESCE(s.{column}, %(default)s), count(*)
            FROM members_member m LEFT JOIN lifecycle_memberstage s ON s.member_id = m.id
            WHERE m.status <> %(closed)s
            GROUP BY 1
            """,  # noqa: S608 (the column is ours)
            {"default": str(default), "closed": MemberStatus.CLOSED},
        )
    )
    total = sum(counts.values())
    figure = Figure(
        name=f"{dimension}_distribution",
        title=_("Journey stages now") if dimension == StageDimension.JOURNEY else _("Lifecycle stages now"),
        columns=[_("Stage"), _("Members"), _("Share %")],
        rows=[],
    )
    for stage in stages:
        figure.rows.append([stage.label, counts.get(stage.value, 0), _rate(counts.get(stage.value, 0), total)])
    return figure


def lifecycle_flows(*, period: Period) -> Figure:
    """Lifecycle moves in the period, from → to, most frequent first (growing → mature, mature → dormant …)."""
    rows = _rows(
        """
        SELECT from_stage, to_stage, count(*) FROM lifecycle_stagechange
        WHERE dimension = 'lifecycle' AND changed_at >= %(start)s AND changed_at < %(end)s
        GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2
        """,
        {"start": period.start_at, "end": period.end_before},
    )
    figure = Figure(
        name="lifecycle_flows", title=_("Lifecycle flows in the period"), columns=[_("From stage"), _("To stage"), _("Members")], rows=[]
    )
    for from_stage, to_stage, count in rows:
        figure.rows.append(
            [
                stage_label(StageDimension.LIFECYCLE, from_stage) if from_stage else "—",
                stage_label(StageDimension.LIFECYCLE, to_stage),
                count,
            ]
        )
    return figure


def dealer_league(*, period: Period) -> Figure:
    """Dealers (by the code their events carry) on process metrics over the period.

    Lead response: hours from a lead to that person's next journey event at the same dealer (median; a lead not yet
    followed up counts as unanswered). Test-drive-to-order: the share of people who completed a test drive at the dealer
    in the period who placed an order there (at any time after). Satisfaction: average NPS answer and the NPS (promoters
    minus detractors, %) of survey events naming the dealer.
    """
    rows = _rows(
        """
        WITH ev AS (
            SELECT member_id, kind, occurred_at, properties->>'dealer' AS dealer, nps_score
            FROM analytics_activityevent
            WHERE occurred_at >= %(start)s AND occurred_at < %(end)s AND properties ? 'dealer'
              AND kind = ANY(%(kinds)s)
        ),
        leads AS (
            SELECT l.dealer,
                   (SELECT min(n.occurred_at) FROM analytics_activityevent n
                    WHERE n.member_id = l.member_id AND n.properties->>'dealer' = l.dealer
                      AND n.kind = ANY(%(follow_ups)s) AND n.occurred_at > l.occurred_at) - l.occurred_at AS response
            FROM ev l WHERE l.kind = 'lead_created'
        ),
        lead_figures AS (
            SELECT dealer, count(*) AS leads, count(response) AS answered,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM response) / 3600) AS response_hours
            FROM leads GROUP BY dealer
        ),
        drives AS (
            SELECT d.dealer, count(DISTINCT d.member_id) AS drivers,
                   count(DISTINCT d.member_id) FILTER (WHERE EXISTS (
                       SELECT 1 FROM analytics_activityevent o
                       WHERE o.member_id = d.member_id AND o.kind = 'order_placed'
                         AND o.properties->>'dealer' = d.dealer AND o.occurred_at >= d.occurred_at)) AS buyers
            FROM ev d WHERE d.kind = 'test_drive_completed' GROUP BY d.dealer
        ),
        surveys AS (
            SELECT dealer, count(*) AS answers, avg(nps_score) AS average,
                   100.0 * (count(*) FILTER (WHERE nps_score >= 9) - count(*) FILTER (WHERE nps_score <= 6)) / count(*) AS nps
            FROM ev WHERE kind = 'survey' AND nps_score IS NOT NULL GROUP BY dealer
        ),
        orders AS (
            SELECT dealer, count(*) FILTER (WHERE kind = 'order_placed') AS orders,
                   count(*) FILTER (WHERE kind = 'delivered') AS deliveries
            FROM ev GROUP BY dealer
        )
        SELECT o.dealer, COALESCE(l.leads, 0), COALESCE(l.answered, 0), l.response_hours,
               COALESCE(d.drivers, 0), COALESCE(d.buyers, 0), o.orders, o.deliveries,
               COALESCE(s.answers, 0), s.average, s.nps
        FROM orders o
        LEFT JOIN lead_figures l ON l.dealer = o.dealer
        LEFT JOIN drives d ON d.dealer = o.dealer
        LEFT JOIN surveys s ON s.dealer = o.dealer
        ORDER BY d.buyers::float / NULLIF(d.drivers, 0) DESC NULLS LAST, o.dealer
        """,
        {
            "start": period.start_at,
            "end": period.end_before,
            "kinds": [*[str(kind) for kind in FUNNEL_ENTRY_KINDS], ActivityKind.SERVICE_VISIT.value, ActivityKind.SURVEY.value],
            "follow_ups": [str(kind) for kind in LEAD_FOLLOW_UP_KINDS],
        },
    )
    figure = Figure(
        name="dealers",
        title=_("Dealer league table"),
        rows=[],
        columns=[
            _("Dealer"),
            _("Leads"),
            _("Leads answered"),
            _("Median lead response (hours)"),
            _("Test drives"),
            _("Test drive → order %"),
            _("Orders"),
            _("Deliveries"),
            _("Survey answers"),
            _("Average score"),
            _("NPS"),
        ],
    )
    for dealer, leads, answered, response, drivers, buyers, orders, deliveries, answers, average, nps in rows:
        figure.rows.append(
            [
                dealer,
                leads,
                answered,
                _days(response),
                drivers,
                _rate(buyers, drivers),
                orders,
                deliveries,
                answers,
                _days(average),
                _days(nps),
            ]
        )
    return figure


FIGURES = {
    "funnel": lambda period: journey_funnel(period=period),
    "journey_movements": lambda period: stage_movements(period=period, dimension=StageDimension.JOURNEY),
    "lifecycle_movements": lambda period: stage_movements(period=period, dimension=StageDimension.LIFECYCLE),
    "journey_distribution": lambda period: stage_distribution(dimension=StageDimension.JOURNEY),
    "lifecycle_distribution": lambda period: stage_distribution(dimension=StageDimension.LIFECYCLE),
    "lifecycle_flows": lambda period: lifecycle_flows(period=period),
    "dealers": lambda period: dealer_league(period=period),
}


def figure(*, name: str, period: Period) -> Figure:
    return FIGURES[name](period)
