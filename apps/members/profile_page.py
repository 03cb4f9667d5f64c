"""The customer profile page (用户画像): what the back office shows of one member at a glance, then the timeline.

Interface code beside the member admin: it reads through ``members.selectors`` and renders; it changes nothing.
"""

from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import HttpRequest, QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.errors import ApplicationError
from apps.members import selectors
from apps.members.models import Member
from apps.members.timeline import TimelineCursor, TimelineSource, decode_cursor, encode_cursor

PAGE_SIZE = 25
# How many earlier page starts a link remembers for "newer"; from deeper, "newer" goes back to the newest page.
BACK_DEPTH = 20
NEWEST = "0"


class TimelineFilterForm(forms.Form):
    source = forms.MultipleChoiceField(label=_("Sources"), required=False, widget=forms.CheckboxSelectMultiple)
    kind = forms.CharField(
        label=_("Kind"), required=False, max_length=40, help_text=_("An item kind such as purchase, earn or sign_in (empty: all).")
    )

    def __init__(self, *args: Any, sources: list[TimelineSource], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = [(source.name, source.label) for source in sources]


@dataclass(frozen=True)
class TimelineView:
    form: TimelineFilterForm
    items: list[dict[str, Any]]
    older_url: str
    newer_url: str
    newest_url: str
    error: str


def _link(params: QueryDict, **changes: str) -> str:
    query = params.copy()
    for key, value in changes.items():
        if value:
            query[key] = value
        else:
            query.pop(key, None)
    return "?" + query.urlencode()


def timeline_view(request: HttpRequest, member: Member, *, sources: list[TimelineSource], page_size: int = PAGE_SIZE) -> TimelineView:
    """One page of the member's timeline from the request's filters and cursor, with its "older" and "newer" links.

    "Older" carries the page's last position; "newer" the start of the page before, which the links remember
    (``back``), so neither needs an offset or a count.
    """
    form = TimelineFilterForm(request.GET or None, sources=sources)
    chosen, kinds = sources, None
    error = ""
    if form.is_bound and form.is_valid():
        names = set(form.cleaned_data["source"])
        chosen = [source for source in sources if not names or source.name in names]
        kinds = {form.cleaned_data["kind"].strip()} if form.cleaned_data["kind"].strip() else None
    elif form.is_bound:
        chosen = []
        error = str(_("Correct the filters below."))
    params = request.GET.copy()
    before_text = params.get("before", "")
    back = [entry for entry in params.get("back", "").split(",") if entry]
    before: TimelineCursor | None = None
    if before_text:
        try:
            before = decode_cursor(before_text)
        except ApplicationError as exc:
            error, chosen = exc.message, []
    page = selectors.member_timeline(member=member, sources=chosen, before=before, limit=page_size, kinds=kinds)
    labels = {source.name: str(source.label) for source in sources}
    items = [
        {
            "at": timezone.localtime(item.at),
            "source": item.source,
            "source_label": labels.get(item.source, item.source),
            "kind": item.kind,
            "title": str(item.title),
            "detail": str(item.detail),
            "link": item.link,
        }
        for item in page.items
    ]
    older_url = ""
    if page.older is not None:
        older_url = _link(params, before=encode_cursor(page.older), back=",".join([*back, before_text or NEWEST][-BACK_DEPTH:]))
    newer_url = newest_url = ""
    if before is not None:
        newest_url = _link(params, before="", back="")
        if back:
            previous = back[-1]
            newer_url = _link(params, before="" if previous == NEWEST else previous, back=",".join(back[:-1]))
        else:
            newer_url = newest_url
    return TimelineView(form=form, items=items, older_url=older_url, newer_url=newer_url, newest_url=newest_url, error=error)
