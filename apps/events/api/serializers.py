import io
from typing import Any

import segno
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.events import selectors, services
from apps.events.models import Club, ClubJoinRequest, ClubMembership, Event, Registration


class ClubSerializer(serializers.ModelSerializer):
    class Meta:
        model = Club
        fields = ["id", "name", "city", "interest"]
        read_only_fields = fields


class EventSerializer(serializers.ModelSerializer):
    club = ClubSerializer(read_only=True, allow_null=True)
    online_url = serializers.CharField(read_only=True, help_text="Empty for offline events.")
    seats_left = serializers.IntegerField(read_only=True)

    class Meta:
        model = Event
        fields = [
            "id",
            "title",
            "description",
            "kind",
            "city",
            "venue",
            "online_url",
            "starts_at",
            "ends_at",
            "registration_opens_at",
            "registration_closes_at",
            "cancellation_deadline",
            "capacity",
            "seats_left",
            "points_price",
            "attendance_points",
            "max_companions",
            "status",
            "club",
            "members_only",
        ]
        read_only_fields = fields


class TicketSerializer(serializers.Serializer):
    code = serializers.CharField()
    qr_payload = serializers.CharField()
    qr_svg = serializers.CharField(help_text="An SVG image of the QR code, as a data URI.")


class RegistrationSerializer(serializers.ModelSerializer):
    event = EventSerializer(read_only=True)
    ticket = serializers.SerializerMethodField()

    class Meta:
        model = Registration
        fields = ["id", "event", "state", "companions", "created_at", "promoted_at", "cancelled_at", "checked_in_at", "ticket"]
        read_only_fields = fields

    def get_ticket(self, registration: Registration) -> dict[str, str] | None:
        if registration.state not in ("registered", "attended"):
            return None
        payload = services.ticket_payload(registration)
        buffer = io.BytesIO()
        segno.make(payload, error="m").save(buffer, kind="svg", scale=4)
        svg = buffer.getvalue().decode()
        return {"code": registration.ticket_code, "qr_payload": payload, "qr_svg": "data:image/svg+xml;utf8," + svg}


class RegisterSerializer(serializers.Serializer):
    companions = serializers.IntegerField(min_value=0, max_value=20, default=0)


class CheckInSerializer(serializers.Serializer):
    ticket = serializers.CharField(max_length=512, help_text="The ticket code, or the QR code's content.")
    event_id = serializers.IntegerField(required=False)


class CheckInResultSerializer(serializers.Serializer):
    already_checked_in = serializers.BooleanField()
    checked_in_at = serializers.DateTimeField()
    member_name = serializers.CharField()
    companions = serializers.IntegerField()
    message = serializers.CharField()


class ClubListSerializer(serializers.ModelSerializer):
    members = serializers.IntegerField(source="active_members", read_only=True)

    class Meta:
        model = Club
        fields = ["id", "name", "city", "interest", "description", "join_policy", "max_members", "members"]
        read_only_fields = fields


class MyClubStateSerializer(serializers.Serializer):
    is_member = serializers.BooleanField()
    role = serializers.CharField(allow_null=True)
    joined_at = serializers.DateTimeField(allow_null=True)
    request_status = serializers.CharField(allow_null=True, help_text="Of the member's latest join request, if any.")
    request_reason = serializers.CharField(help_text="Why the latest request was declined.")
    can_join = serializers.BooleanField()
    refusal = serializers.CharField(allow_null=True, help_text="Why the member cannot join now (full, rule not met).")


class ClubRuleSerializer(serializers.Serializer):
    tiers = serializers.ListField(child=serializers.CharField(), help_text="Tier codes.")
    cities = serializers.ListField(child=serializers.CharField())
    tags = serializers.ListField(child=serializers.CharField())
    segment = serializers.CharField(allow_null=True, help_text="The saved segment's name, if the rule has one.")


class ClubEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    starts_at = serializers.DateTimeField()
    members_only = serializers.BooleanField()


class ClubDetailSerializer(ClubListSerializer):
    rule = serializers.SerializerMethodField()
    upcoming_events = serializers.SerializerMethodField()
    me = serializers.SerializerMethodField()

    class Meta(ClubListSerializer.Meta):
        fields = [*ClubListSerializer.Meta.fields, "rule", "upcoming_events", "me"]
        read_only_fields = fields

    @extend_schema_field(ClubRuleSerializer(allow_null=True))
    def get_rule(self, club: Club) -> dict[str, Any] | None:
        if club.join_policy != "rule":
            return None
        return {
            "tiers": [tier.code for tier in club.rule_tiers.all()],
            "cities": club.rule_city_list,
            "tags": [tag.name for tag in club.rule_tags.all()],
            "segment": selectors.club_rule_segment_name(club=club),
        }

    @extend_schema_field(ClubEventSerializer(many=True))
    def get_upcoming_events(self, club: Club) -> list[dict[str, Any]]:
        events = selectors.club_upcoming_events(club=club)[:10]
        return [{"id": e.pk, "title": e.title, "starts_at": e.starts_at, "members_only": e.members_only} for e in events]

    @extend_schema_field(MyClubStateSerializer)
    def get_me(self, club: Club) -> dict[str, Any]:
        member = self.context["member"]
        state = selectors.member_club_state(club=club, member=member)
        refusal = None if state["is_member"] else selectors.club_refusal_for(club=club, member=member)
        return {**state, "can_join": not state["is_member"] and refusal is None, "refusal": refusal}


class MyClubSerializer(serializers.ModelSerializer):
    club = ClubSerializer(read_only=True)

    class Meta:
        model = ClubMembership
        fields = ["id", "club", "role", "joined_at"]
        read_only_fields = fields


class ClubJoinInputSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class JoinResultSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=["joined", "pending", "left", "withdrawn"])
    club = serializers.IntegerField()
    membership = MyClubSerializer(allow_null=True)
    request_id = serializers.IntegerField(allow_null=True)


class JoinRequestSerializer(serializers.ModelSerializer):
    member_name = serializers.CharField(source="member.name", read_only=True)
    member_tier = serializers.CharField(source="member.tier.name", read_only=True)
    member_city = serializers.CharField(source="member.city", read_only=True)

    class Meta:
        model = ClubJoinRequest
        fields = ["id", "club", "member_name", "member_tier", "member_city", "message", "status", "created_at", "decided_at", "reason"]
        read_only_fields = fields


class DeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255)
