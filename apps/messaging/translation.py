from modeltranslation.translator import TranslationOptions, register

from apps.messaging.models import MessageTemplate


@register(MessageTemplate)
class MessageTemplateTranslationOptions(TranslationOptions):
    fields = ("subject", "body")
