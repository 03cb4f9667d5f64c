import hashlib
import re
from collections import OrderedDict, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, QuerySet, Sum
from django.db.models.functions import Abs
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from psycopg.sql import Literal

from apps.core.errors import ApplicationError
from apps.core.models import User
from apps.members.filters import MemberFilter
from apps.members.models import (
    AdjustmentState,
    Consent,
    ConsentChannel,
    GrowthAdjustment,
    Member,
    MemberStatus,
    MemberToken,
    PointsAccount,
    PointsAdjustment,
    PointsEntry,
    PointsLot,
    Tier,
    TierChange,
)
from apps.members.profile_sections import PROFILE_SECTION_PERMISSIONS, PROFILE_SECTIONS
from apps.members.tier_rules import TierRule, decide, standings
from apps.members.timeline import (
    TIMELINE_SOURCE_PERMISSIONS,
    TIMELINE_SOURCES,
    TIMELINE_SOURCES_SHOWN_TO_MEMBER,
    TimelineCursor,
    TimelineItem,
    TimelineSource,
)


def point_value() -> Decimal:
    """What one point is worth in CNY (``USEROPS_POINT_VALUE_YUAN``), exact: never a float."""
    return Decimal(str(settings.USEROPS["POINT_VALUE_YUAN"]))


def points_cost(points: int) -> Decimal:
    """What ``points`` cost the programme, in CNY with two places."""
    return (Decimal(points) * point_value()).quantize(Decimal("0.01"))


def adjust_allowance_left(*, actor: User, now: datetime | None = None) -> int | None:
    """Points ``actor`` may still adjust today on their own authority; None means no limit.

    The day is the operator's calendar day; adjustments another person approved do not use the allowance.
    """
    if actor.has_perm("members.adjust_points_unlimited"):
        return None
    if not actor.has_perm("members.adjust_points"):
        return 0
    day_start = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    used = PointsAdjustment.objects.filter(requested_by=actor, state=AdjustmentState.APPLIED, requested_at__gte=day_start).aggregate(
        total=Sum(Abs("amount"))
    )["total"]
    return max(settings.USEROPS["CUSTOMER_SERVICE_DAILY_ADJUST_LIMIT"] - (used or 0), 0)


def growth_adjust_allowance_left(*, actor: User, now: datetime | None = None) -> int | None:
    """Growth value ``actor`` may still adjust today on their own authority; None means no limit (as for points)."""
    if actor.has_perm("members.adjust_growth_unlimited"):
        return None
    if not actor.has_perm("members.adjust_growth"):
        return 0
    day_start = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    used = GrowthAdjustment.objects.filter(requested_by=actor, state=AdjustmentState.APPLIED, requested_at__gte=day_start).aggregate(
        total=Sum(Abs("amount"))
    )["total"]
    return max(settings.USEROPS["CUSTOMER_SERVICE_DAILY_GROWTH_ADJUST_LIMIT"] - (used or 0), 0)


def points_adjustments_pending() -> QuerySet[PointsAdjustment]:
    return PointsAdjustment.objects.filter(state=AdjustmentState.PENDING).select_related("member", "requested_by")


def member_list(*, filters: dict[str, Any] | None = None) -> QuerySet[Member]:
    queryset = Member.objects.select_related("tier", "points_account", "growth")
    filterset = MemberFilter(data=filters or {}, queryset=queryset)
    if not filterset.is_valid():
        raise ApplicationError("invalid_filter", _("Invalid filters."), fields=filterset.errors)
    return filterset.qs


def member_get(*, pk: int) -> Member:
    """The member, or the survivor it was merged into: lookups of a merged duplicate answer with the record that lives."""
    try:
        member = Member.objects.select_related("tier", "points_account", "growth").get(pk=pk)
    except Member.DoesNotExist as exc:
        raise ApplicationError("not_found", _("No such member."), http_status=404) from exc
    return member_get(pk=member.merged_into_id) if member.merged_into_id else member


def member_not_found() -> ApplicationError:
    """The one answer for an identity that names no member: callers that must not tell other refusals apart from it
    raise this too."""
    return ApplicationError("not_found", _("No such member."), http_status=404)


def member_by_identity(*, member_id: int | None = None, external_id: str | None = None, phone: str | None = None) -> Member:
    filters: dict[str, Any] = {}
    if member_id:
        filters["pk"] = member_id
    if external_id:
        filters["external_id"] = external_id
    if phone:
        filters["phone"] = phone
    member = Member.objects.filter(**filters).first() if filters else None
    if member is None:
        raise member_not_found()
    return member_get(pk=member.merged_into_id) if member.merged_into_id else member


def member_ledger(*, member: Member) -> QuerySet[PointsEntry]:
    return PointsEntry.objects.filter(account__member=member).select_related("actor", "client").order_by("-created_at", "-id")


def points_entry_get(*, pk: int) -> PointsEntry:
    try:
        return PointsEntry.objects.select_related("account").get(pk=pk)
    except PointsEntry.DoesNotExist as exc:
        raise ApplicationError("not_found", _("No such ledger entry."), http_status=404) from exc


def member_tier_history(*, member: Member) -> QuerySet[TierChange]:
    return TierChange.objects.filter(member=member).select_related("from_tier", "to_tier", "actor")


@dataclass(frozen=True)
class TierProgress:
    tier: Tier
    growth_value: int
    next_tier: Tier | None
    needed_for_next: int
    guaranteed_until: datetime | None


def _tier_held_until(member: Member, guarantee_days: int) -> datetime | None:
    """Until when the member keeps the tier whatever happens: the guarantee period, or a staff assignment's end (an
    invitation-only tier is held only by its assignment)."""
    assigned = member.tier_assigned_until
    if member.tier.invitation_only:
        return assigned
    guaranteed = member.tier_achieved_at + timedelta(days=guarantee_days) if member.tier.rank else None
    return max(guaranteed, assigned) if guaranteed and assigned else guaranteed or assigned


def member_tier_progress(*, member: Member, guarantee_days: int) -> TierProgress:
    # The next tier a member can earn: invitation-only tiers are given by staff, not reached by growth.
    next_tier = Tier.objects.filter(rank__gt=member.tier.rank, invitation_only=False).order_by("rank").first()
    return TierProgress(
        tier=member.tier,
        growth_value=member.growth_value,
        next_tier=next_tier,
        needed_for_next=max(next_tier.threshold - member.growth_value, 0) if next_tier else 0,
        guaranteed_until=_tier_held_until(member, guarantee_days),
    )


@dataclass(frozen=True)
class PointsSummary:
    balance: int
    next_expiry_at: datetime | None
    next_expiry_amount: int


def member_points_summary(*, member: Member) -> PointsSummary:
    account = PointsAccount.objects.get(member=member)
    open_lots = PointsLot.objects.filter(account=account, remaining__gt=0, expires_at__isnull=False)
    next_expiry = open_lots.aggregate(at=Min("expires_at"))["at"]
    amount = open_lots.filter(expires_at=next_expiry).aggregate(total=Sum("remaining"))["total"] if next_expiry else 0
    return PointsSummary(balance=account.balance, next_expiry_at=next_expiry, next_expiry_amount=amount or 0)


@dataclass(frozen=True)
class ConsentState:
    channel: str
    label: str
    granted: bool
    changed_at: datetime | None


@dataclass(frozen=True)
class MemberProfile:
    """What the member page's header shows: plain values, read in a handful of queries."""

    tier: TierProgress
    progress_percent: int
    points: PointsSummary
    consents: list[ConsentState]
    tags: list[str]


def member_profile(*, member: Member, guarantee_days: int) -> MemberProfile:
    tier = member_tier_progress(member=member, guarantee_days=guarantee_days)
    progress = 100
    if tier.next_tier is not None:
        span = max(tier.next_tier.threshold - tier.tier.threshold, 1)
        progress = min(max((tier.growth_value - tier.tier.threshold) * 100 // span, 0), 100)
    given = {consent.channel: consent for consent in Consent.objects.filter(member=member)}
    consents = [
        ConsentState(
            channel=channel,
            label=str(label),
            granted=channel in given and given[channel].granted,
            changed_at=given[channel].changed_at if channel in given else None,
        )
        for channel, label in ConsentChannel.choices
    ]
    return MemberProfile(
        tier=tier,
        progress_percent=progress,
        points=member_points_summary(member=member),
        consents=consents,
        tags=sorted(member.tags.values_list("name", flat=True)),
    )


def member_token_lookup(*, token_hash: str) -> MemberToken | None:
    """A usable token: not expired or revoked, its member not closed, and the API client that obtained it still active."""
    token = MemberToken.objects.select_related("member", "member__tier", "client").filter(token_hash=token_hash).first()
    if (
        token is None
        or not token.is_valid
        or token.member.status in (MemberStatus.CLOSED, MemberStatus.PROSPECT)
        or not token.client.is_active
    ):
        return None
    return token


@dataclass(frozen=True)
class ProgrammeOverview:
    members_by_tier: list[tuple[Tier, int]]
    members_total: int
    new_members_this_week: int
    points_outstanding: int
    members_by_status: dict[str, int]


def programme_overview(*, now: datetime | None = None) -> ProgrammeOverview:
    now = now or timezone.now()
    # Prospects have not enrolled: they are counted by status, never as members of a tier or new members.
    enrolled = Member.objects.exclude(status=MemberStatus.PROSPECT)
    counts = dict(enrolled.values_list("tier").annotate(n=Count("id")).order_by())
    tiers = list(Tier.objects.order_by("rank"))
    by_status = dict(Member.objects.values_list("status").annotate(n=Count("id")).order_by())
    week_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week_start -= timedelta(days=week_start.weekday())
    return ProgrammeOverview(
        members_by_tier=[(tier, counts.get(tier.pk, 0)) for tier in tiers],
        members_total=sum(counts.values()),
        new_members_this_week=enrolled.filter(joined_at__gte=week_start).count(),
        points_outstanding=PointsAccount.objects.aggregate(total=Sum("balance"))["total"] or 0,
        members_by_status=by_status,
    )


@dataclass(frozen=True)
class PointsDiscrepancy:
    account_id: int
    balance: int
    ledger_sum: int
    lot_sum: int


def points_discrepancies() -> list[PointsDiscrepancy]:
    """Accounts whose balance differs from the sum of their ledger or of their open lots (one SQL statement)."""
    sql = """
        SELECT a.id, a.balance, COALESCE(e.total, 0), COALESCE(l.total, 0)
        FROM members_pointsaccount a
        LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM members_pointsentry GROUP BY account_id) e ON e.account_id = a.id
        LEFT JOIN (SELECT account_id, SUM(remaining) AS total FROM members_pointslot GROUP BY account_id) l ON l.account_id = a.id
        WHERE a.balance <> COALESCE(e.total, 0) OR a.balance <> COALESCE(l.total, 0)
        ORDER BY a.id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [PointsDiscrepancy(*row) for row in cursor.fetchall()]


def active_member_ids(*, member_ids: list[int]) -> set[int]:
    """Which of ``member_ids`` belong to active members (one query, for a chunk of a bulk job)."""
    return set(Member.objects.filter(pk__any_of=member_ids, status=MemberStatus.ACTIVE).values_list("pk", flat=True))


def member_ids_with_consent(*, member_ids: list[int], channel: str) -> set[int]:
    """Which of ``member_ids`` have granted marketing consent for ``channel`` (one query)."""
    return set(Consent.objects.filter(member_id__in=member_ids, channel=channel, granted=True).values_list("member_id", flat=True))


@dataclass(frozen=True)
class TierCount:
    tier_id: int
    name: str
    invitation_only: bool
    now: int
    after_evaluation: int
    qualified: int


def tiers_what_if(*, rules: Sequence[TierRule], now: datetime | None = None, chunk_size: int = 5000) -> list[TierCount]:
    """How many active members sit in each tier today, and how many would after an evaluation with ``rules`` (the
    thresholds and conditions proposed, one per tier): the same decision as the nightly evaluation (assignments and
    the guarantee period hold members), and how many qualify outright. Reads only; chunked, one query per metric per
    chunk."""
    now = now or timezone.now()
    rules = sorted(rules, key=lambda rule: rule.rank)
    current: dict[int, int] = defaultdict(int)
    after: dict[int, int] = defaultdict(int)
    qualified: dict[int, int] = defaultdict(int)
    last_pk = 0
    members = Member.objects.filter(status=MemberStatus.ACTIVE).only("pk", "tier_id", "tier_achieved_at", "tier_assigned_until")
    while True:
        chunk = list(members.filter(pk__gt=last_pk).order_by("pk")[:chunk_size])
        if not chunk:
            break
        figures = standings([member.pk for member in chunk], rules, now)
        for member in chunk:
            decision = decide(member, rules, figures[member.pk], now)
            current[member.tier_id] += 1
            after[decision.target.tier_id] += 1
            qualified[decision.qualified.tier_id if decision.qualified else decision.target.tier_id] += 1
        last_pk = chunk[-1].pk
    return [
        TierCount(
            tier_id=rule.tier_id,
            name=rule.name,
            invitation_only=rule.invitation_only,
            now=current[rule.tier_id],
            after_evaluation=after[rule.tier_id],
            qualified=qualified[rule.tier_id],
        )
        for rule in rules
    ]


@dataclass(frozen=True)
class TimelinePage:
    items: list[TimelineItem]
    # Where the next older page starts; None on the oldest page.
    older: TimelineCursor | None


def _sort_key(item: TimelineItem) -> tuple[datetime, str, int]:
    return (item.at, item.source, item.item_id)


def timeline_sources_for(*, user: User | None = None, for_member: bool = False) -> list[TimelineSource]:
    """The sources a staff user may read (their app's permission, when it names one), or those the member may read."""
    if for_member:
        return [source for source in TIMELINE_SOURCES if source.name in TIMELINE_SOURCES_SHOWN_TO_MEMBER]
    return [
        source
        for source in TIMELINE_SOURCES
        if user is not None and (source.name not in TIMELINE_SOURCE_PERMISSIONS or user.has_perm(TIMELINE_SOURCE_PERMISSIONS[source.name]))
    ]


def _timeline_window(*, member: Member, sources: Sequence[TimelineSource], before: TimelineCursor | None, limit: int) -> list[TimelineItem]:
    """The newest ``limit`` items of ``sources`` older than ``before``, in (time, source, id) order, newest first.

    On PostgreSQL one query: a UNION ALL of each source's branch (its own index range from the cursor, LIMIT
    ``limit``) carrying the display columns as JSON, merged and limited by the database, so a page costs one round trip
    whatever the number of sources. A database that cannot order and limit inside a compound query (SQLite) reads each
    source on its own and merges here.
    """
    if not sources:
        return []
    if not connection.features.supports_slicing_ordering_in_compound:
        merged = sorted((item for source in sources for item in source.fetch(member, before, limit)), key=_sort_key, reverse=True)
        return merged[:limit]
    statement = _timeline_page_statement(
        tuple(source.name for source in sources),
        None if before is None else _same_order_as(before.source, [source.name for source in sources]),
        limit,
        translation.get_language(),
    )
    values = {"member": member.pk} | ({} if before is None else {"at": before.at, "item": before.item_id})
    page = _run_prepared(statement, values)
    by_source: dict[str, list[tuple[str, datetime, int, Any]]] = {}
    for row in page:
        by_source.setdefault(row[0], []).append(row)
    items = [item for source in sources if source.name in by_source for item in source.unpack(by_source[source.name])]
    return sorted(items, key=_sort_key, reverse=True)


# Stand-ins for the member and the cursor while a page's SQL is built; the read puts the real ones in their place.
_ANY_MEMBER = -918_273_645
_ANY_TIME = datetime(1901, 2, 3, 4, 5, 6, 789_012, tzinfo=UTC)
_ANY_ITEM = -918_273_646


def _same_order_as(cursor_source: str, names: Sequence[str]) -> str:
    """A name that compares with each of ``names`` as ``cursor_source`` does, from a bounded set: a forged cursor's
    source cannot grow the cache of page SQL."""
    if cursor_source in names:
        return cursor_source
    below = [name for name in names if name < cursor_source]
    return max(below) + "\x00" if below else ""


@dataclass(frozen=True)
class _PageStatement:
    name: str
    prepare: str
    # What goes in each parameter, in order: "member", "at" (the cursor's time), "item" (the cursor's id).
    roles: tuple[str, ...]
    # The same query with named parameters, for a connection that may not prepare statements.
    direct: str


_STAND_INS = {_ANY_MEMBER: ("member", "bigint"), _ANY_TIME: ("at", "timestamptz"), _ANY_ITEM: ("item", "bigint")}


@lru_cache(maxsize=256)
def _timeline_page_statement(names: tuple[str, ...], cursor_source: str | None, limit: int, language: str | None) -> _PageStatement:
    """The page's UNION ALL for these sources, cursor position among them, page size and language, as a statement to
    prepare: the member and the cursor are its parameters, everything else is written into the text.

    Building the union through the ORM costs several times what the database takes to run it, and planning its 22
    branches several times what running them takes; the text is the same for every member and page of the same shape,
    so it is built once here and planned once per connection (``_run_prepared``).
    """
    sources = {source.name: source for source in TIMELINE_SOURCES}
    member = Member(pk=_ANY_MEMBER)
    before = None if cursor_source is None else TimelineCursor(at=_ANY_TIME, source=cursor_source, item_id=_ANY_ITEM)
    with translation.override(language):
        first, *others = [sources[name].branch(member, before, limit, packed=True) for name in names]
        union = first.union(*others, all=True).order_by("-tl_at", "-tl_source", "-tl_id")[:limit] if others else first
        sql, params = union.query.sql_with_params()
    connection.ensure_connection()
    remaining, roles, text, direct = iter(params), [], [], []
    for piece in re.split(r"(%%|%s)", sql):
        if piece == "%%":
            text.append("%")
            direct.append("%%")
        elif piece == "%s":
            value = next(remaining)
            stand_in = _STAND_INS.get(value) if isinstance(value, int | datetime) and not isinstance(value, bool) else None
            if stand_in is None:
                # A constant of the shape (a source's name, an empty string): quoted by the driver, written in.
                constant = Literal(value).as_string(connection.connection)
                text.append(constant)
                direct.append(constant.replace("%", "%%"))
            else:
                if stand_in[0] not in roles:
                    roles.append(stand_in[0])
                text.append(f"${roles.index(stand_in[0]) + 1}")
                direct.append(f"%({stand_in[0]})s")
        else:
            text.append(piece)
            direct.append(piece)
    types = dict(_STAND_INS.values())
    body = "".join(text)
    name = "timeline_" + hashlib.sha256(body.encode()).hexdigest()[:20]
    arguments = f"({', '.join(types[role] for role in roles)})" if roles else ""
    return _PageStatement(name=name, prepare=f"PREPARE {name}{arguments} AS {body}", roles=tuple(roles), direct="".join(direct))


# Statements prepared on each database connection, oldest first; a connection keeps at most this many of ours.
_PREPARED: "WeakKeyDictionary[Any, OrderedDict[str, None]]" = WeakKeyDictionary()
PREPARED_PER_CONNECTION = 64


def _run_prepared(statement: _PageStatement, values: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The statement's rows, preparing it first on this connection if it is not yet. A prepared statement outlives a
    rolled-back transaction, so only a new connection prepares again; the oldest is let go past the limit, so filters
    chosen in many combinations cannot fill a connection's memory.

    Behind a transaction pooler (``DATABASE_POOLED``: the connection is told never to prepare) the next transaction may
    reach another server session, where the statement does not exist: the query text is sent each time instead.
    """
    connection.ensure_connection()
    if connection.settings_dict.get("OPTIONS", {}).get("prepare_threshold", 0) is None:
        with connection.cursor() as cursor:
            cursor.execute(statement.direct, values)
            return cursor.fetchall()
    prepared = _PREPARED.setdefault(connection.connection, OrderedDict())
    arguments = [values[role] for role in statement.roles]
    with connection.cursor() as cursor:
        if statement.name in prepared:
            prepared.move_to_end(statement.name)
        else:
            while len(prepared) >= PREPARED_PER_CONNECTION:
                oldest, _unused = prepared.popitem(last=False)
                cursor.execute(f"DEALLOCATE {oldest}")
            cursor.execute(statement.prepare)
            prepared[statement.name] = None
        cursor.execute(
            f"EXECUTE {statement.name}({', '.join(['%s'] * len(arguments))})" if arguments else f"EXECUTE {statement.name}", arguments
        )
        return cursor.fetchall()


def member_timeline(
    *,
    member: Member,
    sources: Sequence[TimelineSource],
    before: TimelineCursor | None = None,
    limit: int = 50,
    kinds: set[str] | None = None,
    rounds: int = 5,
) -> TimelinePage:
    """The member's items older than ``before``, newest first, merged from ``sources``.

    Each source reads at most ``limit + 1`` rows from its own index; the merge keeps the newest ``limit`` and the
    extra row tells whether an older page exists, so no source is ever counted or offset. A kind filter keeps the
    items of those kinds: a page that found too few reads on, at most ``rounds`` windows, and may come back short
    with an "older" cursor to go on from, so a rare kind never turns one page into a scan of the whole history.
    """
    shown: list[TimelineItem] = []
    cursor = before
    for _round in range(rounds if kinds else 1):
        merged = _timeline_window(member=member, sources=sources, before=cursor, limit=limit + 1)
        window = merged[:limit]
        shown += [item for item in window if not kinds or item.kind in kinds]
        if len(shown) >= limit:
            shown = shown[:limit]
            last = shown[-1]
            return TimelinePage(items=shown, older=TimelineCursor(at=last.at, source=last.source, item_id=last.item_id))
        if len(merged) <= limit:
            return TimelinePage(items=shown, older=None)
        last = window[-1]
        cursor = TimelineCursor(at=last.at, source=last.source, item_id=last.item_id)
    return TimelinePage(items=shown, older=cursor)


@dataclass(frozen=True)
class ProfilePanel:
    name: str
    label: str
    value: Any
    template: str


def member_profile_panels(*, member: Member, user: User | None = None, for_member: bool = False) -> list[ProfilePanel]:
    """The registered profile sections with something to show, in order: those the staff user may read, or those
    shown to the member."""
    panels = []
    for section in PROFILE_SECTIONS:
        if for_member and not section.shown_to_member:
            continue
        if not for_member:
            permission = PROFILE_SECTION_PERMISSIONS.get(section.name)
            if user is None or (permission and not user.has_perm(permission)):
                continue
        value = section.summary(member)
        if value is None or value == [] or value == {}:
            continue
        panels.append(ProfilePanel(name=section.name, label=str(section.label), value=value, template=section.template))
    return panels
