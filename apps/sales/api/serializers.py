from rest_framework import serializers

from apps.sales.models import LeadChannel, LeadOutcome


class LeadItemSerializer(serializers.Serializer):
    """One lead of a batch (documentation only: the service checks each lead and reports per-lead errors)."""

    source_system = serializers.CharField(max_length=40, required=False, help_text="Defaults to the calling API client's name.")
    source_ref = serializers.CharField(max_length=64, help_text="Unique per source system: a lead sent again is stored once.")
    name = serializers.CharField(max_length=100)
    phone = serializers.CharField(required=False, help_text="Mobile number in any usual form; stored as E.164.")
    external_id = serializers.CharField(max_length=64, required=False, help_text="The person's id in the member app or CRM.")
    city = serializers.CharField(max_length=64, required=False)
    dealer = serializers.CharField(max_length=20, required=False, help_text="The dealer's code, e.g. SH001.")
    channel = serializers.ChoiceField(choices=LeadChannel.choices, required=False)
    interest = serializers.CharField(max_length=64, required=False, help_text="The model asked about.")
    received_at = serializers.DateTimeField(required=False, help_text="ISO 8601; without an offset it is read as Asia/Shanghai time.")


class LeadBatchSerializer(serializers.Serializer):
    leads = LeadItemSerializer(many=True, help_text="1 to 500 leads.")


class LeadItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    source_ref = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "duplicate", "rejected"])
    lead_ref = serializers.CharField(required=False, help_text="An opaque reference to the stored lead; the same for a duplicate.")
    member_id = serializers.IntegerField(required=False, help_text="The member or prospect matched; only for a key that may read members.")
    outcome = serializers.ChoiceField(
        choices=LeadOutcome.choices, required=False, help_text="How the lead was matched; only for a key that may read members."
    )
    code = serializers.CharField(required=False)
    field = serializers.CharField(required=False, allow_null=True)
    message = serializers.CharField(required=False)


class LeadBatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = serializers.IntegerField()
    items = LeadItemResultSerializer(many=True)
