from celery import shared_task

from apps.benefits import services


@shared_task(name="benefits.expire_grants")
def expire_grants() -> int:
    return services.grants_expire_due()


@shared_task(name="benefits.grant_promotion_benefits")
def grant_promotion_benefits() -> int:
    return services.tier_benefits_grant_for_promotions()


@shared_task(name="benefits.grant_recurring_tier_benefits")
def grant_recurring_tier_benefits() -> int:
    return services.tier_benefits_grant_recurring()


@shared_task(name="benefits.issue_pending_grants")
def issue_pending_grants(max_rounds: int = 20) -> int:
    """Issue the grants activity reactions left pending: queued after each ingest that left some, and swept by beat."""
    issued = 0
    for _round in range(max_rounds):
        result = services.grants_pending_issue(limit=500)
        issued += result.issued
        if result.handled < 500:
            break
    return issued
