"""Task windows in local days (the programme's time zone): which window a day falls in, and where it ends."""

from datetime import date, datetime, timedelta

from django.utils import timezone
from django.utils.formats import date_format

from apps.analytics.days import local_zone
from apps.engagement.models import Task, TaskWindow

# The one window of a task that never resets: progress counts from the task's first day for good.
NO_WINDOW_START = date(2000, 1, 1)


def local_day(moment: datetime) -> date:
    return timezone.localtime(moment, local_zone()).date()


def _month_end(day: date) -> date:
    first_next = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def window_bounds(task: Task, day: date) -> tuple[date, date | None] | None:
    """The (first day, last day or None) of the task's window holding ``day``; None when ``day`` does not count."""
    if (task.starts_on and day < task.starts_on) or (task.ends_on and day > task.ends_on):
        return None
    if task.window == TaskWindow.FIXED:
        return task.starts_on, task.ends_on
    if task.window == TaskWindow.WEEK:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=6)
    if task.window == TaskWindow.MONTH:
        return day.replace(day=1), _month_end(day)
    if task.window == TaskWindow.QUARTER:
        start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        return start, _month_end(start.replace(month=start.month + 2))
    return NO_WINDOW_START, task.ends_on


def window_start(task: Task, day: date) -> date | None:
    bounds = window_bounds(task, day)
    return bounds[0] if bounds else None


def window_text(start: date, end: date | None) -> str:
    """A window in the reader's language: "No window" for a task that never resets (its stored start is a placeholder
    date no member should read), else its first and, when it has one, last day."""
    if start == NO_WINDOW_START:
        return str(TaskWindow.NONE.label)
    first = date_format(start, "SHORT_DATE_FORMAT")
    return f"{first} – {date_format(end, 'SHORT_DATE_FORMAT')}" if end else first
