"""The public unsubscribe link carried by every message: no authentication, the token is the credential.

GET shows a confirmation page (mail scanners that prefetch links must not unsubscribe anyone);
POST withdraws the consent and answers with a page, or JSON for API callers.
"""

import json

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from apps.core.api.exceptions import error_body
from apps.core.errors import ApplicationError
from apps.core.jsontext import refuse_lone_surrogates
from apps.messaging import services
from apps.messaging.models import Message
from apps.messaging.receipts import receipt_reader, receipt_token, receipt_token_valid


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        message = Message.objects.filter(unsubscribe_token=token).first()
        if message is None:
            return self._invalid(request)
        return render(request, "messaging/unsubscribe.html", {"message": message, "done": False})

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            message = services.message_unsubscribe(token=token)
        except ApplicationError as exc:
            if exc.code == "unsubscribe_token_invalid":
                return self._invalid(request)
            raise
        if _wants_json(request):
            return JsonResponse({"unsubscribed": True, "channel": message.channel})
        return render(request, "messaging/unsubscribe.html", {"message": message, "done": True})

    def _invalid(self, request: HttpRequest) -> HttpResponse:
        if _wants_json(request):
            return JsonResponse(error_body("unsubscribe_token_invalid", _("This unsubscribe link is not valid.")), status=404)
        return render(request, "messaging/unsubscribe.html", {"invalid": True}, status=404)


@method_decorator(csrf_exempt, name="dispatch")
class DeliveryReceiptView(View):
    """A provider's delivery reports: ``POST /api/v1/messaging/receipts/<provider>/<token>/`` (see docs/messaging.md).

    The token in the URL is the provider's configured receipt token, compared in constant time. Unknown message
    references are answered 404 with the references listed (the known ones in the batch are applied); a report
    repeated changes nothing.
    """

    http_method_names = ["post"]

    def post(self, request: HttpRequest, provider: str, token: str) -> HttpResponse:
        reader = receipt_reader(provider)
        if reader is None or not receipt_token(provider):
            return JsonResponse(
                error_body("receipts_not_configured", _("Delivery receipts are not configured for %(provider)s.") % {"provider": provider}),
                status=404,
            )
        if not receipt_token_valid(provider, token):
            return JsonResponse(error_body("receipt_token_invalid", _("This receipt URL's token is not valid.")), status=403)
        try:
            payload = json.loads(request.body or b"")
        except ValueError:
            return JsonResponse(error_body("invalid_receipt", _("The body is not JSON."), {"body": ""}), status=400)
        read, acknowledgement = reader
        try:
            result = services.message_receipts_apply(provider=provider, receipts=read(refuse_lone_surrogates(payload)))
        except ApplicationError as exc:
            return JsonResponse(error_body(exc.code, exc.message, exc.fields), status=exc.http_status)
        if result.unknown:
            return JsonResponse(
                error_body(
                    "unknown_reference",
                    _("No message sent through %(provider)s has these references.") % {"provider": provider},
                    {"reference": ", ".join(result.unknown)},
                    references=result.unknown,
                    applied=result.applied,
                ),
                status=404,
            )
        return JsonResponse({**acknowledgement, "applied": result.applied, "repeated": result.repeated})


# The smallest transparent GIF: what the open pixel answers, whatever the token.
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\x00\x00\x00"
    b"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = "no-store, private"


def tracked_link(request: HttpRequest, token: str) -> HttpResponse:
    """A message's tracked link (``/t/<token>/``): counts the click and redirects to the link stored on the message.

    Public, no session or authentication: the signed token is the credential. Where it leads is never read from
    the request, so the link cannot be turned into an open redirect; a token that is altered, expired or whose
    message has no link gets the same plain 404.
    """
    target = services.message_record_click(token=token)
    if target is None:
        response = HttpResponse(_("This link is not valid."), status=404, content_type="text/plain; charset=utf-8")
    else:
        response = HttpResponseRedirect(target)
    response["Cache-Control"] = NO_STORE
    response["Referrer-Policy"] = "no-referrer"
    return response


def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    """An email's open pixel (``/t/<token>/o.gif``): records the message's first open; the same image for any token,
    so it tells nobody whether a token is one of ours."""
    services.message_record_open(token=token)
    response = HttpResponse(PIXEL_GIF, content_type="image/gif")
    response["Cache-Control"] = NO_STORE
    return response
