import factory

from apps.tagging.models import Attribute, AttributeKind


class AttributeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Attribute
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"attr{n}")
    label = factory.LazyAttribute(lambda a: a.code.replace("_", " ").title())
    kind = AttributeKind.TEXT


def choice_attribute(code: str = "intended_model", choices: tuple[str, ...] = ("ES6", "ET5", "EC7"), **kwargs: object) -> Attribute:
    return AttributeFactory(code=code, kind=AttributeKind.CHOICE, choices=list(choices), **kwargs)


def number_attribute(code: str = "family_size", **kwargs: object) -> Attribute:
    return AttributeFactory(code=code, kind=AttributeKind.NUMBER, **kwargs)


def date_attribute(code: str = "licence_date", **kwargs: object) -> Attribute:
    return AttributeFactory(code=code, kind=AttributeKind.DATE, **kwargs)
