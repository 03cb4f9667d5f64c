from django.db.models import QuerySet

from apps.members.models import Member
from apps.messaging.models import Message


def members_with_consent(*, channel: str) -> QuerySet[Member]:
    return Member.objects.filter(consents__channel=channel, consents__granted=True)


def message_list(*, member: Member | None = None) -> QuerySet[Message]:
    messages = Message.objects.select_related("member")
    return messages.filter(member=member) if member is not None else messages
