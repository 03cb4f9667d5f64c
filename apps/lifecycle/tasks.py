from celery import shared_task

from apps.analytics import services as analytics_services
from apps.lifecycle import services


@shared_task(name="lifecycle.compute_stages")
def compute_stages() -> dict[str, int]:
    """Roll up first, so the staging sees every event, then stage every enrolled member (nightly); who moved where."""
    analytics_services.rollup_run()
    return services.lifecycle_stages_compute().moved
