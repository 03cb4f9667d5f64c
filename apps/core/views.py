from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import check_for_language
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from apps.core import services


def health(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@require_POST
@login_required
def set_user_language(request: HttpRequest) -> HttpResponse:
    """Django's ``set_language``, remembering the choice on the staff user as well as in the cookie."""
    language = request.POST.get("language", "")
    if check_for_language(language):
        services.user_set_language(user=request.user, language=language)
    return set_language(request)
