"""The public unsubscribe link carried by every message: no authentication, the token is the credential.

GET shows a confirmation page (mail scanners that prefetch links must not unsubscribe anyone);
POST withdraws the consent and answers with a page, or JSON for API callers.
"""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from apps.core.api.exceptions import error_body
from apps.core.errors import ApplicationError
from apps.messaging import services
from apps.messaging.models import Message


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
