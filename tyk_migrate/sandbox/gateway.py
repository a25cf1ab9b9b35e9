"""A gateway emulator under ``/gateway/``: does this key open this API, as the Tyk Gateway would decide.

The API is found by the listen path of a product's ``APIDetails`` (``/gateway/payments/x`` -> the API
listening on ``/payments/``) or by its ``APIID`` as the first segment. The key comes from
``Authorization: <key>``, ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Answers: 200 when
the gateway holds that key with access to the API: a Tyk-managed credential's key through a product exposing
it, a legacy session's (legacy.py) through its ``access_rights``; 403 when the key exists but lacks the API
(also a legacy key marked inactive); 401 for a missing key, an expired legacy key, and an unknown or deleted
one (403 under ``unknown-key=403``); 429 past the rate limit and 403 past the quota, the plan's for a
credential's key, its own for a legacy key. Under ``min-key-length=accept-then-403`` every key not longer
than the minimum answers 403, as older gateways did.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..secrets import mask
from .legacy import DISALLOWED, Limits, limits_of, refusal
from .state import Obj, SandboxState
from .world import LiveBehaviour

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def request_key(request: Request) -> str:
    value = request.headers.get("authorization", "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value or request.headers.get("x-api-key", "").strip()


Bucket = tuple[int, int | None]  # (gateway row ID, credential ID): a key taken over starts afresh, as Tyk resets


class RateLimiter:
    """One token bucket per key: ``rate`` calls per ``per`` seconds, refilled smoothly."""

    def __init__(self) -> None:
        self.buckets: dict[Bucket, tuple[float, float]] = {}

    def allow(self, bucket: Bucket, limits: Limits) -> bool:
        rate, per = limits.rate, limits.per
        if rate <= 0:
            return True
        now = time.monotonic()
        tokens, last = self.buckets.get(bucket, (rate, now))
        tokens = min(rate, tokens + (now - last) * rate / per)
        if tokens < 1:
            self.buckets[bucket] = (tokens, now)
            return False
        self.buckets[bucket] = (tokens - 1, now)
        return True


class QuotaCounter:
    """Requests counted per key against ``quota`` per ``renewal`` seconds (a lifetime cap when it never renews)."""

    def __init__(self) -> None:
        self.used: dict[Bucket, tuple[int, float]] = {}

    def allow(self, bucket: Bucket, limits: Limits) -> bool:
        if limits.quota <= 0:
            return True
        now = time.monotonic()
        count, start = self.used.get(bucket, (0, now))
        if limits.renewal > 0 and now - start >= limits.renewal:
            count, start = 0, now
        if count >= limits.quota:
            return False
        self.used[bucket] = (count + 1, start)
        return True


class Gateway:
    def __init__(self, state: SandboxState, behaviour: LiveBehaviour | None = None, min_key_length: int = 8) -> None:
        self.state = state
        self.behaviour = behaviour or LiveBehaviour()
        self.min_key_length = min_key_length
        self.limiter = RateLimiter()
        self.quotas = QuotaCounter()

    def routes(self) -> list[Route]:
        return [Route("/{path:path}", self.handle, methods=METHODS)]

    def find_api(self, path: str) -> Obj | None:
        first = path.strip("/").split("/", 1)[0]
        api = self.state.apis_by_id.get(first)
        if api is not None:
            return api
        segments = path.strip("/").split("/")
        for n in range(len(segments), 0, -1):
            api = self.state.apis_by_path.get("/" + "/".join(segments[:n]) + "/")
            if api is not None:
                return api
        return None

    async def handle(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        api = self.find_api(path)
        if api is None:
            return JSONResponse({"error": "API not found for this path"}, status_code=404)
        key = request_key(request)
        if not key:
            return JSONResponse({"error": "Authorization field missing"}, status_code=401)
        world = self.behaviour.current
        if world.min_key_length == "accept-then-403" and len(key) <= self.min_key_length:
            return JSONResponse({"error": DISALLOWED}, status_code=403)  # the old gateways' check was <=
        session = self.state.gateway.get(key)
        if session is None:
            if world.unknown_key == 403:
                return JSONResponse({"error": DISALLOWED}, status_code=403)
            return JSONResponse({"error": "Key not authorised"}, status_code=401)
        api_id = str(api.get("APIID", ""))
        refused = refusal(self.state, session, api_id)
        if refused is not None:
            return JSONResponse({"error": refused[1]}, status_code=refused[0])
        limits, bucket = limits_of(self.state, session), (session["ID"], session.get("CredentialID"))
        if not self.limiter.allow(bucket, limits):
            return JSONResponse({"error": "Rate limit exceeded"}, status_code=429)
        if not self.quotas.allow(bucket, limits):  # after the rate limit, as Tyk: a throttled call uses no quota
            return JSONResponse({"error": "Quota exceeded"}, status_code=403)
        return JSONResponse(
            {
                "ok": True,
                "api_id": api_id,
                "api_name": api.get("Name"),
                "method": request.method,
                "path": path,
                "credential_id": session["CredentialID"],
                "plan_id": session.get("PlanID"),
                "key": mask(key),
            }
        )
