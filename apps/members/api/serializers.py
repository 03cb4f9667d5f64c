"""Input serializers list exactly what a caller may set; tier, balance, status and staff flags are never among them."""

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from apps.core.api.serializers import ReadOnlyModelSerializer
from apps.members.models import ConsentChannel, Gender, Member, PointsEntry, SourceChannel, Tier


class TierSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tier
        fields = ["code", "name", "rank", "threshold"]


class ConsentsSerializer(serializers.Serializer):
    sms = serializers.BooleanField(required=False)
    email = serializers.BooleanField(required=False)
    push = serializers.BooleanField(required=False)
    official_account = serializers.BooleanField(required=False)
    mini_program = serializers.BooleanField(required=False)
    wecom = serializers.BooleanField(required=False)


def consents_of(member: Member) -> dict[str, bool]:
    given = {consent.channel: consent.granted for consent in member.consents.all()}
    return {channel: given.get(channel, False) for channel in ConsentChannel.values}


class MemberSerializer(serializers.ModelSerializer):
    tier = TierSerializer(read_only=True)
    points_balance = serializers.IntegerField(source="points_account.balance", read_only=True)
    growth_value = serializers.IntegerField(read_only=True)
    tags = serializers.SlugRelatedField(many=True, slug_field="name", read_only=True)
    consents = serializers.SerializerMethodField()
    email = serializers.CharField(read_only=True, help_text="Empty when unknown.")

    class Meta:
        model = Member
        fields = [
            "id",
            "external_id",
            "name",
            "phone",
            "email",
            "gender",
            "birthday",
            "city",
            "source_channel",
            "status",
            "joined_at",
            "updated_at",
            "tier",
            "growth_value",
            "points_balance",
            "tags",
            "consents",
        ]
        read_only_fields = fields

    def get_consents(self, member: Member) -> dict[str, bool]:
        return consents_of(member)


class MemberProfileSerializer(serializers.Serializer):
    """What a trusted system may set on a member; updates use it with ``partial=True``."""

    name = serializers.CharField(max_length=100)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    external_id = serializers.CharField(max_length=64, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False)
    birthday = serializers.DateField(required=False, allow_null=True)
    city = serializers.CharField(max_length=64, required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)


class MemberEnrolSerializer(MemberProfileSerializer):
    source_channel = serializers.ChoiceField(choices=SourceChannel.choices, required=False)
    consents = ConsentsSerializer(required=False)


class MyProfileSerializer(serializers.ModelSerializer):
    tier = TierSerializer(read_only=True)
    growth_value = serializers.IntegerField(read_only=True)
    email = serializers.CharField(read_only=True, help_text="Empty when unknown.")

    class Meta:
        model = Member
        fields = ["id", "name", "phone", "email", "gender", "birthday", "city", "status", "joined_at", "tier", "growth_value"]
        read_only_fields = fields


class MyProfileUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    email = serializers.EmailField(required=False, allow_blank=True)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False)
    birthday = serializers.DateField(required=False, allow_null=True)
    city = serializers.CharField(max_length=64, required=False, allow_blank=True)


class TierProgressSerializer(serializers.Serializer):
    tier = TierSerializer()
    growth_value = serializers.IntegerField()
    next_tier = TierSerializer(allow_null=True)
    needed_for_next = serializers.IntegerField()
    guaranteed_until = serializers.DateTimeField(allow_null=True)


class PointsSummarySerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    next_expiry_at = serializers.DateTimeField(allow_null=True)
    next_expiry_amount = serializers.IntegerField()


class PointsEntrySerializer(ReadOnlyModelSerializer):
    reverses = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    reason = serializers.CharField(source="reason_text", read_only=True, help_text="The reason in the request's language.")
    reason_code = serializers.CharField(read_only=True, help_text="Set for reasons the system writes; empty for reasons staff typed.")
    reason_params = serializers.JSONField(read_only=True)

    class Meta:
        model = PointsEntry
        fields = [
            "id",
            "kind",
            "amount",
            "balance_after",
            "reason",
            "reason_code",
            "reason_params",
            "source_ref",
            "expires_at",
            "reverses",
            "created_at",
        ]
        read_only_fields = fields


class PointsEarnSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, max_value=100_000_000)
    reason = serializers.CharField(max_length=255)
    source_ref = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class PointsSpendSerializer(serializers.Serializer):
    amount = serializers.IntegerField(min_value=1, max_value=100_000_000)
    reason = serializers.CharField(max_length=255)
    source_ref = serializers.CharField(max_length=128, required=False, allow_blank=True, default="")


class PointsReverseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255)


class PointsOperationSerializer(serializers.Serializer):
    entry = PointsEntrySerializer()
    balance = serializers.IntegerField()


class MemberTokenIssueSerializer(serializers.Serializer):
    member_id = serializers.IntegerField(required=False)
    external_id = serializers.CharField(max_length=64, required=False)
    phone = serializers.CharField(max_length=32, required=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs:
            raise serializers.ValidationError(_("Give member_id, external_id or phone."))
        return attrs


class MemberTokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    member_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class AnonymiseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255)


class AnonymisedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    anonymised_at = serializers.DateTimeField()


class ProfileSectionSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField(help_text="In the request's language.")
    value = serializers.JSONField(help_text="The section's own summary: a list of rows, an object, or a plain value.")


class MySummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    tier = TierProgressSerializer()
    progress_percent = serializers.IntegerField(help_text="Way from this tier's threshold to the next one's, 0-100.")
    points = PointsSummarySerializer()
    sections = ProfileSectionSerializer(many=True, help_text="The profile sections shown to members, in page order.")


class TimelineItemSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    source = serializers.CharField()
    kind = serializers.CharField()
    title = serializers.CharField()
    detail = serializers.CharField()
    data = serializers.JSONField()


class TimelinePageSerializer(serializers.Serializer):
    items = TimelineItemSerializer(many=True)
    older = serializers.CharField(allow_null=True, help_text="Pass as ?before= for the next older page; null on the oldest page.")


class TimelineQuerySerializer(serializers.Serializer):
    before = serializers.CharField(required=False, max_length=200)
    source = serializers.MultipleChoiceField(choices=[], required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=25)

    def __init__(self, *args: Any, sources: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["source"].choices = sources
