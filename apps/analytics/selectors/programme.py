"""Figures over the other apps' own tables: the points ledger, benefits, community events, campaigns."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.analytics.days import day_start, local_zone
from apps.analytics.models import (
    DailyMemberActivity,
)
from apps.analytics.selectors.figures import ZERO, Figure, MetricFilter, money, percent, ratio
from apps.benefits.models import Benefit, GrantState, Redemption
from apps.campaigns.models import ActionOutcome, Campaign, CampaignAction, CampaignRun
from apps.events.models import Event, RegistrationState
from apps.members.models import PointsAccount, PointsEntry, PointsEntryKind
from apps.members.selectors import points_cost


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
            [b.name, b.issued, b.redeemed, percent(b.redeemed, live), money(b.cost), money(b.face_value * b.redeemed), b.value_density]
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
                percent(e.held, e.capacity),
                e.attended,
                e.no_show,
                percent(e.attended, shown),
                percent(e.no_show, shown),
            ]
        )
    columns = [_("event"), _("day"), _("capacity"), _("registrations"), _("registration rate %"), _("attended"), _("no-shows")]
    columns += [_("attendance rate %"), _("no-show rate %")]
    attended, no_show = sum(r[5] for r in rows), sum(r[6] for r in rows)
    headline = {
        "registrations": sum(r[3] for r in rows),
        "attendance_rate_percent": percent(attended, attended + no_show),
        "no_show_rate_percent": percent(no_show, attended + no_show),
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
        rate, held_rate = percent(conversions, reach), percent(held_conversions, held)
        uplift = (rate - held_rate) if rate is not None and held_rate is not None else None
        cost = money(costs.get(campaign.pk))
        rows.append([campaign.name, reach, cost, conversions, rate, held, held_rate, uplift, ratio(cost, conversions)])
    columns = [_("campaign"), _("reach"), _("cost"), _("conversions"), _("conversion %"), _("holdout"), _("holdout conversion %")]
    columns += [_("uplift (points)"), _("cost per conversion")]
    return Figure("campaigns", _("Campaigns (conversion: a purchase within %(days)d days)") % {"days": window_days}, columns, rows)
