import factory
from django.utils import timezone

from apps.feedback.models import FeedbackCategory, QuestionKind, Survey, SurveyQuestion, SurveyStatus


class FeedbackCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FeedbackCategory
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"category-{n}")
    name = factory.Sequence(lambda n: f"Category {n}")
    sla_hours = 24


class SurveyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Survey

    code = factory.Sequence(lambda n: f"survey-{n}")
    title = factory.Sequence(lambda n: f"Survey {n}")
    status = SurveyStatus.OPEN
    created_at = factory.LazyFunction(timezone.now)


class SurveyQuestionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SurveyQuestion

    survey = factory.SubFactory(SurveyFactory)
    position = factory.Sequence(lambda n: n % 5 + 1)
    kind = QuestionKind.TEXT
    text = factory.Sequence(lambda n: f"Question {n}?")
