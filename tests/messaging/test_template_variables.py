"""Message templates see plain values only: no walk of the object graph, no dangerous tags."""

import pytest
from django.urls import reverse
from django.utils import translation

from apps.benefits import services as benefit_services
from apps.core.errors import ApplicationError
from apps.core.roles import CAMPAIGN_MANAGER
from apps.members.models import ConsentChannel
from apps.messaging import services
from apps.messaging.models import Message, MessageTemplate
from apps.messaging.rendering import compile_message_template
from tests.benefits.factories import BenefitFactory
from tests.members.factories import MemberFactory
from tests.messaging.factories import MessageTemplateFactory

pytestmark = pytest.mark.django_db

WALKS = [
    ("{% for g in benefit.grants.all %}{{ g.code }}|{{ g.member.phone }}{% endfor %}", "for"),
    ("{{ benefit.grants.all }}", "benefit.grants.all"),
    ("{{ actor.password }}", "actor.password"),
    ("Hi {{ member.phone }}", "member.phone"),
    ("{{ name.upper }}", "name.upper"),
    ("{% if member.email %}x{% endif %}", "member.email"),
    ("{{ name|default:member.phone }}", "member.phone"),
    ("{% load static %}{% static 'x' %}", "load"),
    ('{% include "admin/base.html" %}', "include"),
    ("{% debug %}", "debug"),
    ("{% with p=name %}{{ p }}{% endwith %}", "with"),
]


@pytest.mark.parametrize(("body", "named"), WALKS)
def test_save_refuses_anything_beyond_the_documented_variables_and_names_it(body, named):
    template = MessageTemplateFactory.build(body_en=body, body_zh_hans="{{ name }}")
    with pytest.raises(ApplicationError) as refused:
        services.message_template_save(template=template)
    assert refused.value.code in ("template_variable_not_allowed", "template_tag_not_allowed")
    assert named in refused.value.message
    assert list(refused.value.fields) == ["body_en"]
    assert not MessageTemplate.objects.filter(code=template.code).exists()


def test_the_documented_variables_and_if_are_accepted_and_rendered():
    MessageTemplateFactory(
        code="all",
        subject_en="{{ campaign }}",
        body_en="{{ name }} {{ tier }} {{ points_balance }} {% if points %}+{{ points|default:0 }}{% endif %} {{ benefit }}"
        "{% comment %}note{% endcomment %} {{ unsubscribe_url|length }}",
    )
    member = MemberFactory(name="Li Lei")
    message = services.message_enqueue(
        member=member,
        channel=ConsentChannel.SMS,
        template_code="all",
        context={"campaign": "Spring", "points": 50, "benefit": "Coffee"},
        dedupe_key="k",
    )
    assert message.subject == "Spring"
    assert message.body.startswith("Li Lei Basic 0 +50 Coffee ")
    MessageTemplateFactory(code="unset", body_en="Hi {{ name }}{{ event_title }}!")
    unset = services.message_enqueue(member=member, channel=ConsentChannel.SMS, template_code="unset", context={}, dedupe_key="u")
    assert unset.body == "Hi Li Lei!"


def test_rendering_refuses_model_instances_in_the_context():
    MessageTemplateFactory(code="x", body_en="{{ benefit }}")
    with pytest.raises(TypeError):
        services.message_enqueue(
            member=MemberFactory(), channel=ConsentChannel.SMS, template_code="x", context={"benefit": BenefitFactory()}, dedupe_key="k"
        )


def test_a_stored_template_that_walks_the_graph_is_not_rendered_even_if_it_reached_the_table():
    benefit = BenefitFactory()
    victim = MemberFactory(phone="+8613912345678")
    benefit_services.grant_issue(benefit=benefit, member=victim, source="staff", source_ref="test")
    MessageTemplate.objects.create(code="leak", channel=ConsentChannel.SMS, body_en="{{ benefit.grants.all }}", body="x")
    with pytest.raises(ApplicationError):
        services.message_enqueue(
            member=MemberFactory(), channel=ConsentChannel.SMS, template_code="leak", context={"benefit": benefit.name}, dedupe_key="k"
        )
    assert not Message.objects.filter(body__contains="+8613912345678").exists()


def test_seeded_templates_still_compile():
    seeded = list(MessageTemplate.objects.all())
    assert seeded, "the events migration seeds its templates"
    for template in seeded:
        services.message_template_check(template=template)


def test_back_office_shows_the_refusal_on_the_field_and_saves_nothing(client, staff):
    client.force_login(staff(CAMPAIGN_MANAGER))
    data = {
        "code": "leak",
        "channel": ConsentChannel.SMS,
        "subject_en": "",
        "subject_zh_hans": "",
        "body_en": "{% for g in benefit.grants.all %}{{ g.member.phone }}{% endfor %}",
        "body_zh_hans": "{{ actor.password }}",
        "is_active": "on",
    }
    for language, expected in (("en", "The tag {% for %} is not allowed"), ("zh-hans", "{% for %}")):
        with translation.override(language):
            response = client.post(reverse("admin:messaging_messagetemplate_add"), data, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 200
        assert expected in response.content.decode()
    assert not MessageTemplate.objects.filter(code="leak").exists()


def test_compile_names_the_first_unknown_variable():
    with pytest.raises(ApplicationError) as refused:
        compile_message_template("{{ name }} {{ phone }}", field="body_zh_hans")
    assert "phone" in refused.value.message and refused.value.fields == {"body_zh_hans": "{{ name }} {{ phone }}"}
