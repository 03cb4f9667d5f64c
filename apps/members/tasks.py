from dataclasses import asdict

from celery import shared_task

from apps.members import services


@shared_task(name="members.expire_points")
def expire_points() -> int:
    return services.points_expire_due()


@shared_task(name="members.evaluate_tiers")
def evaluate_tiers() -> dict[str, int]:
    return asdict(services.tiers_evaluate())


@shared_task(name="members.find_duplicates")
def find_duplicates() -> dict[str, int]:
    return services.duplicates_find().new_pairs
