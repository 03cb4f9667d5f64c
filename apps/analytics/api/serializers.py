from rest_framework import serializers

from apps.analytics.models import ActivityChannel, ActivityKind


class ActivityItemSerializer(serializers.Serializer):
    """One event of a batch (documentation only: the service validates each item and reports per-item errors)."""

    event_id = serializers.CharField(max_length=128, help_text="Unique per calling system; a repeated id is stored once.")
    member_id = serializers.IntegerField(required=False)
    external_id = serializers.CharField(required=False, help_text="The member's external ID, instead of member_id.")
    kind = serializers.CharField(
        max_length=40, help_text="A built-in kind (" + ", ".join(ActivityKind.values) + ") or one registered in the back office."
    )
    occurred_at = serializers.DateTimeField(help_text="ISO 8601; without an offset it is read as Asia/Shanghai time.")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, help_text="Purchases only, in CNY.")
    order_ref = serializers.CharField(max_length=128, required=False)
    channel = serializers.ChoiceField(choices=ActivityChannel.choices, required=False)
    nps_score = serializers.IntegerField(min_value=0, max_value=10, required=False, help_text="Survey answers only.")
    properties = serializers.DictField(required=False, help_text="What else the system knows: at most 50 names, 4 KB as JSON.")
    device_id = serializers.CharField(max_length=64, required=False, help_text="The member's device, for abuse control.")
    client_ip = serializers.IPAddressField(required=False, help_text="The member's address as the reporting system saw it.")


class ActivityBatchSerializer(serializers.Serializer):
    events = ActivityItemSerializer(many=True, help_text="1 to 1,000 events.")


class ActivityItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    event_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "duplicate", "rejected"])
    code = serializers.CharField(required=False)
    fields = serializers.DictField(required=False)
    points = serializers.IntegerField(required=False)


class ActivityBatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    points_awarded = serializers.IntegerField()
    items = ActivityItemResultSerializer(many=True)


class FigureSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.DictField())
    headline = serializers.DictField()
