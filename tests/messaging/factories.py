import factory

from apps.members.models import ConsentChannel
from apps.messaging.models import MessageTemplate


class MessageTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MessageTemplate
        django_get_or_create = ["code", "channel"]

    code = "welcome"
    channel = ConsentChannel.SMS
    subject_en = "Hello"
    body_en = "Hi {{ name }}, you are {{ tier }}. Code {{ benefit_code }}. Stop: {{ unsubscribe_url }}"
    body_zh_hans = "{{ name }}您好，您是{{ tier }}会员。券码 {{ benefit_code }}。退订：{{ unsubscribe_url }}"
