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
