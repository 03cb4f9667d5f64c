from typing import Any


class ApplicationError(Exception):
    """The one domain error: services raise it, the API handler and the admin turn it into messages.

    ``code`` is stable and machine-readable; ``message`` is translated for people; ``fields`` names the
    input fields at fault; ``http_status`` is the status an API answers with.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fields: dict[str, Any] | None = None,
        http_status: int = 400,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = str(message)
        self.fields = fields or {}
        self.http_status = http_status
        self.extra = extra or {}

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable (Celery stores task errors), keyword-only arguments included.
        return (_rebuild, (self.code, self.message, self.fields, self.http_status, self.extra))

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def _rebuild(code: str, message: str, fields: dict[str, Any], http_status: int, extra: dict[str, Any]) -> ApplicationError:
    return ApplicationError(code, message, fields=fields, http_status=http_status, extra=extra)
