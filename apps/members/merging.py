"""Merging duplicate members: every app moves its own rows from the merged member to the survivor.

Members owns the merge itself (finding duplicates, choosing the survivor, the audit, the redirect); each app that keeps
rows about a member registers a mover in its ``AppConfig.ready()``. Movers run in the merge's transaction, with both
members locked, in registration (app) order; a mover that finds data it cannot combine (two active memberships of the
same club with different roles, say) reports it through ``conflicts`` before anything moves, so the agent chooses.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from apps.members.models import Member


@dataclass(frozen=True)
class MergeConflict:
    """Data both members hold that cannot be combined without a person choosing: shown side by side."""

    section: str
    field: str
    label: Any
    survivor_value: Any
    merged_value: Any


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
