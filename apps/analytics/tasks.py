from celery import shared_task

from apps.analytics import services


@shared_task(name="analytics.rollup")
def rollup() -> int:
    """Roll up the days touched since the last run (hourly); returns how many days were rebuilt."""
    return len(services.rollup_run().days)


@shared_task(name="analytics.score_rfm")
def score_rfm() -> int:
    """Roll up first, so the scores see every event, then score every member (nightly)."""
    services.rollup_run()
    return services.rfm_score_members()
