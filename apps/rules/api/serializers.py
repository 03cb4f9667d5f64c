from rest_framework import serializers

from apps.analytics.models import ActivityChannel
from apps.benefits.models import Benefit
from apps.campaigns.models import Segment
from apps.core.api.serializers import ReadOnlyModelSerializer
from apps.members.models import Tag, Tier
from apps.rules.models import RULE_EDITABLE_FIELDS, RULE_EDITABLE_RELATIONS, EarningRule, RuleStatus
from apps.rules.selectors import VERDICT_OUTCOMES


class MultiplierSerializer(serializers.Serializer):
    tier = serializers.PrimaryKeyRelatedField(queryset=Tier.objects.all())
    multiplier = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0)


class RuleInputSerializer(serializers.ModelSerializer):
    """A rule as a caller writes it: the service checks the rest and names the field at fault."""

    days_of_week = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=7), required=False)
    channels = serializers.ListField(child=serializers.ChoiceField(choices=ActivityChannel.choices), required=False)
    property_conditions = serializers.ListField(child=serializers.DictField(), required=False)
    tiers = serializers.PrimaryKeyRelatedField(queryset=Tier.objects.all(), many=True, required=False)
    tags = serializers.PrimaryKeyRelatedField(queryset=Tag.objects.all(), many=True, required=False)
    segment = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all(), required=False, allow_null=True)
    benefit = serializers.PrimaryKeyRelatedField(queryset=Benefit.objects.all(), required=False, allow_null=True)
    multipliers = MultiplierSerializer(many=True, required=False)

    class Meta:
        model = EarningRule
        fields = [*RULE_EDITABLE_FIELDS, *RULE_EDITABLE_RELATIONS, "multipliers"]


class RuleMultiplierOutSerializer(serializers.Serializer):
    tier = serializers.IntegerField(source="tier_id")
    multiplier = serializers.DecimalField(max_digits=5, decimal_places=2)


class RuleSerializer(ReadOnlyModelSerializer):
    status = serializers.ChoiceField(choices=RuleStatus.choices, read_only=True)
    multipliers = RuleMultiplierOutSerializer(many=True, read_only=True)

    class Meta:
        model = EarningRule
        fields = [
            "id",
            *RULE_EDITABLE_FIELDS,
            "status",
            *RULE_EDITABLE_RELATIONS,
            "multipliers",
            "budget_used",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RulePageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = RuleSerializer(many=True)


class RuleFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=RuleStatus.choices, required=False, allow_blank=True, default="")
    kind = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)


class SimulationQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(required=False, default=30, min_value=1, max_value=90)


class SimulationSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    activities = serializers.IntegerField()
    awards = serializers.IntegerField()
    members = serializers.IntegerField()
    points = serializers.IntegerField()
    growth = serializers.IntegerField()
    benefits = serializers.IntegerField()
    stopped_by_caps = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="Points × the value of a point, in yuan.")


class ExplainQuerySerializer(serializers.Serializer):
    member = serializers.IntegerField(min_value=1, help_text="The member's id.")
    activity = serializers.IntegerField(min_value=1, help_text="The stored activity's id (one of the member's).")


class VerdictSerializer(serializers.Serializer):
    rule_id = serializers.IntegerField()
    rule_name = serializers.CharField()
    rule_status = serializers.CharField(help_text="The rule's status, in the reader's language.")
    outcome = serializers.ChoiceField(choices=VERDICT_OUTCOMES)
    detail = serializers.CharField(help_text="The award, or the condition, cap or budget that stopped it.")
    points = serializers.IntegerField()
    growth = serializers.IntegerField()
