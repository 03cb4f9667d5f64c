"""Every change the rules app makes: rules and their status transitions, the awards a batch of activities earns (the
batch handler registered with ``apps.core.activity``), and staff decisions on held awards.

How a batch is paid (``rules_apply``), set-based, in the product's lock order:

1. the active rules of the batch's kinds (cached per process, reloaded when any rule changes);
2. each rule's conditions on each event (in Python), its member conditions with one query per rule per batch, the
   Nth-time ordinals with one query per batch;
3. rules with a budget locked (in id order), then the existing cap counters locked in one statement; the awards are
   decided in order — rule priority, then rule id, then the event's time and id — trimming points to what is left of
   a points cap or the budget, stopping at a count cap; the counters stored in one statement (new ones inserted with
   their values, so each counter is written once; if another batch created one of them first, decided again with
   every counter created and locked), each budget with one update under its rule's lock;
4. ``apps.core.awards.awards_screen`` marks awards to hold for review; every award is stored (unique per rule and
   activity, so a re-delivered activity never pays twice);
5. the paid ones, by the payer ``apps.core.activity`` runs once every batch handler has locked its own rows: benefits
   left pending for a worker (``grants_defer``), then the ledger's set-based paths (``growth_add_many``,
   ``points_credit_many``), each ledger row and growth entry naming the rule and the activity.
"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, F, Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from apps.analytics.models import ActivityChannel, ActivityEvent, ActivityKind, RegisteredActivityKind
from apps.benefits.models import GrantSource
from apps.benefits.services import DeferredGrant, grants_defer
from apps.campaigns.models import Segment
from apps.campaigns.selectors import segment_members
from apps.core.activity import StoredActivity
from apps.core.awards import CandidateAward, awards_screen
from apps.core.bulk_insert import insert_rows
from apps.core.errors import ApplicationError
from apps.core.models import ApiClient, User
from apps.core.reasons import Reason
from apps.core.references import SystemRef, system_ref
from apps.members.models import Member, MemberStatus, Tier
from apps.members.services import GrowthCredit, PointsCredit, growth_add_many, points_credit_many
from apps.rules.evaluation import (
    OPERATORS,
    CapState,
    Counter,
    CounterKey,
    RuleSpec,
    activity_check,
    award_amounts,
    counter_keys,
    member_check,
)
from apps.rules.locks import (
    CounterState,
    counters_save,
    counters_store,
    lock_awards,
    lock_counters,
    lock_existing_counters,
    lock_rule,
    lock_rules,
)
from apps.rules.models import AwardStatus, EarningRule, RuleAward, RuleCounter, RuleStatus, RuleTierMultiplier

logger = logging.getLogger(__name__)

VERSION_KEY = "rules:version"
_CACHE: dict[str, Any] = {"version": None, "by_kind": {}}


# The active rules, cached per process -------------------------------------------------------------


def _bump_version() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, None)


def rules_changed() -> None:
    """Every process reloads its rules at its next batch: now, and again once this transaction commits (a process
    that reloads in between would otherwise keep the state from before the commit)."""
    _bump_version()
    transaction.on_commit(_bump_version)


def active_rules(kinds: Iterable[str]) -> dict[str, list[RuleSpec]]:
    """The active rules of ``kinds``, in the order they apply (priority, then id); one cache read per batch."""
    version = cache.get(VERSION_KEY)
    if version is None:
        _bump_version()
        version = cache.get(VERSION_KEY)
    if _CACHE["version"] != version or version is None:
        rules = EarningRule.objects.filter(status=RuleStatus.ACTIVE).prefetch_related(
            "tiers", "tags", Prefetch("multipliers", queryset=RuleTierMultiplier.objects.all())
        )
        by_kind: dict[str, list[RuleSpec]] = defaultdict(list)
        for rule in sorted(rules, key=lambda rule: (rule.priority, rule.pk)):
            by_kind[rule.kind].append(RuleSpec.of(rule))
        _CACHE["version"], _CACHE["by_kind"] = version, dict(by_kind)
    return {kind: _CACHE["by_kind"][kind] for kind in set(kinds) if kind in _CACHE["by_kind"]}


def rules_concern(kinds: frozenset[str]) -> bool:
    """Registered with ``rules_apply``: a store concerns it when an active rule names one of its kinds."""
    return bool(active_rules(kinds))


# Rules -------------------------------------------------------------------------------------------


def _known_kind(kind: str) -> bool:
    return kind in ActivityKind.values or RegisteredActivityKind.objects.filter(code=kind).exists()


def _check_rule(rule: EarningRule) -> None:
    if not (rule.name or "").strip():
        raise ApplicationError("name_required", _("A rule needs a name."), fields={"name": ""})
    if not _known_kind(rule.kind):
        raise ApplicationError("unknown_kind", _("Unknown activity kind: %(kind)s.") % {"kind": rule.kind}, fields={"kind": rule.kind})
    conditions = rule.property_conditions if rule.property_conditions not in (None, "") else []
    if not isinstance(conditions, list):
        raise ApplicationError("invalid_conditions", _("Property conditions must be a list."), fields={"property_conditions": ""})
    for index, condition in enumerate(conditions, start=1):
        if not isinstance(condition, dict) or not isinstance(condition.get("property"), str) or not condition["property"].strip():
            raise ApplicationError(
                "invalid_conditions",
                _("Condition %(n)d needs a property name.") % {"n": index},
                fields={"property_conditions": index},
            )
        op = condition.get("op", "eq")
        if op not in OPERATORS:
            raise ApplicationError(
                "invalid_conditions",
                _("Condition %(n)d: unknown operator %(op)s; one of %(ops)s.") % {"n": index, "op": op, "ops": ", ".join(OPERATORS)},
                fields={"property_conditions": index},
            )
        if op == "in" and not isinstance(condition.get("value"), list):
            raise ApplicationError(
                "invalid_conditions",
                _('Condition %(n)d: "in" needs a list of values.') % {"n": index},
                fields={"property_conditions": index},
            )
        if op != "exists" and "value" not in condition:
            raise ApplicationError(
                "invalid_conditions", _("Condition %(n)d needs a value.") % {"n": index}, fields={"property_conditions": index}
            )
    rule.property_conditions = conditions
    days = rule.days_of_week if rule.days_of_week not in (None, "") else []
    if not isinstance(days, list) or any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 7 for d in days):
        raise ApplicationError("invalid_days", _("Days of week are numbers from 1 (Monday) to 7 (Sunday)."), fields={"days_of_week": days})
    rule.days_of_week = sorted(set(days))
    channels = rule.channels if rule.channels not in (None, "") else []
    if not isinstance(channels, list) or any(channel not in ActivityChannel.values for channel in channels):
        raise ApplicationError(
            "invalid_channels",
            _("Channels must be a list of: %(channels)s.") % {"channels": ", ".join(ActivityChannel.values)},
            fields={"channels": channels},
        )
    rule.channels = channels
    if rule.hour_from is not None and rule.hour_from > 23:
        raise ApplicationError("invalid_hours", _("The from hour is 0 to 23."), fields={"hour_from": rule.hour_from})
    if rule.hour_to is not None and not 1 <= rule.hour_to <= 24:
        raise ApplicationError("invalid_hours", _("The to hour is 1 to 24."), fields={"hour_to": rule.hour_to})
    if rule.hour_from is not None and rule.hour_to is not None and rule.hour_to <= rule.hour_from:
        raise ApplicationError("invalid_hours", _("The to hour must be after the from hour."), fields={"hour_to": rule.hour_to})
    if rule.starts_at and rule.ends_at and rule.ends_at <= rule.starts_at:
        raise ApplicationError("invalid_dates", _("The end must be after the start."), fields={"ends_at": str(rule.ends_at)})
    if rule.first_time_only and rule.nth_time is not None:
        raise ApplicationError("invalid_nth", _("Choose either first time only or the Nth time."), fields={"nth_time": rule.nth_time})
    if rule.nth_time is not None and rule.nth_time < 1:
        raise ApplicationError("invalid_nth", _("The Nth time starts at 1."), fields={"nth_time": rule.nth_time})
    if rule.unit_size is None or rule.unit_size <= 0:
        raise ApplicationError("invalid_unit", _("The unit size must be more than zero."), fields={"unit_size": str(rule.unit_size)})
    if not rule.points and not rule.growth and rule.benefit_id is None:
        raise ApplicationError(
            "nothing_to_award", _("A rule awards points, growth value or a benefit: set at least one."), fields={"points": rule.points}
        )
    if rule.budget_points is not None and rule.budget_points < rule.budget_used:
        raise ApplicationError(
            "budget_below_used",
            _("The budget cannot be below what the rule has already awarded (%(used)d points).") % {"used": rule.budget_used},
            fields={"budget_points": rule.budget_points},
        )


@dataclass(frozen=True)
class Multiplier:
    tier_id: int
    multiplier: Decimal


@transaction.atomic
def rule_save(
    *,
    rule: EarningRule,
    tiers: Iterable[Tier] | None = None,
    tags: Iterable[Any] | None = None,
    multipliers: Sequence[Multiplier] | None = None,
    actor: User | None = None,
) -> EarningRule:
    """Create or edit a rule (not an ended one). The budget counter is kept as the award path left it."""
    if rule.pk:
        stored = lock_rule(rule_id=rule.pk)
        if stored.status == RuleStatus.ENDED:
            raise ApplicationError("rule_ended", _("An ended rule cannot be changed."), http_status=409)
        rule.status, rule.budget_used = stored.status, stored.budget_used
    else:
        rule.status, rule.budget_used = RuleStatus.DRAFT, 0
    _check_rule(rule)
    for multiplier in multipliers or ():
        if multiplier.multiplier is None or multiplier.multiplier <= 0:
            raise ApplicationError(
                "invalid_multiplier", _("A multiplier must be more than zero."), fields={"multipliers": str(multiplier.multiplier)}
            )
    rule._history_user = actor
    rule.save()
    if tiers is not None:
        rule.tiers.set(tiers)
    if tags is not None:
        rule.tags.set(tags)
    if multipliers is not None:
        RuleTierMultiplier.objects.filter(rule=rule).delete()
        RuleTierMultiplier.objects.bulk_create(
            [RuleTierMultiplier(rule=rule, tier_id=m.tier_id, multiplier=m.multiplier) for m in multipliers]
        )
    rules_changed()
    return rule


def _transition(rule: EarningRule, *, allowed: set[str], to: str, actor: User | None) -> EarningRule:
    rule = lock_rule(rule_id=rule.pk)
    if rule.status not in allowed:
        raise ApplicationError(
            "invalid_status",
            _("A rule that is %(status)s cannot become %(to)s.") % {"status": rule.get_status_display(), "to": RuleStatus(to).label},
            http_status=409,
        )
    rule.status = to
    rule._history_user = actor
    rule.save(update_fields=["status", "updated_at"])
    rules_changed()
    return rule


@transaction.atomic
def rule_activate(*, rule: EarningRule, actor: User | None = None) -> EarningRule:
    """Switch a draft or paused rule on: from now, matching activities earn through it."""
    locked = lock_rule(rule_id=rule.pk)
    _check_rule(locked)
    if locked.ends_at and locked.ends_at <= timezone.now():
        raise ApplicationError("rule_over", _("The rule's end date has passed; change it first."), fields={"ends_at": str(locked.ends_at)})
    return _transition(locked, allowed={RuleStatus.DRAFT, RuleStatus.PAUSED}, to=RuleStatus.ACTIVE, actor=actor)


@transaction.atomic
def rule_pause(*, rule: EarningRule, actor: User | None = None) -> EarningRule:
    return _transition(rule, allowed={RuleStatus.ACTIVE}, to=RuleStatus.PAUSED, actor=actor)


@transaction.atomic
def rule_end(*, rule: EarningRule, actor: User | None = None) -> EarningRule:
    """End a rule for good (its awards stay); an ended rule is never switched on again."""
    return _transition(rule, allowed={RuleStatus.DRAFT, RuleStatus.ACTIVE, RuleStatus.PAUSED}, to=RuleStatus.ENDED, actor=actor)


# Applying rules to a batch ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    spec: RuleSpec
    activity: StoredActivity
    points: int
    growth: int

    @property
    def order(self) -> tuple:
        return (self.spec.priority, self.spec.id, self.activity.occurred_at, self.activity.pk)


def activity_ordinals(events: Sequence[StoredActivity]) -> dict[int, int]:
    """Each event's ordinal among its member's stored events of its kind (1 for the first): one query per batch."""
    if not events:
        return {}
    first_pk = min(event.pk for event in events)
    prior = (
        ActivityEvent.objects.filter(member_id__in={e.member_id for e in events}, kind__in={e.kind for e in events}, pk__lt=first_pk)
        .values_list("member_id", "kind")
        .annotate(n=Count("pk"))
    )
    seen: dict[tuple[int, str], int] = {(member_id, kind): n for member_id, kind, n in prior}
    ordinals = {}
    for event in sorted(events, key=lambda e: e.pk):
        key = (event.member_id, event.kind)
        seen[key] = seen.get(key, 0) + 1
        ordinals[event.pk] = seen[key]
    return ordinals


def members_matching(spec: RuleSpec, member_ids: set[int]) -> set[int]:
    """Which of ``member_ids`` have one of the rule's tags and are in its segment: one query."""
    members = Member.objects.filter(pk__in=member_ids)
    if spec.tag_ids:
        members = members.filter(tags__in=spec.tag_ids)
    if spec.segment_id:
        segment = Segment.objects.get(pk=spec.segment_id)
        members = members.filter(pk__in=segment_members(segment=segment).values("pk"))
    return set(members.values_list("pk", flat=True).distinct())


def _candidates(events: Sequence[StoredActivity], specs_by_kind: dict[str, list[RuleSpec]]) -> list[_Candidate]:
    relevant = [event for event in events if event.kind in specs_by_kind]
    if not relevant:
        return []
    tiers = dict(Member.objects.filter(pk__in={e.member_id for e in relevant}, status=MemberStatus.ACTIVE).values_list("pk", "tier_id"))
    needs_nth = any(spec.nth_time is not None for specs in specs_by_kind.values() for spec in specs)
    ordinals = activity_ordinals([e for e in relevant if e.member_id in tiers]) if needs_nth else {}
    already = set(RuleAward.objects.filter(activity_id__in=[e.pk for e in relevant]).values_list("rule_id", "activity_id"))
    by_kind: dict[str, list[StoredActivity]] = defaultdict(list)
    for event in relevant:
        if event.member_id in tiers:
            by_kind[event.kind].append(event)
    candidates = []
    for kind, kind_events in by_kind.items():
        for spec in specs_by_kind[kind]:
            passing = [
                event
                for event in kind_events
                if (spec.id, event.pk) not in already
                and activity_check(spec, event, nth=ordinals.get(event.pk)) is None
                and member_check(spec, tier_id=tiers[event.member_id], tag_ids=None, in_segment=None) is None
            ]
            if passing and (spec.tag_ids or spec.segment_id):
                matching = members_matching(spec, {event.member_id for event in passing})
                passing = [event for event in passing if event.member_id in matching]
            for event in passing:
                points, growth = award_amounts(spec, event, tier_id=tiers[event.member_id])
                if points or growth or spec.benefit_id is not None:
                    candidates.append(_Candidate(spec, event, points, growth))
    return sorted(candidates, key=lambda candidate: candidate.order)


class _CountersRacedError(Exception):
    """Another batch created one of this batch's new cap counters between our read and our insert."""


def _decide(
    candidates: list[_Candidate], counters: dict[CounterKey, RuleCounter | CounterState], budget_left: dict[int, int | None]
) -> tuple[list[_Candidate], list[RuleCounter | CounterState]]:
    """The candidates that fit their rules' caps and budgets (points trimmed to what is left), given the counters as
    locked (a missing one counts from zero); and the counters to store, new ones without an id."""
    state = CapState(budget_left=dict(budget_left))
    state.counters = {key: Counter(count=c.count, points=c.points) for key, c in counters.items()}
    decided = []
    for candidate in candidates:
        allowed, why = state.take(
            candidate.spec, candidate.activity.member_id, candidate.activity.occurred_at, candidate.points, candidate.growth
        )
        if why is None:
            decided.append(replace(candidate, points=allowed))
    changed = []
    for key in state.touched:
        row = counters.get(key) or CounterState(*key)
        row.count, row.points = state.counters[key].count, state.counters[key].points
        changed.append(row)
    return decided, changed


def _within_limits(candidates: list[_Candidate]) -> list[_Candidate]:
    """The candidates that fit their rules' caps and budgets, counters and budgets moved: rules with a budget locked
    first, then the counters, as the lock order says.

    Each counter is written once: the existing ones are locked, the awards decided, then the new counters inserted with
    their values and the others updated, in one statement. When another batch created one of our new counters in the
    meantime, the savepoint is rolled back (releasing the counters locked in it) and the batch decides again with every
    counter created and locked in one ordered statement, as before: the caps stay exact and the locks stay in key order.
    """
    budget_left: dict[int, int | None] = {}
    budget_rules = {c.spec.id for c in candidates if c.spec.budget_points is not None}
    if budget_rules:
        for rule in lock_rules(rule_ids=budget_rules):
            budget_left[rule.pk] = None if rule.budget_points is None else rule.budget_points - rule.budget_used
    keys = [key for c in candidates if c.spec.caps for key in counter_keys(c.spec, c.activity.member_id, c.activity.occurred_at)]
    try:
        with transaction.atomic():
            decided, changed = _decide(candidates, lock_existing_counters(keys=keys), budget_left)
            if not counters_save(counters=changed):
                raise _CountersRacedError
    except _CountersRacedError:
        locked = {(c.rule_id, c.member_id, c.period, c.period_start): c for c in lock_counters(keys=keys)}
        decided, changed = _decide(candidates, locked, budget_left)
        counters_store(counters=changed)
    spent: dict[int, int] = defaultdict(int)
    for candidate in decided:
        if candidate.spec.budget_points is not None:
            spent[candidate.spec.id] += candidate.points
    for rule_id, points in sorted(spent.items()):
        if points:
            EarningRule.objects.filter(pk=rule_id).update(budget_used=F("budget_used") + points)
    return decided


@dataclass(frozen=True)
class _Payment:
    rule_id: int
    rule_name: str
    activity_id: int
    member_id: int
    points: int
    growth: int
    benefit_id: int | None

    @property
    def source_ref(self) -> SystemRef:
        return system_ref("rule", self.rule_id, "activity", self.activity_id)


def _pay(payments: Sequence[_Payment], *, client: ApiClient | None, skip_inactive: bool) -> None:
    """Benefits left pending for a worker (no benefit is locked here: the ingest may already hold points accounts),
    then growth value (members), then points (accounts), in the lock order. A grant the worker cannot make (out of
    stock, over a per-member limit) is logged there; the points still pay."""
    grants_defer(
        grants=[
            DeferredGrant(benefit_id=p.benefit_id, member_id=p.member_id, source=GrantSource.EARNING_RULE, source_ref=p.source_ref)
            for p in payments
            if p.benefit_id is not None
        ]
    )
    reasons: dict[int, Reason] = {}
    for payment in payments:
        reasons.setdefault(payment.rule_id, Reason("earning_rule", {"rule": payment.rule_name}))
    growth = [
        GrowthCredit(member_id=p.member_id, amount=p.growth, reason=reasons[p.rule_id], source_ref=p.source_ref)
        for p in payments
        if p.growth
    ]
    if growth:
        growth_add_many(credits=growth, skip_inactive=skip_inactive)
    points = [
        PointsCredit(member_id=p.member_id, amount=p.points, reason=reasons[p.rule_id], source_ref=p.source_ref)
        for p in payments
        if p.points
    ]
    if points:
        points_credit_many(credits=points, skip_inactive=skip_inactive, client=client)


def rules_apply(events: Sequence[StoredActivity]) -> dict[int, int] | Callable[[], dict[int, int]]:
    """The batch handler: decide what the active rules award for newly stored events (rules, counters and awards
    written under their locks) and return the payer that pays it — the points paid by event ``pk``. Events recorded
    without their rewards (``rewarded`` False: members migrated by an import) earn nothing."""
    events = [event for event in events if event.rewarded]
    specs_by_kind = active_rules({event.kind for event in events})
    if not specs_by_kind:
        return {}
    candidates = _candidates(events, specs_by_kind)
    if not candidates:
        return {}
    decided = _within_limits(candidates)
    if not decided:
        return {}
    held = awards_screen(
        [
            CandidateAward(
                member_id=c.activity.member_id,
                activity=c.activity,
                source=f"rule:{c.spec.id}",
                points=c.points,
                growth=c.growth,
                benefit_id=c.spec.benefit_id,
            )
            for c in decided
        ]
    )
    now = timezone.now()
    # COPY on PostgreSQL: a batch stores a thousand awards or more.
    insert_rows(
        RuleAward,
        [
            {
                "rule_id": c.spec.id,
                "activity_id": c.activity.pk,
                "member_id": c.activity.member_id,
                "kind": c.activity.kind,
                "occurred_at": c.activity.occurred_at,
                "status": AwardStatus.HELD if index in held else AwardStatus.PAID,
                "points": c.points,
                "growth": c.growth,
                "benefit_id": c.spec.benefit_id,
                "hold_reasons": held.get(index, []),
                "created_at": now,
            }
            for index, c in enumerate(decided)
        ],
    )
    paid = [c for index, c in enumerate(decided) if index not in held]
    if not paid:
        return {}
    client = next((event.client for event in events if event.client is not None), None)

    def pay() -> dict[int, int]:
        # Run by apps.core.activity once every batch handler has locked its own rows: members and accounts come last.
        _pay(
            [_Payment(c.spec.id, c.spec.name, c.activity.pk, c.activity.member_id, c.points, c.growth, c.spec.benefit_id) for c in paid],
            client=client,
            skip_inactive=True,
        )
        earned: dict[int, int] = defaultdict(int)
        for c in paid:
            earned[c.activity.pk] += c.points
        return dict(earned)

    return pay


# Held awards -------------------------------------------------------------------------------------


@dataclass
class Decision:
    decided: int = 0
    skipped: int = 0
    points: int = 0


def _held(award_ids: Sequence[int]) -> tuple[list[RuleAward], int]:
    awards = lock_awards(award_ids=award_ids)
    held = [award for award in awards if award.status == AwardStatus.HELD]
    if not held:
        raise ApplicationError("nothing_held", _("None of the chosen awards is held for review any more."), http_status=409)
    return held, len(set(award_ids)) - len(held)


@transaction.atomic
def awards_release(*, award_ids: Sequence[int], actor: User, note: str = "") -> Decision:
    """Pay held awards through the ledger, as they would have been paid. Awards decided already are skipped; a member
    who is no longer active refuses the whole release (nothing changes)."""
    held, skipped = _held(award_ids)
    names = dict(EarningRule.objects.filter(pk__in={a.rule_id for a in held}).values_list("pk", "name"))
    _pay(
        [_Payment(a.rule_id, names[a.rule_id], a.activity_id, a.member_id, a.points, a.growth, a.benefit_id) for a in held],
        client=None,
        skip_inactive=False,
    )
    now = timezone.now()
    for award in held:
        award.status, award.decided_at, award.decided_by, award.decision_note = AwardStatus.RELEASED, now, actor, note[:255]
    bulk_update_with_history(held, RuleAward, ["status", "decided_at", "decided_by", "decision_note"], default_user=actor)
    return Decision(decided=len(held), skipped=skipped, points=sum(a.points for a in held))


@transaction.atomic
def awards_reject(*, award_ids: Sequence[int], actor: User, note: str) -> Decision:
    """Never pay held awards; their points go back to their rules' budgets (the cap counters keep them)."""
    note = (note or "").strip()
    if not note:
        raise ApplicationError("note_required", _("Say why the awards are rejected."), fields={"note": ""})
    rule_ids = set(RuleAward.objects.filter(pk__in=award_ids).values_list("rule_id", flat=True))
    budget_rules = {rule.pk for rule in lock_rules(rule_ids=rule_ids) if rule.budget_points is not None}
    held, skipped = _held(award_ids)
    now = timezone.now()
    back: dict[int, int] = defaultdict(int)
    for award in held:
        award.status, award.decided_at, award.decided_by, award.decision_note = AwardStatus.REJECTED, now, actor, note[:255]
        if award.rule_id in budget_rules:
            back[award.rule_id] += award.points
    bulk_update_with_history(held, RuleAward, ["status", "decided_at", "decided_by", "decision_note"], default_user=actor)
    for rule_id, points in sorted(back.items()):
        if points:
            EarningRule.objects.filter(pk=rule_id).update(budget_used=F("budget_used") - points)
    return Decision(decided=len(held), skipped=skipped, points=sum(a.points for a in held))
