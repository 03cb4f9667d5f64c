from modeltranslation.translator import TranslationOptions, register

from apps.members.models import Tier


@register(Tier)
class TierTranslationOptions(TranslationOptions):
    fields = ("name", "description")
