"""Which database errors ask the caller to try again: PostgreSQL aborted the transaction for a serialization
failure or a deadlock, and the same request may succeed a moment later."""

RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization_failure, deadlock_detected


def is_retryable_database_error(exc: BaseException) -> bool:
    cause = exc.__cause__ or exc
    return getattr(cause, "sqlstate", None) in RETRYABLE_SQLSTATES
