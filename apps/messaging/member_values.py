"""Message variables whose value is the recipient's own and comes from a later app (a survey link, say).

A later app registers a variable's value in its ``AppConfig.ready()``; messaging asks for it only when the template
being rendered names the variable, so other messages pay nothing for it.
"""

from collections.abc import Callable

from apps.members.models import Member

# value(template_code, member) -> the plain text the variable renders as ("" when it has none for this message).
MemberValue = Callable[[str, Member], str]
MEMBER_VALUES: dict[str, MemberValue] = {}


def register_member_value(*, variable: str, value: MemberValue) -> None:
    MEMBER_VALUES.setdefault(variable, value)


def member_values(template_code: str, texts: tuple[str, ...], member: Member) -> dict[str, str]:
    return {variable: value(template_code, member) for variable, value in MEMBER_VALUES.items() if any(variable in text for text in texts)}
