"""Award screening: the payer asks every registered screen, and an award is held when any screen gives a reason."""

from datetime import UTC, datetime

from apps.core import awards
from apps.core.activity import StoredActivity


def _candidate(member_id: int, device_id: str = "") -> awards.CandidateAward:
    activity = StoredActivity(
        pk=member_id,
        member_id=member_id,
        kind="login",
        event_id=f"e{member_id}",
        source="client:1",
        occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
        amount=None,
        first_of_kind=True,
        device_id=device_id,
    )
    return awards.CandidateAward(member_id=member_id, activity=activity, source="rule:1", points=5)


def test_reasons_from_every_screen_are_collected_by_index_and_the_rest_are_paid(monkeypatch):
    monkeypatch.setattr(awards, "SCREENS", [])  # only this test's screens (installed apps register theirs)

    def by_device(candidates):
        return {i: "device blocked" for i, c in enumerate(candidates) if c.activity.device_id == "bad"}

    def by_member(candidates):
        return {i: "member blocked" for i, c in enumerate(candidates) if c.member_id == 2}

    awards.register_award_screen(by_device)
    awards.register_award_screen(by_member)
    try:
        held = awards.awards_screen([_candidate(1), _candidate(2, "bad"), _candidate(3, "bad")])
    finally:
        awards.SCREENS.remove(by_device)
        awards.SCREENS.remove(by_member)
    assert held == {1: ["device blocked", "member blocked"], 2: ["device blocked"]}
    assert awards.awards_screen([]) == {}
