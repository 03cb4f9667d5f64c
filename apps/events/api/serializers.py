import io

import segno
from rest_framework import serializers

from apps.events import services
from apps.events.models import Club, Event, Registration


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
