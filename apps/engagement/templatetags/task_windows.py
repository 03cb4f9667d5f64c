from datetime import date

from django import template

from apps.engagement.windows import window_text

register = template.Library()


@register.filter
def task_window(start: date, end: date | None = None) -> str:
    """A task's window as staff read it: its dates, or "no window" for a task that never resets."""
    return window_text(start, end)
