from celery import shared_task

from apps.imports import services


@shared_task(name="imports.run_import", acks_late=True)
def run_import(job_id: int) -> str:
    return services.import_job_run(job_id=job_id).status


@shared_task(name="imports.purge_files")
def purge_files() -> int:
    return services.import_files_purge()
