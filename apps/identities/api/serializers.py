from rest_framework import serializers

from apps.core.api.serializers import ReadOnlyModelSerializer
from apps.identities.models import ChannelIdentity, IdentityKind, SubscriptionQuota


class IdentityInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=IdentityKind.choices)
    app_id = serializers.CharField(max_length=64, help_text="WeChat app ID, WeCom corp ID, or the push platform (ios, android, harmony).")
    external_id = serializers.CharField(max_length=255, help_text="Openid, WeCom external user ID or device token.")
    unionid = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    adviser_userid = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    adviser = serializers.IntegerField(required=False, allow_null=True, default=None, help_text="The staff user who advises the member.")
    dealer_code = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")


class IdentityRemoveSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=IdentityKind.choices)
    app_id = serializers.CharField(max_length=64)
    external_id = serializers.CharField(max_length=255)


class IdentitySerializer(ReadOnlyModelSerializer):
    class Meta:
        model = ChannelIdentity
        fields = ["kind", "app_id", "external_id", "unionid", "adviser_userid", "adviser", "dealer_code", "created_at", "updated_at"]
        read_only_fields = fields


class SubscriptionInputSerializer(serializers.Serializer):
    template_id = serializers.CharField(max_length=128)
    count = serializers.IntegerField(min_value=1, max_value=100, default=1, help_text="How many times the member accepted it.")


class SubscriptionSerializer(ReadOnlyModelSerializer):
    class Meta:
        model = SubscriptionQuota
        fields = ["template_id", "remaining", "updated_at"]
        read_only_fields = fields
