"""Redeem-heavy load on the REST API: POS redemptions (some codes contested by several tills at once, some retries
with the same Idempotency-Key), points earned by the member app's backend, points-mall purchases by members, and
reads. Started by ``python -m bench.loadtest.run`` (``make loadtest``), which seeds the data file this reads."""

import contextlib
import itertools
import json
import os
import random
import uuid

from locust import HttpUser, between, task

DATA = json.loads(open(os.environ["USEROPS_LOADTEST_DATA"], encoding="utf-8").read())  # noqa: PTH123, SIM115
FRESH_CODES = iter(DATA["codes"])
CONTESTED = DATA["contested_codes"]
TOKENS = DATA["tokens"]
MEMBER_IDS = DATA["member_ids"]
NEXT = itertools.count()

# Refusals that are correct answers under this load (the point is that they are refusals, not double spends).
EXPECTED_REFUSALS = {"already_redeemed", "insufficient_points", "member_limit_reached", "member_period_limit_reached", "out_of_stock"}


def key() -> str:
    return uuid.uuid4().hex


class Till(HttpUser):
    """A POS till / dealer system (API key) and, for the mall and reads, the member app acting for one member."""

    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        self.api_key = {"X-Api-Key": DATA["api_key"]}
        token, member_id = TOKENS[next(NEXT) % len(TOKENS)]
        self.member = {"Authorization": f"Bearer {token}"}
        self.member_id = member_id

    def _check(self, response, ok: tuple[int, ...] = (200, 201)) -> None:
        if response.status_code in ok:
            response.success()
            return
        code = ""
        with contextlib.suppress(ValueError, KeyError, TypeError):
            code = response.json()["error"]["code"]
        if response.status_code in (400, 409) and code in EXPECTED_REFUSALS:
            response.success()
        else:
            response.failure(f"{response.status_code} {code or response.text[:120]}")

    @task(6)
    def redeem_fresh_code(self) -> None:
        code = next(FRESH_CODES, None)
        if code is None:
            return
        body = {"code": code, "channel": "pos", "order_ref": f"order-{code}"}
        idempotency = {**self.api_key, "Idempotency-Key": key()}
        with self.client.post("/api/v1/grants/redeem/", json=body, headers=idempotency, name="redeem", catch_response=True) as response:
            self._check(response)
        if random.random() < 0.2:  # the till's network dropped the answer: it retries with the same key
            name = "redeem (retry, same key)"
            with self.client.post("/api/v1/grants/redeem/", json=body, headers=idempotency, name=name, catch_response=True) as again:
                self._check(again)
                if again.status_code == 201 and again.headers.get("Idempotent-Replayed") != "true":
                    again.failure("a retry was not replayed")

    @task(2)
    def redeem_contested_code(self) -> None:
        """Several tills scan the same voucher: one wins, the others are told it is already redeemed."""
        body = {"code": random.choice(CONTESTED), "channel": "pos"}
        headers = {**self.api_key, "Idempotency-Key": key()}
        with self.client.post("/api/v1/grants/redeem/", json=body, headers=headers, name="redeem (contested)", catch_response=True) as r:
            self._check(r)

    @task(3)
    def earn_points(self) -> None:
        member_id = random.choice(MEMBER_IDS)
        body = {"amount": random.randint(10, 500), "reason": "Purchase", "source_ref": f"order-{key()[:12]}"}
        headers = {**self.api_key, "Idempotency-Key": key()}
        with self.client.post(
            f"/api/v1/members/{member_id}/points/earn/", json=body, headers=headers, name="points earn", catch_response=True
        ) as response:
            self._check(response)

    @task(2)
    def mall_purchase(self) -> None:
        headers = {**self.member, "Idempotency-Key": key()}
        with self.client.post(
            f"/api/v1/mall/{DATA['mall_benefit_id']}/exchange/", headers=headers, name="mall exchange", catch_response=True
        ) as response:
            self._check(response)

    @task(4)
    def member_reads(self) -> None:
        path = random.choice(["/api/v1/me/", "/api/v1/me/points/", "/api/v1/me/benefits/", "/api/v1/mall/", "/api/v1/me/points/ledger/"])
        with self.client.get(path, headers=self.member, name=path, catch_response=True) as response:
            self._check(response, ok=(200,))

    @task(1)
    def system_reads(self) -> None:
        member_id = random.choice(MEMBER_IDS)
        with self.client.get(
            f"/api/v1/members/{member_id}/points/", headers=self.api_key, name="member points (system)", catch_response=True
        ) as response:
            self._check(response, ok=(200,))
