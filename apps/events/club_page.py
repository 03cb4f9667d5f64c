"""Sections of a club's back-office page that higher apps provide (analytics' member activity), so events never
imports them: a section is registered from the providing app's ``AppConfig.ready()``."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.safestring import SafeString

from apps.events.models import Club


@dataclass(frozen=True)
class ClubPageSection:
    name: str
    title: Any
    permission: str
    render: Callable[[Club], SafeString]


CLUB_PAGE_SECTIONS: dict[str, ClubPageSection] = {}


def register_club_page_section(*, name: str, title: Any, permission: str, render: Callable[[Club], SafeString]) -> None:
    """Show ``render(club)`` under ``title`` on the club's page to staff holding ``permission``."""
    CLUB_PAGE_SECTIONS[name] = ClubPageSection(name=name, title=title, permission=permission, render=render)
