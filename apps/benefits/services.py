"""Every change to benefits, grants and redemptions.

Every grant of a benefit takes that benefit's row lock first, so stock, budget and per-member limits are
checked and counted by one writer at a time; a redemption locks the grant. Locks are taken through
``apps.benefits.locks`` and ``apps.members.locks`` in the product's order: benefit, then the member's points
account, then grants.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.benefits.locks import lock_benefit, lock_grant, lock_grant_by_code
from apps.benefits.models import (
    KIND_CATEGORY,
    PERMANENT_UNTIL,
    STATUS_MARK_KINDS,
    Benefit,
    BenefitKind,
    BenefitStatus,
    Grant,
    GrantSource,
    GrantState,
    LimitPeriod,
    PendingGrant,
    Recurrence,
    Redemption,
    RedemptionChannel,
    TierBenefit,
    generate_codes,
    normalize_code,
)
from apps.benefits.outbox_events import grant_event, grants_issued_events, redemption_event
from apps.benefits.selectors import grant_unusable_reason
from apps.core.activity import activity_happened
from apps.core.bulk_insert import insert_rows, insert_values
from apps.core.db import atomic_checks_first
from apps.core.errors import ApplicationError
from apps.core.models import ApiClient, User
from apps.core.outbox import EventType, outbox_emit_many
from apps.core.queueing import enqueue_on_commit
from apps.core.reasons import Reason, translated_param
from apps.core.saving import edited_fields_save
from apps.members import services as member_services
from apps.members.locks import lock_points_account
from apps.members.models import Member, MemberStatus, PointsEntry, TierChange, TierChangeKind

logger = logging.getLogger(__name__)

# Catalogue -------------------------------------------------------------------------------------


def benefit_check(*, benefit: Benefit) -> None:
    """Raise ``invalid_benefit`` naming each field whose terms do not make sense together."""
    problems: dict[str, str] = {}
    if not benefit.validity_days and not benefit.valid_until and benefit.kind not in STATUS_MARK_KINDS:
        problems["validity_days"] = _("Give a fixed validity window or a number of days after grant.")
    if benefit.valid_from and benefit.valid_until and benefit.valid_until <= benefit.valid_from:
        problems["valid_until"] = _("The end of the validity window must be after its start.")
    if benefit.kind == BenefitKind.PERCENT_DISCOUNT and not (benefit.discount_percent and benefit.discount_cap):
        problems["discount_percent"] = _("A percentage discount needs a percentage and a cap.")
    if benefit.face_value < 0 or benefit.unit_cost < 0:
        problems["unit_cost"] = _("Values cannot be negative.")
    stored = Benefit.objects.filter(pk=benefit.pk).first() if benefit.pk else None
    if stored is not None:
        problems.update(_limits_below_counters(benefit, stored))
    if problems:
        raise ApplicationError("invalid_benefit", " ".join(problems.values()), fields=problems)


# Moved only by grants and revocations, under the benefit's lock; an edit never writes them.
BENEFIT_COUNTERS = ("issued_count", "cost_committed")


def _limits_below_counters(benefit: Benefit, stored: Benefit) -> dict[str, str]:
    problems: dict[str, str] = {}
    if benefit.total_stock is not None and benefit.total_stock < stored.issued_count:
        problems["total_stock"] = _("The stock cannot be less than what was already issued (%(issued)d).") % {"issued": stored.issued_count}
    if benefit.budget is not None and benefit.budget < stored.cost_committed:
        problems["budget"] = _("The budget cannot be less than the cost already committed (¥%(cost)s).") % {"cost": stored.cost_committed}
    return problems


@transaction.atomic
def benefit_save(*, benefit: Benefit, eligible_tiers: Iterable | None = None) -> Benefit:
    """Create or edit a catalogue entry; its category follows from its kind.

    An edit takes the benefit's lock, as a grant does, checks the new stock and budget again against the
    counters as they are under the lock, and writes only the edited fields: grants made while the form was
    open stay counted.
    """
    benefit_check(benefit=benefit)
    benefit.category = KIND_CATEGORY[benefit.kind]
    if benefit.pk:
        stored = lock_benefit(benefit_id=benefit.pk)
        problems = _limits_below_counters(benefit, stored)
        if problems:
            raise ApplicationError("invalid_benefit", " ".join(problems.values()), fields=problems)
        edited_fields_save(instance=benefit, locked=stored, service_owned=BENEFIT_COUNTERS)
    else:
        benefit.issued_count, benefit.cost_committed = 0, Decimal("0.00")
        benefit.save()
    if eligible_tiers is not None:
        benefit.eligible_tiers.set(eligible_tiers)
    return benefit


# Granting ---------------------------------------------------------------------------------------


def _validity(benefit: Benefit, now: datetime) -> tuple[datetime, datetime]:
    start = max(benefit.valid_from or now, now)
    end = now + timedelta(days=benefit.validity_days) if benefit.validity_days else benefit.valid_until
    if end is None:
        # Only a badge or title may have no validity: the member keeps it.
        end = PERMANENT_UNTIL
    if benefit.valid_until and end > benefit.valid_until:
        end = benefit.valid_until
    if end <= start:
        raise ApplicationError("benefit_window_closed", _("The benefit's validity window has ended."), http_status=409)
    return start, end


def _period_start(benefit: Benefit, now: datetime) -> datetime:
    local = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return local.replace(month=1) if benefit.limit_period == LimitPeriod.YEAR else local


def _require_grantable(benefit: Benefit) -> None:
    if benefit.status != BenefitStatus.ACTIVE:
        raise ApplicationError(
            "benefit_not_active", _("The benefit is %(status)s.") % {"status": benefit.get_status_display()}, http_status=409
        )


def _eligible_tier_ids(benefit: Benefit) -> set[int]:
    return set(benefit.eligible_tiers.values_list("pk", flat=True))


@transaction.atomic
def grant_issue(
    *,
    benefit: Benefit,
    member: Member,
    source: str,
    source_ref: str = "",
    actor: User | None = None,
    client: ApiClient | None = None,
    points_entry: PointsEntry | None = None,
    now: datetime | None = None,
) -> Grant:
    """Give one benefit to one member, within stock, budget, per-member limits and tier eligibility."""
    if source not in GrantSource.values:
        raise ApplicationError("invalid_source", _("Unknown grant source."), fields={"source": source})
    now = now or timezone.now()
    benefit = lock_benefit(benefit_id=benefit.pk)
    _require_grantable(benefit)
    member = Member.objects.get(pk=member.pk)
    if member.status != MemberStatus.ACTIVE:
        raise ApplicationError(
            "member_not_active", _("The member's account is %(status)s.") % {"status": member.get_status_display()}, http_status=409
        )
    tiers = _eligible_tier_ids(benefit)
    if tiers and member.tier_id not in tiers:
        raise ApplicationError("tier_not_eligible", _("This benefit is not available at the member's tier."), http_status=409)
    if source_ref and Grant.objects.filter(benefit=benefit, member=member, source=source, source_ref=source_ref).exists():
        raise ApplicationError("already_granted", _("This benefit was already granted for this reason."), http_status=409)
    if benefit.stock_left is not None and benefit.stock_left <= 0:
        raise ApplicationError("out_of_stock", _("The benefit is out of stock."), http_status=409)
    if benefit.budget is not None and benefit.cost_committed + benefit.unit_cost > benefit.budget:
        raise ApplicationError("budget_exhausted", _("The benefit's budget is used up."), http_status=409)
    held = Grant.objects.filter(benefit=benefit, member=member).exclude(state=GrantState.REVOKED)
    if benefit.per_member_lifetime_limit is not None and held.count() >= benefit.per_member_lifetime_limit:
        raise ApplicationError("member_limit_reached", _("The member already has as many of this benefit as allowed."), http_status=409)
    if (
        benefit.per_member_period_limit is not None
        and held.filter(issued_at__gte=_period_start(benefit, now)).count() >= benefit.per_member_period_limit
    ):
        raise ApplicationError(
            "member_period_limit_reached", _("The member already has as many of this benefit as allowed this period."), http_status=409
        )
    valid_from, valid_until = _validity(benefit, now)
    grant = Grant.objects.create(
        benefit=benefit,
        member=member,
        source=source,
        source_ref=source_ref,
        valid_from=valid_from,
        valid_until=valid_until,
        issued_at=now,
        cost=benefit.unit_cost,
        points_entry=points_entry,
        actor=actor,
        client=client,
    )
    benefit.issued_count += 1
    benefit.cost_committed += benefit.unit_cost
    benefit.save(update_fields=["issued_count", "cost_committed", "updated_at"])
    outbox_emit_many(events=grant_event(EventType.GRANT_ISSUED, grant), types=[EventType.GRANT_ISSUED], occurred_at=now)
    return grant


@dataclass
class BulkGrantResult:
    issued: int = 0
    skipped_ineligible: int = 0
    skipped_limit: int = 0
    skipped_duplicate: int = 0
    skipped_stock: int = 0


def grants_issue_bulk(
    *, benefit: Benefit, member_ids: list[int], source: str, source_ref: str, actor: User | None = None, chunk_size: int = 5000
) -> BulkGrantResult:
    """Grant a benefit to many members set-based, one chunk per transaction (for campaign runs).

    Eligibility, duplicates and per-member limits are decided in SQL for the whole chunk; the rows go in
    with one INSERT … ON CONFLICT DO NOTHING, so a re-run of the same ``source_ref`` adds nothing.
    """
    if not source_ref:
        raise ApplicationError("source_ref_required", _("Bulk grants need a source reference."))
    result = BulkGrantResult()
    ordered = sorted(set(member_ids))
    for start in range(0, len(ordered), chunk_size):
        _grant_chunk(benefit, ordered[start : start + chunk_size], source, source_ref, actor, result)
    return result


@transaction.atomic
def _grant_chunk(benefit: Benefit, chunk: list[int], source: str, source_ref: str, actor: User | None, result: BulkGrantResult) -> None:
    now = timezone.now()
    benefit = lock_benefit(benefit_id=benefit.pk)
    _require_grantable(benefit)
    candidates: QuerySet[Member] = Member.objects.filter(pk__any_of=chunk, status=MemberStatus.ACTIVE)
    tiers = _eligible_tier_ids(benefit)
    if tiers:
        candidates = candidates.filter(tier_id__in=tiers)
    eligible = set(candidates.values_list("pk", flat=True))
    result.skipped_ineligible += len(chunk) - len(eligible)
    already = set(
        Grant.objects.filter(benefit=benefit, source=source, source_ref=source_ref, member_id__any_of=eligible).values_list(
            "member_id", flat=True
        )
    )
    result.skipped_duplicate += len(already)
    eligible -= already
    over_limit: set[int] = set()
    held = Grant.objects.filter(benefit=benefit, member_id__any_of=eligible).exclude(state=GrantState.REVOKED).values("member_id")
    if benefit.per_member_lifetime_limit is not None:
        counts = held.annotate(n=Count("id")).filter(n__gte=benefit.per_member_lifetime_limit)
        over_limit |= {row["member_id"] for row in counts}
    if benefit.per_member_period_limit is not None:
        counts = (
            held.filter(issued_at__gte=_period_start(benefit, now)).annotate(n=Count("id")).filter(n__gte=benefit.per_member_period_limit)
        )
        over_limit |= {row["member_id"] for row in counts}
    result.skipped_limit += len(over_limit)
    to_grant = sorted(eligible - over_limit)
    room = len(to_grant)
    if benefit.stock_left is not None:
        room = min(room, benefit.stock_left)
    if benefit.budget is not None and benefit.unit_cost:
        room = min(room, int((benefit.budget - benefit.cost_committed) // benefit.unit_cost))
    result.skipped_stock += len(to_grant) - max(room, 0)
    to_grant = to_grant[: max(room, 0)]
    if not to_grant:
        return
    valid_from, valid_until = _validity(benefit, now)
    # Copied in with their codes made in bulk: under the benefit's lock no other writer can add a grant of it,
    # and the members already granted for this source_ref were left out above.
    insert_rows(
        Grant,
        [
            {
                "benefit_id": benefit.pk,
                "member_id": member_id,
                "code": code,
                "state": GrantState.ISSUED,
                "source": source,
                "source_ref": source_ref,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "issued_at": now,
                "cost": benefit.unit_cost,
                "actor_id": actor.pk if actor is not None else None,
            }
            for member_id, code in zip(to_grant, generate_codes(len(to_grant)), strict=True)
        ],
    )
    issued = len(to_grant)
    result.issued += issued
    benefit.issued_count += issued
    benefit.cost_committed += benefit.unit_cost * issued
    benefit.save(update_fields=["issued_count", "cost_committed", "updated_at"])
    outbox_emit_many(
        events=grants_issued_events(benefit_id=benefit.pk, source=source, source_ref=source_ref, member_ids=to_grant),
        types=[EventType.GRANT_ISSUED],
        occurred_at=now,
    )


# Grants decided inside another transaction, issued by a worker ------------------------------------

PENDING_GRANTS_TASK = "benefits.issue_pending_grants"


@dataclass(frozen=True)
class DeferredGrant:
    benefit_id: int
    member_id: int
    source: str
    source_ref: str


def grants_defer(*, grants: Iterable[DeferredGrant]) -> None:
    """Record grants to issue once the caller's transaction has committed (one already pending is not added again).

    For reactions inside the activity ingest, which holds points accounts: issuing there would lock the benefit after
    them. One INSERT; the worker is queued on commit, and the periodic sweep issues whatever a lost message left.
    """
    rows = [PendingGrant(benefit_id=g.benefit_id, member_id=g.member_id, source=g.source, source_ref=g.source_ref) for g in grants]
    for row in rows:
        if row.source not in GrantSource.values or not row.source_ref:
            raise ApplicationError("invalid_source", _("A deferred grant needs a known source and a source reference."))
    if not rows:
        return
    PendingGrant.objects.bulk_create(rows, ignore_conflicts=True)
    enqueue_on_commit(PENDING_GRANTS_TASK)


@dataclass
class PendingIssue:
    handled: int = 0  # pending rows taken (and removed)
    issued: int = 0


@transaction.atomic
def grants_pending_issue(*, limit: int = 500) -> PendingIssue:
    """Issue up to ``limit`` pending grants, oldest first, and remove them: one transaction.

    Rows another worker is issuing are skipped (SKIP LOCKED). Each (benefit, source, source_ref) goes through
    ``grants_issue_bulk`` (benefit locked first, duplicates by source_ref skipped, so a re-run issues nothing twice);
    a benefit that can no longer be granted (paused, ended) is logged and its pending rows dropped, as a refused
    grant never stops the reward it came with.
    """
    pending = list(PendingGrant.objects.select_for_update(skip_locked=True).order_by("pk")[:limit])
    result = PendingIssue(handled=len(pending))
    groups: dict[tuple[int, str, str], list[int]] = {}
    for row in pending:
        groups.setdefault((row.benefit_id, row.source, row.source_ref), []).append(row.member_id)
    benefits = Benefit.objects.in_bulk({benefit_id for benefit_id, _source, _ref in groups})
    for (benefit_id, source, source_ref), member_ids in sorted(groups.items()):
        try:
            part = grants_issue_bulk(benefit=benefits[benefit_id], member_ids=member_ids, source=source, source_ref=source_ref)
        except ApplicationError as refusal:
            logger.warning("pending grant of benefit %s for %s dropped: %s", benefit_id, source_ref, refusal)
            continue
        result.issued += part.issued
    PendingGrant.objects.filter(pk__in=[row.pk for row in pending]).delete()
    return result


# Redemption, revocation, expiry -----------------------------------------------------------------


def _grant_by_code_for_update(*, code: str, member: Member | None) -> Grant:
    normalized = normalize_code(code)
    if not normalized:
        raise ApplicationError("code_required", _("Give the grant's code."), fields={"code": ""})
    found = lock_grant_by_code(code=normalized, member_id=member.pk if member is not None else None)
    if found is None:
        raise ApplicationError("grant_not_found", _("No such grant."), http_status=404)
    return found


def _check_redeemable(found: Grant, *, now: datetime) -> None:
    """Refuse a locked grant that cannot be used now; every refusal of a redemption comes before its first write."""
    if found.benefit.kind in STATUS_MARK_KINDS:  # the grant was read with its benefit
        raise ApplicationError(
            "not_redeemable",
            _("A badge or title is a status the member keeps; it cannot be redeemed."),
            fields={"code": ""},
            http_status=409,
        )
    unusable = grant_unusable_reason(grant=found, now=now)
    if unusable is not None:
        code = {GrantState.REDEEMED: "already_redeemed", GrantState.REVOKED: "grant_revoked"}.get(found.state, "grant_expired")
        raise ApplicationError(code, unusable, http_status=409)
    if found.valid_from > now:
        raise ApplicationError("grant_not_yet_valid", _("This grant is not valid yet."), http_status=409)


def _store_redemption(found: Grant, redemption: Redemption) -> None:
    """The grant's new state and its redemption row: one statement on PostgreSQL (the grant's UPDATE as a
    data-modifying CTE of the redemption's INSERT), one round trip where two statements took two."""
    if connection.vendor != "postgresql":
        found.save(update_fields=["state", "closed_at"])
        redemption.save(force_insert=True)
        return
    grants = connection.ops.quote_name(Grant._meta.db_table)
    redemptions = connection.ops.quote_name(Redemption._meta.db_table)
    columns, placeholders, values = insert_values(
        Redemption, {field.attname: getattr(redemption, field.attname) for field in Redemption._meta.concrete_fields}
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH closed AS (UPDATE {grants} SET state = %s, closed_at = %s WHERE id = %s)"  # noqa: S608 (our SQL and tables)
            f" INSERT INTO {redemptions} ({columns}) VALUES ({placeholders}) RETURNING id",
            [found.state, found.closed_at, found.pk, *values],
        )
        (redemption.pk,) = cursor.fetchone()
    redemption._state.adding = False
    redemption._state.db = connection.alias


def _redeem(found: Grant, *, channel: str, order_ref: str, client: ApiClient | None, actor: User | None, now: datetime) -> Redemption:
    """Use a locked grant that ``_check_redeemable`` let through: the writes only, in the caller's transaction."""
    found.state = GrantState.REDEEMED
    found.closed_at = now
    redemption = Redemption(grant=found, channel=channel, order_ref=order_ref, redeemed_at=now, client=client, actor=actor)
    with transaction.atomic(savepoint=False):
        _store_redemption(found, redemption)
        activity_happened(
            member_id=found.member_id,
            kind="benefit_redemption",
            event_id=f"redemption:{redemption.pk}",
            occurred_at=now,
            channel=channel,
            order_ref=order_ref,
        )
        outbox_emit_many(events=redemption_event(redemption), types=[EventType.GRANT_REDEEMED], occurred_at=now)
    return redemption


@atomic_checks_first
def grant_redeem(
    *,
    code: str,
    channel: str,
    order_ref: str = "",
    member: Member | None = None,
    client: ApiClient | None = None,
    now: datetime | None = None,
) -> Redemption:
    """Use a grant (核销) once, by the code the member presents; ``member`` restricts it to that member's grants.

    The code is the proof of entitlement: a till, a dealer system or the member app never redeems by a grant's
    id, which is sequential and would let a key holder use any member's benefit. Every refusal comes before the
    first write, so the redemption needs no savepoint of its own.
    """
    if channel not in RedemptionChannel.values:
        raise ApplicationError("invalid_channel", _("Unknown redemption channel."), fields={"channel": channel})
    found = _grant_by_code_for_update(code=code, member=member)
    now = now or timezone.now()
    _check_redeemable(found, now=now)
    return _redeem(found, channel=channel, order_ref=order_ref, client=client, actor=None, now=now)


@atomic_checks_first
def grant_redeem_by_staff(
    *, grant: Grant, actor: User, channel: str = RedemptionChannel.STAFF, order_ref: str = "", now: datetime | None = None
) -> Redemption:
    """Staff with the redeem permission use a grant from its back-office page; the redemption records who did it."""
    if actor is None or not actor.has_perm("benefits.add_redemption"):
        raise ApplicationError("permission_denied", _("You may not redeem grants."), http_status=403)
    if channel not in RedemptionChannel.values:
        raise ApplicationError("invalid_channel", _("Unknown redemption channel."), fields={"channel": channel})
    found = lock_grant(grant_id=grant.pk)
    now = now or timezone.now()
    _check_redeemable(found, now=now)
    return _redeem(found, channel=channel, order_ref=order_ref, client=None, actor=actor, now=now)


@transaction.atomic
def grant_revoke(*, grant: Grant, reason: str, actor: User | None = None) -> Grant:
    """Withdraw an unused grant; one bought in the points mall gives its points back."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("reason_required", _("A reason is required."), fields={"reason": ""})
    benefit = lock_benefit(benefit_id=grant.benefit_id)
    if Grant.objects.filter(pk=grant.pk, points_entry__isnull=False).exists():
        lock_points_account(member_id=grant.member_id)
    grant = lock_grant(grant_id=grant.pk)
    if grant.state != GrantState.ISSUED:
        raise ApplicationError("grant_not_revocable", grant_unusable_reason(grant=grant), http_status=409)
    grant.state = GrantState.REVOKED
    grant.revoke_reason = reason[:255]
    grant.closed_at = timezone.now()
    grant.save(update_fields=["state", "revoke_reason", "closed_at"])
    benefit.issued_count -= 1
    benefit.cost_committed -= grant.cost
    benefit.save(update_fields=["issued_count", "cost_committed", "updated_at"])
    if grant.points_entry_id:
        member_services.points_reverse(entry=grant.points_entry, reason=Reason("grant_refund", {"reason": reason}), actor=actor)
    outbox_emit_many(events=grant_event(EventType.GRANT_REVOKED, grant), types=[EventType.GRANT_REVOKED])
    return grant


def grants_expire_due(*, now: datetime | None = None, chunk_size: int = 5000) -> int:
    """Mark issued grants past their validity as expired, a chunk per statement; safe to re-run."""
    now = now or timezone.now()
    total = 0
    while True:
        ids = list(
            Grant.objects.filter(state=GrantState.ISSUED, valid_until__lte=now).order_by("pk").values_list("pk", flat=True)[:chunk_size]
        )
        if not ids:
            return total
        total += Grant.objects.filter(pk__in=ids, state=GrantState.ISSUED).update(state=GrantState.EXPIRED, closed_at=now)


# Points mall ------------------------------------------------------------------------------------


@transaction.atomic
def mall_exchange(*, member: Member, benefit: Benefit, client: ApiClient | None = None, actor: User | None = None) -> Grant:
    """Buy a benefit with points: the debit and the grant commit together or not at all."""
    benefit = lock_benefit(benefit_id=benefit.pk)
    if not benefit.points_price:
        raise ApplicationError("not_in_mall", _("This benefit is not sold for points."), http_status=409)
    _require_grantable(benefit)
    entry = member_services.points_spend(
        member=member,
        amount=benefit.points_price,
        reason=Reason("points_mall", {"benefit": translated_param(benefit, "name")}),
        source_ref=f"mall:benefit:{benefit.pk}",
        client=client,
        actor=actor,
    )
    return grant_issue(benefit=benefit, member=member, source=GrantSource.POINTS_MALL, client=client, actor=actor, points_entry=entry)


# Tier benefits ----------------------------------------------------------------------------------


def tier_benefits_grant_for_promotions(*, since: datetime | None = None) -> int:
    """Grant each promoted member the new tier's on-promotion benefits, once per promotion.

    Promotions are read from the members' tier history (members cannot call benefits), so this job is
    the only path and it is idempotent: each grant carries ``tierchange:<id>`` as its source reference.
    """
    since = since or timezone.now() - timedelta(days=7)
    granted = 0
    by_tier: dict[int, list[Benefit]] = {}
    for link in TierBenefit.objects.filter(recurrence=Recurrence.ON_PROMOTION).select_related("benefit"):
        by_tier.setdefault(link.tier_id, []).append(link.benefit)
    changes = TierChange.objects.filter(kind=TierChangeKind.PROMOTION, created_at__gte=since, to_tier_id__in=by_tier).order_by("pk")
    for change in changes.iterator():
        for benefit in by_tier[change.to_tier_id]:
            granted += _grant_quietly(benefit, change.member_id, f"tierchange:{change.pk}")
    return granted


def tier_benefits_grant_recurring(*, now: datetime | None = None) -> int:
    """Monthly, yearly and birthday tier benefits, once per period per member (set-based per benefit)."""
    now = now or timezone.now()
    local = timezone.localtime(now)
    granted = 0
    for link in TierBenefit.objects.exclude(recurrence=Recurrence.ON_PROMOTION).select_related("benefit"):
        members = Member.objects.filter(tier_id=link.tier_id, status=MemberStatus.ACTIVE)
        if link.recurrence == Recurrence.MONTHLY:
            period = f"{local:%Y-%m}"
        elif link.recurrence == Recurrence.YEARLY:
            period = f"{local:%Y}"
        else:
            members = members.filter(birthday__month=local.month, birthday__day=local.day)
            period = f"birthday-{local:%Y}"
        member_ids = list(members.values_list("pk", flat=True))
        if link.benefit.status != BenefitStatus.ACTIVE or not member_ids:
            continue
        result = grants_issue_bulk(
            benefit=link.benefit, member_ids=member_ids, source=GrantSource.TIER_BENEFIT, source_ref=f"tier:{link.tier_id}:{period}"
        )
        granted += result.issued
    return granted


def _grant_quietly(benefit: Benefit, member_id: int, source_ref: str) -> int:
    """One tier grant inside a job: a refusal (stock, limit, already granted) is the job's answer, not its failure."""
    try:
        grant_issue(benefit=benefit, member=Member(pk=member_id), source=GrantSource.TIER_BENEFIT, source_ref=source_ref)
    except (ApplicationError, IntegrityError):
        return 0
    return 1
