from rest_framework import serializers

from apps.benefits.models import Benefit, Grant, GrantSource, Redemption, RedemptionChannel
from apps.core.api.serializers import ReadOnlyModelSerializer


class BenefitSerializer(ReadOnlyModelSerializer):
    class Meta:
        model = Benefit
        fields = ["id", "name", "description", "category", "kind", "face_value", "discount_percent", "discount_cap", "points_price"]
        read_only_fields = fields


class MallOfferSerializer(BenefitSerializer):
    affordable = serializers.SerializerMethodField()
    stock_left = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta(BenefitSerializer.Meta):
        fields = [*BenefitSerializer.Meta.fields, "stock_left", "affordable"]
        read_only_fields = fields

    def get_affordable(self, benefit: Benefit) -> bool:
        return benefit.points_price <= self.context["balance"]


class RedemptionSerializer(ReadOnlyModelSerializer):
    class Meta:
        model = Redemption
        fields = ["channel", "order_ref", "redeemed_at"]
        read_only_fields = fields


class GrantSerializer(ReadOnlyModelSerializer):
    benefit = BenefitSerializer(read_only=True)
    code = serializers.CharField(source="display_code", read_only=True)
    redemption = RedemptionSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Grant
        fields = ["id", "code", "benefit", "member", "state", "source", "valid_from", "valid_until", "issued_at", "redemption"]
        read_only_fields = fields


class RedeemSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=32, help_text="The code the member presents (dashes optional). Grant ids are not accepted.")
    member_id = serializers.IntegerField(required=False, help_text="When given, the grant must belong to this member.")
    channel = serializers.ChoiceField(choices=RedemptionChannel.choices)
    order_ref = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")


class GrantCreateSerializer(serializers.Serializer):
    benefit_id = serializers.IntegerField()
    member_id = serializers.IntegerField()
    source = serializers.ChoiceField(choices=GrantSource.choices, default=GrantSource.CAMPAIGN)
    source_ref = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
