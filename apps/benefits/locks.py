"""The one place benefits and grants are locked, in the product's lock order (docs/architecture.md).

A benefit is locked before the members and points accounts of the grants it gives, and grants last.
"""

from collections.abc import Iterable

from apps.benefits.models import Benefit, Grant


def lock_benefit(*, benefit_id: int) -> Benefit:
    # NO KEY UPDATE: a grant changes only the benefit's counters, and rows that merely point at the benefit (pending
    # grants, rule awards, task completions, written by ingests holding points accounts) must not wait for it.
    return Benefit.objects.select_for_update(no_key=True).get(pk=benefit_id)


# A grant is read with its benefit, but only the grant is locked: using a grant changes none of the benefit's
# counters, so redemptions of one benefit do not queue behind each other, nor hold back grants being issued.


def lock_grant(*, grant_id: int) -> Grant:
    return Grant.objects.select_for_update(of=("self",)).select_related("benefit").get(pk=grant_id)


def lock_grant_by_code(*, code: str, member_id: int | None = None) -> Grant | None:
    """The grant with this (normalised) code, optionally only if it is that member's; None when there is none."""
    grants = Grant.objects.select_for_update(of=("self",)).select_related("benefit").filter(code=code)
    if member_id is not None:
        grants = grants.filter(member_id=member_id)
    return grants.first()


def lock_grants(*, grant_ids: Iterable[int]) -> list[Grant]:
    return list(Grant.objects.select_for_update().filter(pk__in=set(grant_ids)).order_by("pk"))
