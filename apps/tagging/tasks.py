from celery import shared_task

from apps.core.errors import ApplicationError
from apps.tagging import services


@shared_task(name="tagging.run_tag_job", acks_late=True)
def run_tag_job(job_id: int) -> str:
    try:
        return services.tag_job_run(job_id=job_id).status
    except ApplicationError as exc:
        # A refusal (a segment whose rules no longer compile) will not pass on a retry: the job page shows it.
        services.tag_job_fail(job_id=job_id, error=exc.message)
        raise


@shared_task(name="tagging.sync_auto_tags")
def sync_auto_tags() -> dict[str, int]:
    synced = services.auto_tags_sync_all()
    return {"rules": len(synced), "added": sum(s.added for s in synced.values()), "removed": sum(s.removed for s in synced.values())}


@shared_task(name="tagging.import_attributes", acks_late=True)
def import_attributes(import_id: int) -> str:
    return services.attribute_import_run(import_id=import_id).status
