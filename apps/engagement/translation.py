from modeltranslation.translator import TranslationOptions, register

from apps.engagement.models import Task


@register(Task)
class TaskTranslationOptions(TranslationOptions):
    fields = ("title", "description")
