from rest_framework import serializers

from apps.core.api.serializers import ReadOnlyModelSerializer
from apps.core.outbox import EventType
from apps.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


class EndpointInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=500, help_text="HTTPS address that receives the events (POST).")
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EventType.choices), allow_empty=False)
    contact_email = serializers.EmailField(required=False, allow_blank=True, default="")
    is_active = serializers.BooleanField(required=False, default=True, help_text="False disables the endpoint: it gets no new events.")


class EndpointSerializer(ReadOnlyModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "name",
            "url",
            "event_types",
            "is_active",
            "status",
            "failing_since",
            "last_failure",
            "contact_email",
            "secret_hint",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(read_only=True, help_text="Signs every request; shown in this answer only.")

    class Meta(EndpointSerializer.Meta):
        fields = [*EndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(read_only=True, help_text="The new signing secret; shown in this answer only.")


class DeliverySerializer(ReadOnlyModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "event_id",
            "type",
            "member_id",
            "occurred_at",
            "payload",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "delivered_at",
            "response_code",
            "response_body",
            "error",
            "duration_ms",
            "replay_of",
            "created_at",
        ]
        read_only_fields = fields


class DeliveryFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False, allow_blank=True, default="")
    type = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)


class ReplaySerializer(serializers.Serializer):
    replayed = serializers.IntegerField(read_only=True)


class EndpointPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = EndpointSerializer(many=True)


class DeliveryPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DeliverySerializer(many=True)
