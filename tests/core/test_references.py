"""System references: built only from our own words, ids and dates, so the ledger can tell them from free text."""

from datetime import UTC, date, datetime

import pytest

from apps.core.references import SystemRef, system_ref


def test_a_reference_joins_words_ids_and_dates():
    reference = system_ref("rule", 12, "activity", 13912345678)
    assert reference == "rule:12:activity:13912345678" and isinstance(reference, SystemRef)
    assert system_ref("task", 3, date(2026, 11, 30)) == "task:3:2026-11-30"
    assert system_ref("task", 3, datetime(2026, 11, 30, 16, tzinfo=UTC)) == "task:3:2026-11-30T16:00:00+00:00"


@pytest.mark.parametrize("part", ["13912345678", "order 12", "Rule", "a@b.cn", "", True, 1.5, None])
def test_text_that_could_come_from_outside_is_refused(part):
    with pytest.raises(ValueError, match="not a reference part"):
        system_ref("rule", part)


def test_text_built_any_other_way_is_free_text():
    assert not isinstance("rule:12:activity:13912345678", SystemRef)
    assert not isinstance(system_ref("rule", 12)[:4], SystemRef)
