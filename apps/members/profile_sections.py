"""Panels of the customer profile (用户画像) that later apps add: owned products, stages, clubs, badges, attributes …

Members renders the profile page and the member API's ``/me/`` summary; each app that knows something worth reading
about a member at a glance registers a section in its ``AppConfig.ready()`` rather than being imported here.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.members.models import Member


@dataclass(frozen=True)
class ProfileSection:
    name: str
    label: Any
    # summary(member) -> a JSON-serialisable value for the page and /me/, or None when there is nothing to show.
    summary: Callable[[Member], Any]
    # The template that renders the summary on the staff profile page ("" for the generic key/value rendering).
    template: str = ""
    # Lower comes first on the page.
    order: int = 100
    # Whether the member app may see it in /me/ (staff-only notes and internal scores may not).
    shown_to_member: bool = True


PROFILE_SECTIONS: list[ProfileSection] = []


def register_profile_section(
    *,
    name: str,
    label: Any,
    summary: Callable[[Member], Any],
    template: str = "",
    order: int = 100,
    shown_to_member: bool = True,
) -> None:
    if any(section.name == name for section in PROFILE_SECTIONS):
        return
    PROFILE_SECTIONS.append(ProfileSection(name, label, summary, template, order, shown_to_member))
    PROFILE_SECTIONS.sort(key=lambda section: section.order)


# The staff permission a section needs beside viewing the member (an app's restricted data: held awards, scores …).
# A section without one is shown to any staff who may view the member.
PROFILE_SECTION_PERMISSIONS: dict[str, str] = {}


def restrict_profile_section(*, name: str, permission: str) -> None:
    PROFILE_SECTION_PERMISSIONS[name] = permission
