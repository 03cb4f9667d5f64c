from rest_framework import serializers

from apps.benefits.models import PERMANENT_UNTIL, Grant
from apps.core.api.serializers import ReadOnlyModelSerializer


class RewardSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    growth = serializers.IntegerField()
    benefit = serializers.CharField(allow_null=True)
    badge = serializers.CharField(allow_null=True)


class TaskStandingSerializer(serializers.Serializer):
    code = serializers.CharField(source="task.code")
    title = serializers.CharField(source="task.title")
    description = serializers.CharField(source="task.description")
    goal = serializers.CharField(source="task.goal")
    activity_kind = serializers.CharField(source="task.activity_kind")
    target = serializers.IntegerField(source="task.target")
    progress = serializers.IntegerField()
    streak = serializers.IntegerField()
    window = serializers.CharField(source="task.window")
    window_start = serializers.DateField()
    window_end = serializers.DateField(allow_null=True)
    reward = RewardSerializer()
    completed_at = serializers.DateTimeField(allow_null=True)


class BadgeSerializer(ReadOnlyModelSerializer):
    benefit_id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(source="benefit.name", read_only=True)
    description = serializers.CharField(source="benefit.description", read_only=True)
    kind = serializers.CharField(source="benefit.kind", read_only=True)
    earned_at = serializers.DateTimeField(source="issued_at", read_only=True)
    expires_at = serializers.SerializerMethodField()

    class Meta:
        model = Grant
        fields = ["benefit_id", "name", "description", "kind", "source", "earned_at", "expires_at"]
        read_only_fields = fields

    def get_expires_at(self, grant: Grant) -> str | None:
        return None if grant.valid_until >= PERMANENT_UNTIL else serializers.DateTimeField().to_representation(grant.valid_until)


class SignInSerializer(serializers.Serializer):
    day = serializers.DateField()
    streak = serializers.IntegerField()
    longest_streak = serializers.IntegerField()
    signed_in_at = serializers.DateTimeField()


class NextRewardSerializer(serializers.Serializer):
    task = serializers.CharField()
    title = serializers.CharField()
    target = serializers.IntegerField()
    days_to_go = serializers.IntegerField()
    reward = RewardSerializer()


class CalendarSerializer(serializers.Serializer):
    month = serializers.CharField()
    days = serializers.ListField(child=serializers.DateField())
    signed_in_today = serializers.BooleanField()
    streak = serializers.IntegerField()
    longest_streak = serializers.IntegerField()
    next_reward = NextRewardSerializer(allow_null=True)
