import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from apps.analytics.models import ActivityEvent
from apps.campaigns.conditions import compile_rules
from apps.core.errors import ApplicationError
from apps.feedback import selectors, services
from apps.feedback.links import survey_link_read, survey_token
from apps.feedback.models import QuestionKind, SurveyQuestion, SurveyResponse, SurveyStatus
from apps.members.models import Member, Tier
from tests.feedback.factories import SurveyFactory, SurveyQuestionFactory
from tests.members.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _token(member, survey, **kwargs):
    return survey_token(member_id=member.pk, survey_id=survey.pk, valid_days=survey.link_valid_days, **kwargs)


def test_a_link_opens_the_survey_for_its_member_only():
    survey, member = SurveyFactory(), MemberFactory()
    token = _token(member, survey)
    assert services.survey_for_link(token=token, member=member) == survey
    with pytest.raises(ApplicationError) as other:
        services.survey_for_link(token=token, member=MemberFactory())
    assert other.value.code == "invalid_survey_link"


def test_a_tampered_or_expired_link_is_refused():
    survey, member = SurveyFactory(), MemberFactory()
    token = _token(member, survey)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    for bad in (forged, "nonsense", _token(member, survey).replace(":", ".", 1)):
        with pytest.raises(ApplicationError) as refused:
            survey_link_read(token=bad)
        assert refused.value.code == "invalid_survey_link"
    old = _token(member, survey, now=timezone.now() - timedelta(days=survey.link_valid_days + 1))
    with pytest.raises(ApplicationError) as expired:
        survey_link_read(token=old)
    assert expired.value.code == "survey_link_expired"


def test_an_answer_is_checked_kept_once_and_announced_as_survey_activity(django_capture_on_commit_callbacks):
    survey, member = SurveyFactory(code="after-delivery"), MemberFactory()
    text = SurveyQuestionFactory(survey=survey, position=1, kind=QuestionKind.TEXT, text="What could be better?")
    choice = SurveyQuestionFactory(survey=survey, position=2, kind=QuestionKind.CHOICE, choices=["App", "Store"], required=True)
    token = _token(member, survey)
    for score, answers, code in [
        (11, {}, "invalid_nps_score"),
        (9, {str(choice.pk): "Phone"}, "invalid_answer"),
        (9, {}, "answer_required"),
        (9, {"999999": "x", str(choice.pk): "App"}, "unknown_question"),
    ]:
        with pytest.raises(ApplicationError) as refused:
            services.survey_submit(token=token, member=member, nps_score=score, answers=answers)
        assert refused.value.code == code
    with django_capture_on_commit_callbacks(execute=True):
        response = services.survey_submit(
            token=token, member=member, nps_score=3, answers={str(text.pk): "Faster delivery", str(choice.pk): "App"}
        )
    event = ActivityEvent.objects.get(member=member, kind="survey")
    assert event.nps_score == 3 and event.properties == {"survey": "after-delivery"}
    with pytest.raises(ApplicationError) as twice:
        services.survey_submit(token=token, member=member, nps_score=10, answers={str(choice.pk): "Store"})
    assert twice.value.code == "already_answered"
    assert SurveyResponse.objects.get() == response


def test_a_closed_survey_takes_no_answers():
    survey, member = SurveyFactory(status=SurveyStatus.CLOSED), MemberFactory()
    with pytest.raises(ApplicationError) as refused:
        services.survey_submit(token=_token(member, survey), member=member, nps_score=8)
    assert refused.value.code == "survey_closed"


@pytest.mark.django_db(transaction=True)
def test_two_racing_submits_keep_one_answer():
    survey, member = SurveyFactory(), MemberFactory()
    token = _token(member, survey)
    barrier, outcomes, lock = threading.Barrier(2), Counter(), threading.Lock()

    def submit(score):
        try:
            barrier.wait()
            services.survey_submit(token=token, member=member, nps_score=score)
            outcome = "answered"
        except ApplicationError as exc:
            outcome = exc.code
        finally:
            connections.close_all()
        with lock:
            outcomes[outcome] += 1

    threads = [threading.Thread(target=submit, args=(score,)) for score in (9, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes == Counter({"answered": 1, "already_answered": 1})
    assert SurveyResponse.objects.filter(survey=survey, member=member).count() == 1


def test_nps_maths_by_tier_and_per_question():
    survey = SurveyFactory()
    scale = SurveyQuestionFactory(survey=survey, position=1, kind=QuestionKind.SCALE)
    basic, top = Tier.objects.order_by("rank").first(), Tier.objects.order_by("rank").last()
    # basic: 10, 9, 7, 3 -> (2 - 1) / 4 = 25.0; top: 0, 6 -> -100.0
    for tier, scores in ((basic, [10, 9, 7, 3]), (top, [0, 6])):
        for score in scores:
            member = MemberFactory(tier=tier)
            SurveyResponse.objects.create(survey=survey, member=member, nps_score=score, answers={str(scale.pk): 4 if score > 5 else 1})
    overall = selectors.nps_of(SurveyResponse.objects.filter(survey=survey))
    assert (overall.responses, overall.promoters, overall.passives, overall.detractors) == (6, 2, 1, 3)
    assert str(overall.score) == "-16.7"
    by_tier = {
        group.group: group.nps.score
        for group in selectors.nps_by(responses=SurveyResponse.objects.filter(survey=survey), breakdown=selectors.BREAKDOWNS[0])
    }
    assert str(by_tier[basic.pk]) == "25.0" and str(by_tier[top.pk]) == "-100.0"
    [result] = selectors.question_results(survey=survey)
    assert result.answered == 6 and dict(result.counts)[4] == 4 and dict(result.counts)[1] == 2
    assert str(result.average) == "3.00"
    assert selectors.nps_of(SurveyResponse.objects.none()).score is None


def test_nps_by_journey_stage_comes_from_the_registered_breakdown():
    from apps.lifecycle.models import MemberStage

    survey = SurveyFactory()
    owner, prospect = MemberFactory(), MemberFactory()
    MemberStage.objects.create(member=owner, journey_stage="owner")
    MemberStage.objects.create(member=prospect, journey_stage="prospect")
    SurveyResponse.objects.create(survey=survey, member=owner, nps_score=10)
    SurveyResponse.objects.create(survey=survey, member=prospect, nps_score=2)
    breakdown = next(b for b in selectors.BREAKDOWNS if b.name == "journey_stage")
    groups = {group.group: group.nps.score for group in selectors.nps_by(responses=SurveyResponse.objects.all(), breakdown=breakdown)}
    assert str(groups["owner"]) == "100.0" and str(groups["prospect"]) == "-100.0"


def test_the_nps_segment_condition_counts_answers_in_the_window():
    survey, other = SurveyFactory(), SurveyFactory()
    recent_detractor, old_detractor, promoter = MemberFactory(), MemberFactory(), MemberFactory()
    SurveyResponse.objects.create(survey=survey, member=recent_detractor, nps_score=4)
    SurveyResponse.objects.create(survey=survey, member=old_detractor, nps_score=0, submitted_at=timezone.now() - timedelta(days=120))
    SurveyResponse.objects.create(survey=other, member=promoter, nps_score=9)
    detractors = Member.objects.filter(compile_rules({"field": "nps_detractor", "operator": "within_days", "value": 90}))
    assert list(detractors) == [recent_detractor]
    promoters = Member.objects.filter(compile_rules({"field": "nps_promoter", "operator": "within_days", "value": 90}))
    assert list(promoters) == [promoter]
    with pytest.raises(ApplicationError):
        compile_rules({"field": "nps_detractor", "operator": "within_days", "value": 0})


def test_a_survey_has_at_most_five_questions():
    survey = SurveyFactory(status=SurveyStatus.DRAFT)
    questions = [SurveyQuestion(survey=survey, position=i, kind=QuestionKind.TEXT, text="q") for i in range(1, 7)]
    with pytest.raises(ApplicationError) as refused:
        services.survey_check(survey=survey, questions=questions)
    assert refused.value.code == "too_many_questions"
    bad_choice = [SurveyQuestion(survey=survey, position=1, kind=QuestionKind.CHOICE, text="q", choices=["only one"])]
    with pytest.raises(ApplicationError) as invalid:
        services.survey_check(survey=survey, questions=bad_choice)
    assert "questions.1.choices" in invalid.value.fields


def test_the_member_api_answers_through_the_link_once(member_client):
    api, member = member_client()
    survey = SurveyFactory()
    token = _token(member, survey)
    shown = api.get(f"/api/v1/me/surveys/{token}/")
    assert shown.status_code == 200 and shown.json()["answered"] is False
    missing = api.post(f"/api/v1/me/surveys/{token}/", {"nps_score": 8}, format="json")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "idempotency_key_missing"
    first = api.post(f"/api/v1/me/surveys/{token}/", {"nps_score": 8}, format="json", HTTP_IDEMPOTENCY_KEY="answer-1")
    assert first.status_code == 201
    retry = api.post(f"/api/v1/me/surveys/{token}/", {"nps_score": 8}, format="json", HTTP_IDEMPOTENCY_KEY="answer-1")
    assert retry.status_code == 201 and retry.json() == first.json() and retry.headers["Idempotent-Replayed"] == "true"
    assert SurveyResponse.objects.filter(survey=survey, member=member).count() == 1
    again = api.post(f"/api/v1/me/surveys/{token}/", {"nps_score": 8}, format="json", HTTP_IDEMPOTENCY_KEY="answer-2")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_answered"
    other_api, _other = member_client()
    assert other_api.get(f"/api/v1/me/surveys/{token}/").status_code == 404


def test_a_message_of_the_surveys_template_carries_the_members_own_link():
    from apps.messaging.models import MessagePurpose
    from apps.messaging.services import message_enqueue
    from tests.messaging.factories import MessageTemplateFactory

    MessageTemplateFactory(code="survey-invite", body_en="Tell us: {{ survey_url }}", body_zh_hans="请评价：{{ survey_url }}")
    survey, member = SurveyFactory(message_template_code="survey-invite"), MemberFactory()
    message = message_enqueue(
        member=member, template_code="survey-invite", context={}, dedupe_key="survey:1", channel="sms", purpose=MessagePurpose.SERVICE
    )
    token = message.body.rsplit("/me/surveys/", 1)[1].strip("/")
    assert services.survey_for_link(token=token, member=member) == survey


def test_a_text_answer_with_a_nul_character_is_refused_naming_the_question():
    survey, member = SurveyFactory(), MemberFactory()
    text = SurveyQuestionFactory(survey=survey, position=1, kind=QuestionKind.TEXT, text="Why?")
    with pytest.raises(ApplicationError) as refused:
        services.survey_submit(token=_token(member, survey), member=member, nps_score=7, answers={str(text.pk): "fine\x00"})
    assert refused.value.code == "invalid_answer"
    assert f"answers.{text.pk}" in refused.value.fields
    assert not SurveyResponse.objects.exists()
