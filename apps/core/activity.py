"""Member activity that an app announces or reports, for whoever reacts to it, without importing each other.

Two kinds of listener:

- **Recorders** (the analytics app) get what our own services announce. A service that did something a member
  counts as activity — a redemption, a check-in, a referral — calls ``activity_happened(...)`` explicitly, in its
  own transaction. After that transaction commits, each registered recorder gets the event; a recorder's failure is
  logged and never undoes the business change. Recorders are idempotent by ``event_id``, so a backfill can replay the
  same events safely.
- **Handlers** react to an event the moment it is first stored, inside the storing transaction, because their effect
  is part of the answer (a purchase's earned points are in the ingest API's reply). Members registers purchase earning,
  campaigns the referral qualification on a first purchase. Each handler runs in its own savepoint, so a refused
  reaction (an ``ApplicationError``) writes nothing of its own and neither loses the stored event nor stops the others.
- **Batch handlers** get every newly stored event of one store at once — a batch of up to a thousand from the ingest
  API, or one event our own services announced — so that work over many events (earning rules, task progress) is done
  set-based per batch rather than one query per event. They run before the per-event handlers, in the same
  transaction, in two steps: each decides under the locks of its own rows and may return a *payer*; once every batch
  handler has decided, the members the store may pay are locked at once with their points accounts, in key order
  (the registered member locker), with the members a reaction pays besides the events' own (a referral's referrer,
  named by a registered finder), and then the payers run. So one store takes its locks in one order — velocity
  scopes (guards) → task progress → rule → cap counters → members with their points accounts — and never a benefit:
  grants are left pending for a worker (``apps.benefits.services.grants_defer``). A batch handler registers with it
  what concerns it (``concerns``: from its cached configuration, whether a store of these kinds may give it anything to
  do); a store that concerns no handler opens no savepoint and runs no handler's query.
- **Batch guards** run before a batch is stored, with what is about to be stored (``activity_batch``), and take the
  locks that must come first in the store's transaction (abuse control's velocity scopes).

``activities_stored(...)`` runs both kinds for a list of newly stored events and returns the points each event earned.
"""

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.models import ApiClient

logger = logging.getLogger(__name__)

Recorder = Callable[..., Any]
RECORDERS: list[Recorder] = []


@dataclass(frozen=True)
class StoredActivity:
    """An activity event as just stored: ``first_of_kind`` says no earlier event of its kind exists for the member."""

    pk: int
    member_id: int
    kind: str
    event_id: str
    source: str
    occurred_at: datetime
    amount: Decimal | None
    first_of_kind: bool
    client: ApiClient | None = None
    channel: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    device_id: str = ""
    client_ip: str | None = None
    # False for events recorded without their rewards (members migrated by an import): reactions that pay skip them.
    rewarded: bool = True


@dataclass(frozen=True)
class AnnouncedActivity:
    """One of our own events, stored at once with others by ``activities_announce``."""

    member_id: int
    kind: str
    event_id: str
    occurred_at: datetime
    channel: str = ""


# A handler returns the points the event earned the member (None or 0 when it earned none).
ActivityHandler = Callable[[StoredActivity], int | None]
HANDLERS: defaultdict[str, list[ActivityHandler]] = defaultdict(list)
# A batch handler returns the points it awarded, by the event's ``pk`` (events that earned nothing may be left out), or
# a payer that pays what it decided and returns those points once every batch handler has taken its own locks.
ActivityPayer = Callable[[], Mapping[int, int]]
ActivityBatchHandler = Callable[[Sequence[StoredActivity]], Mapping[int, int] | ActivityPayer]
BATCH_HANDLERS: list[ActivityBatchHandler] = []
# Whether a store of events of these kinds may give a batch handler anything to do, from its cached configuration: a
# False must be certain (the handler is then not run), a True may be a false alarm (the handler finds nothing to do).
ActivityConcern = Callable[[frozenset[str]], bool]
_CONCERNS: dict[ActivityBatchHandler, ActivityConcern] = {}


@dataclass(frozen=True)
class IncomingActivity:
    """An event about to be stored, as a batch guard sees it."""

    member_id: int
    kind: str
    device_id: str = ""
    client_ip: str | None = None


ActivityBatchGuard = Callable[[Sequence[IncomingActivity]], None]
BATCH_GUARDS: list[ActivityBatchGuard] = []
# Locks the members a store may pay (with their points accounts), given their ids in key order.
MemberLocker = Callable[[Sequence[int]], None]
MEMBER_LOCKERS: list[MemberLocker] = []
# Names the members a store's reactions may pay besides the events' own (a referral's referrer), given the events.
PaidMemberFinder = Callable[[Sequence[StoredActivity]], Iterable[int]]
PAID_MEMBER_FINDERS: list[PaidMemberFinder] = []
_BATCH_MEMO: ContextVar[dict[str, Any] | None] = ContextVar("activity_batch_memo", default=None)


def register_activity_recorder(recorder: Recorder) -> None:
    if recorder not in RECORDERS:
        RECORDERS.append(recorder)


def register_activity_handler(kind: str, handler: ActivityHandler) -> None:
    """React to every newly stored event of ``kind``; handlers run in the order they were registered (app order)."""
    if handler not in HANDLERS[kind]:
        HANDLERS[kind].append(handler)


def register_activity_batch_handler(handler: ActivityBatchHandler, *, concerns: ActivityConcern) -> None:
    """React, with the whole list at once (in app order), to every store of new events that ``concerns`` the handler."""
    if handler not in BATCH_HANDLERS:
        BATCH_HANDLERS.append(handler)
    _CONCERNS[handler] = concerns


ActivityBatchRecorder = Callable[[Sequence[AnnouncedActivity], bool, bool], int]
BATCH_RECORDERS: list[ActivityBatchRecorder] = []


def register_activity_batch_recorder(recorder: ActivityBatchRecorder) -> None:
    if recorder not in BATCH_RECORDERS:
        BATCH_RECORDERS.append(recorder)


def activities_announce(*, events: Sequence[AnnouncedActivity], rewards: bool, new_members: bool = False) -> int:
    """Store many of our own events now, in the caller's transaction, set-based, and run their reactions; the events
    newly stored (an event id already stored is skipped, so a re-run announces nothing).

    For a caller that writes many members at once (the import). With ``rewards`` False the events are stored and every
    reaction sees them but those that pay (earning rules, tasks), which skip events not ``rewarded``. ``new_members``
    says every member of ``events`` was created in the caller's transaction (no earlier event of theirs exists), which
    spares the recorder looking for one.
    """
    if not events:
        return 0
    return sum(recorder(events, rewards, new_members) for recorder in BATCH_RECORDERS)


def register_activity_batch_guard(guard: ActivityBatchGuard) -> None:
    """Run ``guard`` before every batch is stored, in the storing transaction (abuse control's velocity locks)."""
    if guard not in BATCH_GUARDS:
        BATCH_GUARDS.append(guard)


@contextmanager
def activity_batch(incoming: Sequence[IncomingActivity]) -> Iterator[None]:
    """Around storing one batch and running its reactions, inside the storing transaction: the guards first, and a
    memo (``batch_memo``) that lets a reaction read per-batch configuration once however many steps need it."""
    token = _BATCH_MEMO.set({})
    try:
        for guard in BATCH_GUARDS:
            guard(incoming)
        yield
    finally:
        _BATCH_MEMO.reset(token)


def batch_memo() -> dict[str, Any] | None:
    """The current batch's memo, None outside ``activity_batch``."""
    return _BATCH_MEMO.get()


def register_activity_member_locker(locker: MemberLocker) -> None:
    """Lock, once per store and before any reaction pays, every member it may pay (the members app's lock)."""
    if locker not in MEMBER_LOCKERS:
        MEMBER_LOCKERS.append(locker)


def register_activity_paid_members(finder: PaidMemberFinder) -> None:
    """Name the members a reaction pays that are not the events' own (a referrer rewarded for the referee's first
    purchase), so that the store's one member lock takes them too, in the same ordered statement."""
    if finder not in PAID_MEMBER_FINDERS:
        PAID_MEMBER_FINDERS.append(finder)


def has_activity_handlers(kind: str) -> bool:
    """Whether any reaction is registered that an event of ``kind`` could earn points from (the ingest answers each
    such event with its points, zero included)."""
    return bool(HANDLERS.get(kind)) or bool(BATCH_HANDLERS)


def _concerned_batch_handlers(kinds: frozenset[str]) -> list[ActivityBatchHandler]:
    """The batch handlers a store of ``kinds`` concerns, asked once per batch (their answers read caches)."""
    memo = batch_memo()
    answers: dict[frozenset[str], list[ActivityBatchHandler]] = {} if memo is None else memo.setdefault("concerned_batch_handlers", {})
    if kinds not in answers:
        answers[kinds] = [handler for handler in BATCH_HANDLERS if _CONCERNS[handler](kinds)]
    return answers[kinds]


def activity_reactions_concern(kinds: Iterable[str]) -> bool:
    """Whether a store of new events of ``kinds`` has any reaction to run: a per-event handler of one of the kinds, or a
    batch handler it concerns. When not, the store needs nothing but its own rows (not even the first-of-kind read)."""
    kinds = frozenset(kinds)
    return any(HANDLERS.get(kind) for kind in kinds) or bool(_concerned_batch_handlers(kinds))


def activity_stored(event: StoredActivity) -> int:
    """Run the handlers of the event's kind in the current transaction; the points they earned the member."""
    earned = 0
    for handler in HANDLERS.get(event.kind, []):
        try:
            with transaction.atomic():
                earned += handler(event) or 0
        except ApplicationError as exc:
            logger.warning("%s of %s %s changed nothing: %s", handler.__qualname__, event.kind, event.event_id, exc)
    return earned


def activities_stored(events: Sequence[StoredActivity]) -> dict[int, int]:
    """Run the batch handlers, their payers, then the per-event handlers, for newly stored events; the points earned
    by event ``pk``.

    Batch handlers first, so their own rows (task progress, rule budgets, cap counters) are locked before any member
    or points account, as the product's lock order says. Then every member a payer or a per-event handler (purchase
    earning) may pay is locked with its account by one statement, in key order, before the first of them pays: the
    payers and handlers lock members and accounts in several statements, each in its own order, which a campaign
    chunk locking the same members in key order could otherwise meet crosswise (a deadlock).

    A batch handler's decision runs in one savepoint: a refusal (``ApplicationError``) undoes only that handler's
    writes for the whole batch, so it must refuse only what is wrong with the batch as a whole and settle per-event
    problems itself. A payer is not in a savepoint of its own: it pays what its handler
    already recorded, so a refusal there fails the whole store rather than leave a decision unpaid.
    """
    earned: dict[int, int] = {event.pk: 0 for event in events}
    if not events:
        return earned

    def add(points_by_event: Mapping[int, int]) -> None:
        for pk, points in points_by_event.items():
            earned[pk] = earned.get(pk, 0) + (points or 0)

    payers: list[ActivityPayer] = []
    for handler in _concerned_batch_handlers(frozenset(event.kind for event in events)):
        try:
            with transaction.atomic():
                outcome = handler(events)
        except ApplicationError as exc:
            logger.warning("%s of a batch of %d events changed nothing: %s", handler.__qualname__, len(events), exc)
            continue
        if callable(outcome):
            payers.append(outcome)
        else:
            add(outcome)
    paid_members = {event.member_id for event in events if payers or HANDLERS.get(event.kind)}
    if paid_members:
        for finder in PAID_MEMBER_FINDERS:
            paid_members.update(finder(events))
        for locker in MEMBER_LOCKERS:
            locker(sorted(paid_members))
    for payer in payers:
        add(payer())
    for event in events:
        earned[event.pk] += activity_stored(event)
    return earned


def activity_happened(
    *,
    member_id: int,
    kind: str,
    event_id: str,
    occurred_at: datetime | None = None,
    channel: str = "",
    amount: Decimal | None = None,
    order_ref: str = "",
    nps_score: int | None = None,
    properties: dict[str, Any] | None = None,
) -> None:
    """Announce one activity; recorders run once the current transaction commits.

    ``properties`` carry what the kind is about (the dealer's code, the product, the survey …) for rules and analytics.
    """
    event = {
        "member_id": member_id,
        "kind": kind,
        "event_id": event_id,
        "occurred_at": occurred_at or timezone.now(),
        "channel": channel,
        "amount": amount,
        "order_ref": order_ref,
        "nps_score": nps_score,
        "properties": properties or {},
    }

    def deliver() -> None:
        for recorder in RECORDERS:
            try:
                recorder(**event)
            except Exception:
                logger.exception("activity recorder %r failed for %s", recorder, event_id)

    transaction.on_commit(deliver)
