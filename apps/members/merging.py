"""Merging duplicate members: every app moves its own rows from the merged member to the survivor.

Members owns the merge itself (finding duplicates, choosing the survivor, the audit, the redirect); each app that keeps
rows about a member registers a mover in its ``AppConfig.ready()``. Movers run in the merge's transaction, with both
members locked, in registration (app) order; a mover that finds data it cannot combine (two active memberships of the
same club with different roles, say) reports it through ``conflicts`` before anything moves, so the agent chooses.
"""

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Exists, OuterRef

from apps.members.models import Member


@dataclass(frozen=True)
class MergeConflict:
    """Data both members hold that cannot be combined without a person choosing: shown side by side."""

    section: str
    field: str
    label: Any
    survivor_value: Any
    merged_value: Any
    # Personal data (a personal attribute): masked on the merge page for staff without the personal-data right.
    personal: bool = False


@dataclass(frozen=True)
class MemberMerger:
    name: str
    # move(survivor, merged) -> rows moved, by what they are (for the merge's audit record).
    move: Callable[[Member, Member], dict[str, int]]
    # conflicts(survivor, merged) -> what the agent must decide before the merge may run.
    conflicts: Callable[[Member, Member], Sequence[MergeConflict]] | None = None


MEMBER_MERGERS: list[MemberMerger] = []


def register_member_merger(
    *,
    name: str,
    move: Callable[[Member, Member], dict[str, int]],
    conflicts: Callable[[Member, Member], Sequence[MergeConflict]] | None = None,
) -> None:
    if any(merger.name == name for merger in MEMBER_MERGERS):
        return
    MEMBER_MERGERS.append(MemberMerger(name, move, conflicts))


# What the agent chose for each conflict, keyed "section.field" → "survivor" or "merged": the merge sets it around the
# movers, so a mover that reported a conflict reads the decision with ``merge_choice`` (``move`` takes only the members).
_CHOICES: ContextVar[dict[str, str]] = ContextVar("member_merge_choices", default={})  # noqa: B039 - never mutated
SURVIVOR, MERGED = "survivor", "merged"


def conflict_key(conflict: MergeConflict) -> str:
    return f"{conflict.section}.{conflict.field}"


@contextmanager
def merge_choices(choices: dict[str, str]) -> Iterator[None]:
    token = _CHOICES.set(dict(choices))
    try:
        yield
    finally:
        _CHOICES.reset(token)


def merge_choice(section: str, field: str) -> str:
    """The side the agent chose for a conflict a mover reported (the survivor's when the mover reported none)."""
    return _CHOICES.get().get(f"{section}.{field}", SURVIVOR)


def reassign(model: type[models.Model], *, survivor: Member, merged: Member, field: str = "member", unique_with: Sequence[str] = ()) -> int:
    """Point the merged member's rows of ``model`` at the survivor in one UPDATE; returns how many moved.

    ``unique_with`` names the other columns of a unique constraint with the member: a row whose twin the survivor
    already holds stays with the merged member (where its history stays readable) rather than break the constraint.
    """
    rows = model._default_manager.filter(**{field: merged})
    if unique_with:
        twin = model._default_manager.filter(**{field: survivor}, **{name: OuterRef(name) for name in unique_with})
        rows = rows.exclude(Exists(twin))
    return rows.update(**{field: survivor})


@dataclass(frozen=True)
class DuplicateSource:
    """Pairs of members another app's tables say are one person: ``sql`` selects ``(member_a, member_b, score)`` with
    ``member_a < member_b`` and a score of 0–100; the duplicates job inserts them set-based with ``reason``."""

    reason: str
    sql: str


DUPLICATE_SOURCES: list[DuplicateSource] = []


def register_duplicate_source(*, reason: str, sql: str) -> None:
    if any(source.reason == reason for source in DUPLICATE_SOURCES):
        return
    DUPLICATE_SOURCES.append(DuplicateSource(reason, sql))
