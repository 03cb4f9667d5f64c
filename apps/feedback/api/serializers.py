from rest_framework import serializers

from apps.feedback.models import FeedbackCategory, FeedbackItem, FeedbackKind, FeedbackReply, Survey, SurveyQuestion


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = FeedbackCategory
        fields = ["code", "name", "sla_hours"]
        read_only_fields = fields


class ReplySerializer(serializers.ModelSerializer):
    class Meta:
        model = FeedbackReply
        fields = ["id", "from_member", "body", "created_at"]
        read_only_fields = fields


class FeedbackSerializer(serializers.ModelSerializer):
    category = CategorySerializer(read_only=True)

    class Meta:
        model = FeedbackItem
        fields = [
            "id",
            "category",
            "kind",
            "channel",
            "subject",
            "body",
            "status",
            "created_at",
            "due_at",
            "resolved_at",
            "closed_at",
            "satisfaction",
        ]
        read_only_fields = fields


class FeedbackDetailSerializer(FeedbackSerializer):
    replies = serializers.SerializerMethodField()
    satisfaction_asked = serializers.SerializerMethodField()

    class Meta(FeedbackSerializer.Meta):
        fields = [*FeedbackSerializer.Meta.fields, "satisfaction_asked", "replies"]
        read_only_fields = fields

    def get_replies(self, item: FeedbackItem) -> list[dict]:
        return ReplySerializer(self.context["replies"], many=True).data

    def get_satisfaction_asked(self, item: FeedbackItem) -> bool:
        return item.status == "closed" and item.satisfaction is None


class FeedbackCreateSerializer(serializers.Serializer):
    category = serializers.SlugRelatedField(slug_field="code", queryset=FeedbackCategory.objects.filter(is_active=True))
    kind = serializers.ChoiceField(choices=FeedbackKind.choices, default=FeedbackKind.COMPLAINT)
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=5000)


class ReplyCreateSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=5000)


class RateSerializer(serializers.Serializer):
    satisfaction = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=500, required=False, default="", allow_blank=True)


class QuestionSerializer(serializers.ModelSerializer):
    class Meta:
        model = SurveyQuestion
        fields = ["id", "position", "kind", "text", "choices", "required"]
        read_only_fields = fields


class SurveySerializer(serializers.ModelSerializer):
    questions = QuestionSerializer(many=True, read_only=True)
    answered = serializers.BooleanField(read_only=True)

    class Meta:
        model = Survey
        fields = ["code", "title", "intro", "nps_question", "status", "questions", "answered"]
        read_only_fields = fields


class SurveyAnswerSerializer(serializers.Serializer):
    nps_score = serializers.IntegerField(min_value=0, max_value=10)
    answers = serializers.DictField(child=serializers.JSONField(), required=False, default=dict)


class SurveyResponseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    survey = serializers.CharField(source="survey.code")
    nps_score = serializers.IntegerField()
    submitted_at = serializers.DateTimeField()
