"""Benchmark settings: the product's settings plus a URLconf that adds the baseline views."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"member_token_issue": "100000/min"}}  # noqa: F405
