"""References the product builds from its own keys (``rule:12:activity:3456``), told apart from text someone typed.

A ledger row's reference is searched for the member's phone number and email before it is written, because a
reference a client or staff member supplies is free text. A reference made only of our own words and ids cannot
hold personal data, yet its digits joined can spell a phone number by chance (a rule id followed by an activity id
is eleven digits or more): ``system_ref`` builds such a reference, and the ledger stores it without that search.
"""

import re
from datetime import date, datetime

_WORD = re.compile(r"[a-z][a-z_-]*")


class SystemRef(str):
    """A reference built by ``system_ref``: words of our own and ids, nothing a person typed."""

    __slots__ = ()


def system_ref(*parts: str | int | date | datetime) -> SystemRef:
    """Join ``parts`` with ":"; each is a lower-case word without digits, an integer id, or a date or time.

    Anything else (text that came from outside, a number written as text) is refused with ``ValueError``: that is a
    programming error, not a user's, so it is not an ``ApplicationError``.
    """
    texts = []
    for part in parts:
        if isinstance(part, bool):
            raise ValueError(f"not a reference part: {part!r}")
        if isinstance(part, int):
            texts.append(str(part))
        elif isinstance(part, date | datetime):
            texts.append(part.isoformat())
        elif isinstance(part, str) and _WORD.fullmatch(part):
            texts.append(part)
        else:
            raise ValueError(f"not a reference part: {part!r}")
    return SystemRef(":".join(texts))
