"""A club joined "by rule" may require a saved segment. Segments belong to campaigns, which events cannot import (both
are level 3), so the app above both (analytics) registers how to list segments and test a member against one."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.members.models import Member


@dataclass(frozen=True)
class SegmentRule:
    # The segments staff can pick, as (id, name).
    choices: Callable[[], list[tuple[int, Any]]]
    # Whether the member is in the segment now; False for a segment that no longer exists.
    contains: Callable[[int, Member], bool]
    name: Callable[[int], str]


_REGISTERED: list[SegmentRule] = []


def register_segment_rule(rule: SegmentRule) -> None:
    _REGISTERED[:] = [rule]


def segment_rule() -> SegmentRule | None:
    return _REGISTERED[0] if _REGISTERED else None
