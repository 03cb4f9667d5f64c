from django.conf import settings
from rest_framework import serializers

from apps.campaigns.models import Referral


class ReferralCodeSerializer(serializers.Serializer):
    code = serializers.CharField()


class ReferralSerializer(serializers.ModelSerializer):
    class Meta:
        model = Referral
        fields = ["id", "referrer", "referee", "code", "state", "reject_reason", "qualifying_action", "qualified_at", "rewarded_at"]


class ReferralAttachSerializer(serializers.Serializer):
    referee = serializers.IntegerField(help_text="id of the newly enrolled member")
    code = serializers.CharField(max_length=16)


class ReferralQualifySerializer(serializers.Serializer):
    referee = serializers.IntegerField()
    action = serializers.ChoiceField(choices=[])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = settings.USEROPS_REFERRALS["QUALIFYING_ACTIONS"]
