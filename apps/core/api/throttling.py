from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import ScopedRateThrottle

from apps.core import rate_limits


class SharedScopedRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle, counted in the shared cache with one atomic increment per request.

    DRF's own throttle keeps a list of timestamps that each process reads and writes back whole, so concurrent workers
    overwrite each other's hits; a counter per fixed window does not lose any.
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        count, self.seconds_left = rate_limits.window_hit(key=self.key, window_seconds=self.duration)
        return count <= self.num_requests

    def wait(self) -> float | None:
        return self.seconds_left
