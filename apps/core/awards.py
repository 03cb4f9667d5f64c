"""Screening of awards before they are paid, without the paying app and the screening apps importing each other.

An app that pays for behaviour (earning rules, tasks) computes its candidate awards for a batch of activities, then
asks ``awards_screen(...)`` which of them to hold for review instead of paying. Abuse control registers a screen
(velocity limits, blocklists) from its ``AppConfig.ready()``. A screen reads; it never writes what the payer owns, and
it sees the whole batch at once so that it can count set-based. A held award is kept by the payer, unpaid, with the
reasons given here, until staff release or reject it.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from apps.core.activity import StoredActivity


@dataclass(frozen=True)
class CandidateAward:
    """What one rule would pay one member for one activity."""

    member_id: int
    activity: StoredActivity
    source: str  # who pays: "rule:<id>", "task:<id>"
    points: int = 0
    growth: int = 0
    benefit_id: int | None = None

    @property
    def occurred_at(self) -> datetime:
        return self.activity.occurred_at


# A screen gets every candidate of a batch and returns the reasons to hold some of them, by index into the list.
AwardScreen = Callable[[Sequence[CandidateAward]], Mapping[int, str]]
SCREENS: list[AwardScreen] = []


def register_award_screen(screen: AwardScreen) -> None:
    if screen not in SCREENS:
        SCREENS.append(screen)


def awards_screen(candidates: Sequence[CandidateAward]) -> dict[int, list[str]]:
    """The reasons, by index into ``candidates``, to hold awards for review; an index not in the answer is paid."""
    held: dict[int, list[str]] = {}
    if not candidates:
        return held
    for screen in SCREENS:
        for index, reason in screen(candidates).items():
            held.setdefault(index, []).append(reason)
    return held
