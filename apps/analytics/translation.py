from modeltranslation.translator import TranslationOptions, register

from apps.analytics.models import RegisteredActivityKind


@register(RegisteredActivityKind)
class RegisteredActivityKindTranslationOptions(TranslationOptions):
    fields = ("name",)
