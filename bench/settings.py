"""Benchmark settings: the product's settings plus a URLconf that adds the baseline views."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
# The benchmarks measure the work, not the rate limits.
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"member_token_issue": "1000000/min", "redeem": "1000000/min"}}  # noqa: F405
