from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def baseline_points_insert(request: HttpRequest, pk: int) -> JsonResponse:
    """The floor for a points write: one plain Django view, one INSERT, no auth, no locks, no checks."""
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_points_baseline (member_id, amount, created_at) VALUES (%s, %s, now())", [pk, 10])
    return JsonResponse({"ok": True}, status=201)


urlpatterns = [
    path("bench/baseline/points/<int:pk>/", baseline_points_insert),
    path("", include("config.urls")),
]
