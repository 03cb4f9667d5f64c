"""The product's URLs plus the floors of its HTTP writes: minimal views doing the least each operation needs.

A floor takes no authentication and no Idempotency-Key and writes with raw SQL, but it does the operation's
essential work in one transaction, on the product's own tables (same rows, indexes, constraints and triggers):

- points earn: lock the member's account row, insert the ledger row, update the balance;
- redemption: lock the grant by its code, check it is issued and inside its validity, insert the redemption
  row, mark the grant redeemed.
"""

import json

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def floor_points_earn(request: HttpRequest, pk: int) -> JsonResponse:
    body = json.loads(request.body)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT id, balance FROM members_pointsaccount WHERE member_id = %s FOR UPDATE", [pk])
        account_id, balance = cursor.fetchone()
        balance += body["amount"]
        cursor.execute(
            "INSERT INTO members_pointsentry (kind, amount, balance_after, reason, reason_code, reason_params, source_ref,"
            " idempotency_key, expires_at, created_at, account_id)"
            " VALUES ('earn', %s, %s, %s, '', '{}', %s, '', now() + interval '365 days', now(), %s)"
            " RETURNING id",
            [body["amount"], balance, body["reason"], body["source_ref"], account_id],
        )
        entry_id = cursor.fetchone()[0]
        cursor.execute("UPDATE members_pointsaccount SET balance = %s, updated_at = now() WHERE id = %s", [balance, account_id])
    return JsonResponse({"entry": {"id": entry_id, "amount": body["amount"]}, "balance": balance}, status=201)


@csrf_exempt
def floor_grant_redeem(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, state = 'issued' AND now() >= valid_from AND now() < valid_until FROM benefits_grant WHERE code = %s FOR UPDATE",
            [body["code"]],
        )
        found = cursor.fetchone()
        if found is None:
            return JsonResponse({"error": "grant_not_found"}, status=404)
        grant_id, usable = found
        if not usable:
            return JsonResponse({"error": "grant_unusable"}, status=409)
        cursor.execute(
            "INSERT INTO benefits_redemption (channel, order_ref, redeemed_at, grant_id) VALUES (%s, %s, now(), %s)",
            [body["channel"], body["order_ref"], grant_id],
        )
        cursor.execute("UPDATE benefits_grant SET state = 'redeemed', closed_at = now() WHERE id = %s", [grant_id])
    return JsonResponse({"id": grant_id, "code": body["code"], "state": "redeemed"}, status=201)


urlpatterns = [
    path("bench/floor/members/<int:pk>/points/earn/", floor_points_earn),
    path("bench/floor/grants/redeem/", floor_grant_redeem),
    path("", include("config.urls")),
]
