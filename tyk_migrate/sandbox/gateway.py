"""A gateway emulator under ``/gateway/``: does this key open this API, as the Tyk Gateway would decide.

The API is found by the listen path of a product's ``APIDetails`` (``/gateway/payments/x`` -> the API
listening on ``/payments/``) or by its ``APIID`` as the first segment. The key comes from
``Authorization: <key>``, ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Answers: 200 when
the gateway holds that key (normally: a Tyk-managed credential's) with a product exposing the API; 403
when the key exists but lacks the API; 401 for a missing key; 401 for an unknown or deleted one (403 under
``unknown-key=403``); 429 past the plan's rate limit. Under ``min-key-length=accept-then-403`` every key
not longer than the minimum answers 403, as older gateways did.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..secrets import mask
from .state import Obj, SandboxState
from .world import LiveBehaviour

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def request_key(request: Request) -> str:
    value = request.headers.get("authorization", "").strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    return value or request.headers.get("x-api-key", "").strip()


class RateLimiter:
    """One token bucket per credential: ``RateLimit`` calls per ``Per`` seconds, refilled smoothly."""

    def __init__(self) -> None:
        self.buckets: dict[int, tuple[float, float]] = {}

    def allow(self, cred_id: int, plan: Obj | None) -> bool:
        if plan is None or plan.get("UnlimitedRateLimit"):
            return True
        rate, per = plan.get("RateLimit") or 0, plan.get("Per") or 60
        if not isinstance(rate, int | float) or rate <= 0:
            return True
        now = time.monotonic()
        tokens, last = self.buckets.get(cred_id, (float(rate), now))
        tokens = min(float(rate), tokens + (now - last) * rate / per)
        if tokens < 1:
            self.buckets[cred_id] = (tokens, now)
            return False
        self.buckets[cred_id] = (tokens - 1, now)
        return True


DISALLOWED = "Access to this API has been disallowed"  # the real gateway's 403 text


class Gateway:
    def __init__(self, state: SandboxState, behaviour: LiveBehaviour | None = None, min_key_length: int = 8) -> None:
        self.state = state
        self.behaviour = behaviour or LiveBehaviour()
        self.min_key_length = min_key_length
        self.limiter = RateLimiter()

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
        granted = self.state.products_by_api.get(api_id, set())
        if not granted.intersection(session.get("ProductIDs") or ()):
            return JSONResponse({"error": DISALLOWED}, status_code=403)
        try:
            plan = self.state.plans.get(int(session.get("PlanID", 0)))
        except (TypeError, ValueError):
            plan = None
        if not self.limiter.allow(session["ID"], plan):
            return JSONResponse({"error": "Rate limit exceeded"}, status_code=429)
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
