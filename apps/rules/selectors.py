"""Reads of the rules app: the simulation of a rule over stored activity, "why did (or didn't) this member earn", and the
figures of the metrics page. They decide with the same functions as the batch handler (``apps.rules.evaluation``)."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics.models import ActivityEvent
from apps.core.activity import StoredActivity
from apps.core.errors import ApplicationError
from apps.members.models import Member, MemberStatus
from apps.rules.evaluation import CapState, Counter, RuleSpec, activity_check, award_amounts, counter_keys, member_check
from apps.rules.models import AwardStatus, EarningRule, RuleAward, RuleCounter, RuleStatus
from apps.rules.services import members_matching

SIMULATION_DAYS = 30
CHUNK = 5000


def point_value() -> Decimal:
    """What one point costs the programme, in yuan."""
    return Decimal(str(settings.USEROPS["POINT_VALUE_YUAN"]))


def _spec(rule: EarningRule) -> RuleSpec:
    rule = EarningRule.objects.prefetch_related("tiers", "tags", "multipliers").get(pk=rule.pk)
    return RuleSpec.of(rule)


def _stored(row: dict[str, Any], first_pk: dict[tuple[int, str], int]) -> StoredActivity:
    return StoredActivity(
        pk=row["pk"],
        member_id=row["member_id"],
        kind=row["kind"],
        event_id=row["event_id"],
        source=row["source"],
        occurred_at=row["occurred_at"],
        amount=row["amount"],
        first_of_kind=first_pk.get((row["member_id"], row["kind"])) == row["pk"],
        channel=row["channel"],
        properties=row["properties"] or {},
        device_id=row["device_id"],
        client_ip=row["client_ip"],
    )


ACTIVITY_FIELDS = (
    "pk",
    "member_id",
    "kind",
    "event_id",
    "source",
    "occurred_at",
    "amount",
    "channel",
    "properties",
    "device_id",
    "client_ip",
)


@dataclass
class Simulation:
    days: int
    start: datetime
    end: datetime
    activities: int = 0
    awards: int = 0
    members: int = 0
    points: int = 0
    growth: int = 0
    benefits: int = 0
    stopped_by_caps: int = 0
    cost: Decimal = Decimal("0.00")
    by_day: list[dict[str, Any]] = field(default_factory=list)


def rule_simulate(*, rule: EarningRule, days: int = SIMULATION_DAYS, now: datetime | None = None) -> Simulation:
    """What the rule would have paid over the last ``days`` days of stored activity, had it been active: members
    affected, points, growth value, benefits and cost (points × the point's value), its caps and budget applied from
    zero in the order the activities happened. Member conditions (tier, tags, segment) are the members' today.

    Set-based: the rule's kind over the window is read in chunks; each chunk's members are checked with one query.
    """
    now = now or timezone.now()
    start = now - timedelta(days=days)
    spec = _spec(rule)
    result = Simulation(days=days, start=start, end=now)
    events = ActivityEvent.objects.filter(kind=spec.kind, occurred_at__gte=start, occurred_at__lt=now).order_by("occurred_at", "pk")
    state = CapState(budget_left={spec.id: (spec.budget_points - 0) if spec.budget_points is not None else None})
    members: set[int] = set()
    per_day: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    prior_counts: dict[int, int] = {}
    last = None
    rows = list(events.values(*ACTIVITY_FIELDS)[:CHUNK])
    while rows:
        chunk = rows
        member_ids = {row["member_id"] for row in chunk}
        tiers = dict(Member.objects.filter(pk__in=member_ids, status=MemberStatus.ACTIVE).values_list("pk", "tier_id"))
        firsts = {
            (m, spec.kind): first
            for m, first in ActivityEvent.objects.filter(member_id__in=member_ids, kind=spec.kind)
            .values_list("member_id")
            .annotate(first=Min("pk"))
        }
        if spec.nth_time is not None:
            missing = member_ids - set(prior_counts)
            before = dict(
                ActivityEvent.objects.filter(member_id__in=missing, kind=spec.kind, occurred_at__lt=start)
                .values_list("member_id")
                .annotate(n=Count("pk"))
            )
            prior_counts.update({m: before.get(m, 0) for m in missing})
        matching = members_matching(spec, set(tiers)) if spec.tag_ids or spec.segment_id else set(tiers)
        for row in chunk:
            result.activities += 1
            member_id = row["member_id"]
            nth = None
            if spec.nth_time is not None:
                prior_counts[member_id] += 1
                nth = prior_counts[member_id]
            if member_id not in tiers or member_id not in matching:
                continue
            activity = _stored(row, firsts)
            if activity_check(spec, activity, nth=nth) or member_check(spec, tier_id=tiers[member_id], tag_ids=None, in_segment=None):
                continue
            points, growth = award_amounts(spec, activity, tier_id=tiers[member_id])
            if not points and not growth and spec.benefit_id is None:
                continue
            allowed, why = state.take(spec, member_id, activity.occurred_at, points, growth)
            if why:
                result.stopped_by_caps += 1
                continue
            result.awards += 1
            result.points += allowed
            result.growth += growth
            result.benefits += 1 if spec.benefit_id else 0
            members.add(member_id)
            day = timezone.localtime(activity.occurred_at).date()
            per_day[day][0] += 1
            per_day[day][1] += allowed
        last = chunk[-1]
        rows = list(
            events.filter(Q(occurred_at__gt=last["occurred_at"]) | Q(occurred_at=last["occurred_at"], pk__gt=last["pk"])).values(
                *ACTIVITY_FIELDS
            )[:CHUNK]
        )
    result.members = len(members)
    result.cost = (Decimal(result.points) * point_value()).quantize(Decimal("0.01"))
    result.by_day = [{"day": day, "awards": n, "points": p} for day, (n, p) in sorted(per_day.items())]
    return result


VERDICT_OUTCOMES = ["paid", "held", "released", "rejected", "would_pay", "not_applied"]


@dataclass(frozen=True)
class Verdict:
    rule_id: int
    rule_name: str
    rule_status: str
    outcome: str  # paid, held, released, rejected, would_pay, not_applied
    detail: str
    points: int = 0
    growth: int = 0


def earning_explain(*, member: Member, activity: ActivityEvent) -> list[Verdict]:
    """Why the member did (or didn't) earn for one activity: every rule of the activity's kind but drafts, in the order
    they apply, with its award, or the condition that failed, or the cap or budget that stopped it.

    Caps are read from the counters as they stand now (for the activity's periods); member conditions are the member's
    today; a rule that is paused or ended now is judged on its conditions and said to be so.
    """
    if activity.member_id != member.pk:
        return []
    rules = EarningRule.objects.filter(kind=activity.kind).exclude(status=RuleStatus.DRAFT).prefetch_related("tiers", "tags", "multipliers")
    awards = {a.rule_id: a for a in RuleAward.objects.filter(activity_id=activity.pk)}
    first = ActivityEvent.objects.filter(member_id=member.pk, kind=activity.kind).aggregate(first=Min("pk"))["first"]
    nth = ActivityEvent.objects.filter(member_id=member.pk, kind=activity.kind, pk__lte=activity.pk).count()
    stored = _stored({f: getattr(activity, "pk" if f == "pk" else f) for f in ACTIVITY_FIELDS}, {(member.pk, activity.kind): first})
    verdicts = []
    for rule in sorted(rules, key=lambda rule: (rule.priority, rule.pk)):
        spec = RuleSpec.of(rule)
        status = rule.get_status_display()
        award = awards.get(rule.pk)
        if award is not None:
            detail = {
                AwardStatus.PAID: _("Paid."),
                AwardStatus.HELD: _("Held for review: %(reasons)s") % {"reasons": "; ".join(award.hold_reasons)},
                AwardStatus.RELEASED: _("Held, then released and paid."),
                AwardStatus.REJECTED: _("Held, then rejected: %(note)s") % {"note": award.decision_note},
            }[award.status]
            verdicts.append(Verdict(rule.pk, rule.name, status, award.status, detail, award.points, award.growth))
            continue
        why = activity_check(spec, stored, nth=nth)
        if why is None and member.status != MemberStatus.ACTIVE:
            why = _("The member's account is not active.")
        if why is None:
            why = member_check(spec, tier_id=member.tier_id, tag_ids=None, in_segment=None)
        if why is None and (spec.tag_ids or spec.segment_id) and member.pk not in members_matching(spec, {member.pk}):
            why = _("The member has none of the rule's tags.") if spec.tag_ids else _("The member is not in the rule's segment.")
        points, growth = award_amounts(spec, stored, tier_id=member.tier_id)
        if why is None:
            state = CapState(budget_left={spec.id: None if rule.budget_points is None else rule.budget_points - rule.budget_used})
            keys = counter_keys(spec, member.pk, activity.occurred_at)
            for counter in RuleCounter.objects.filter(rule=rule, member=member):
                key = (counter.rule_id, counter.member_id, counter.period, counter.period_start)
                if key in keys:
                    state.counters[key] = Counter(count=counter.count, points=counter.points)
            allowed, stop = state.take(spec, member.pk, activity.occurred_at, points, growth)
            why = stop
            if why is None:
                if rule.status != RuleStatus.ACTIVE:
                    why = _("All conditions hold, but the rule is %(status)s.") % {"status": status}
                elif activity.recorded_at < rule.updated_at:
                    why = _("All conditions hold now; the rule was switched on or changed after the activity arrived.")
                else:
                    verdicts.append(Verdict(rule.pk, rule.name, status, "would_pay", _("All conditions hold."), allowed, growth))
                    continue
        verdicts.append(Verdict(rule.pk, rule.name, status, "not_applied", why, 0, 0))
    return verdicts


def rules_metrics(*, months: int = 6, now: datetime | None = None) -> dict[str, Any]:
    """Awards per rule (paid, held, rejected), and points and cost per rule per month, over the last ``months``."""
    now = now or timezone.now()
    since = (timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(days=31 * (months - 1))).replace(
        day=1
    )
    awards = RuleAward.objects.filter(occurred_at__gte=since)
    paid = Q(status__in=[AwardStatus.PAID, AwardStatus.RELEASED])
    per_rule = (
        awards.values("rule_id", "rule__name", "rule__status")
        .annotate(
            paid=Count("pk", filter=paid),
            held=Count("pk", filter=Q(status=AwardStatus.HELD)),
            rejected=Count("pk", filter=Q(status=AwardStatus.REJECTED)),
            paid_points=Sum("points", filter=paid, default=0),
            held_points=Sum("points", filter=Q(status=AwardStatus.HELD), default=0),
            paid_growth=Sum("growth", filter=paid, default=0),
            members=Count("member_id", filter=paid, distinct=True),
        )
        .order_by("rule_id")
    )
    value = point_value()
    rules = [
        {
            **row,
            "points": row["paid_points"],
            "growth": row["paid_growth"],
            "cost": (Decimal(row["paid_points"]) * value).quantize(Decimal("0.01")),
        }
        for row in per_rule
    ]
    monthly = (
        awards.filter(paid)
        .annotate(month=TruncMonth("occurred_at"))
        .values("month", "rule_id", "rule__name")
        .annotate(month_points=Sum("points", default=0), awards=Count("pk"))
        .order_by("month", "rule_id")
    )
    months_rows = [
        {
            **row,
            "points": row["month_points"],
            "month": timezone.localtime(row["month"]).strftime("%Y-%m") if row["month"] else "",
            "cost": (Decimal(row["month_points"]) * value).quantize(Decimal("0.01")),
        }
        for row in monthly
    ]
    totals = {
        "paid": sum(r["paid"] for r in rules),
        "held": sum(r["held"] for r in rules),
        "rejected": sum(r["rejected"] for r in rules),
        "points": sum(r["points"] for r in rules),
        "cost": sum((r["cost"] for r in rules), Decimal("0.00")),
    }
    return {"since": since, "rules": rules, "months": months_rows, "totals": totals, "point_value": value}


def rules_list(*, status: str = "", kind: str = "") -> QuerySet[EarningRule]:
    """The rules, newest first, optionally of one status and kind, with what their answers show."""
    rules = EarningRule.objects.prefetch_related("tiers", "tags", "multipliers").order_by("-pk")
    if status:
        rules = rules.filter(status=status)
    if kind:
        rules = rules.filter(kind=kind)
    return rules


def rule_get(*, pk: int) -> EarningRule:
    rule = rules_list().filter(pk=pk).first()
    if rule is None:
        raise ApplicationError("not_found", _("No such earning rule."), http_status=404)
    return rule


def member_activity_get(*, member_id: int, activity_id: int) -> tuple[Member, ActivityEvent]:
    """A member and one of their stored activities, for "why did (or didn't) this member earn"; a mismatch is refused
    naming the field, so no caller learns of another member's activity."""
    member = Member.objects.filter(pk=member_id).first()
    if member is None:
        raise ApplicationError("not_found", _("No such member."), fields={"member": member_id}, http_status=404)
    activity = ActivityEvent.objects.filter(pk=activity_id, member_id=member.pk).first()
    if activity is None:
        raise ApplicationError("not_found", _("The member has no such activity."), fields={"activity": activity_id}, http_status=404)
    return member, activity


def member_rule_activities(*, member: Member, limit: int = 10) -> QuerySet[ActivityEvent]:
    """The member's latest activities of a kind some rule (other than a draft) is about: what "why did (or didn't) I
    earn?" is asked about."""
    kinds = EarningRule.objects.exclude(status=RuleStatus.DRAFT).values("kind")
    return ActivityEvent.objects.filter(member_id=member.pk, kind__in=kinds).order_by("-occurred_at", "-id")[:limit]
