from modeltranslation.translator import TranslationOptions, register

from apps.benefits.models import Benefit


@register(Benefit)
class BenefitTranslationOptions(TranslationOptions):
    fields = ("name", "description")
