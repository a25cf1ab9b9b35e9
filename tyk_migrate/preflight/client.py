"""The preflight's HTTP: the portal client with the few calls a preflight needs beyond a migration's, and a
gateway probe.

A preflight looks at answers the migration client hides on purpose (the raw envelope of ``/plans``, the body
of a refusal, how many rows a page really holds), so ``exchange`` hands back the ``httpx.Response`` itself;
GETs are retried on 429/5xx/no answer with the client's own policy, writes are sent once, as everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import httpx

from ..config import Settings
from ..errors import UnexpectedAnswer
from ..portal import Call, PortalClient, _tls_verify, connection_error
from ..portal_errors import NO_ANSWER_ERRORS, error_for
from ..verify import auth_headers

#: Rows asked per page when the preflight walks a list (its own, small lists: the migration asks
#: ``portal.DEFAULT_PER_PAGE``, as ``reads.per_page_cap`` does).
WALK_PER_PAGE = 100
#: Pages a walk reads at most: a portal that never ends a list must not hold a preflight forever.
WALK_MAX_PAGES = 10_000
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def rows_of(body: Any) -> list[dict[str, Any]] | None:
    """A list answer's rows, bare or in a ``{"data": [...]}`` envelope; None for anything else."""
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        body = body["data"]
    if isinstance(body, list):
        return [row for row in body if isinstance(row, dict)]
    return None


def json_of(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


class PreflightClient(PortalClient):
    """``PortalClient`` plus raw exchanges, users and a defensive list walk."""

    def exchange(self, call: Call, *, retry: bool = True) -> tuple[httpx.Response, float]:
        """One call answered raw with its seconds; GETs retried (unless ``retry=False``) on 429/5xx/no answer.

        Raises ``PortalConnectionError`` when no answer came at all."""
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                response = self._http.send(self._build(call))
            except NO_ANSWER_ERRORS as exc:
                if retry and call.retryable and attempt < self.retry.attempts:
                    time.sleep(self.retry.delay(attempt))
                    continue
                raise connection_error(call, exc) from exc
            seconds = time.perf_counter() - started
            if retry and call.retryable and response.status_code in _RETRY_STATUSES and attempt < self.retry.attempts:
                wait = getattr(error_for(call, response), "retry_after", None)
                time.sleep(self.retry.delay(attempt, wait))
                continue
            return response, seconds

    def get_rows(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """One page of a list endpoint (``page``/``per_page`` as given), bare or enveloped."""
        call = Call("GET", path, params=params or None)
        response, _ = self.exchange(call)
        if response.status_code != 200:
            raise error_for(call, response)
        rows = rows_of(json_of(response))
        if rows is None:
            raise UnexpectedAnswer('expected a JSON array or {"data": [...]}', method="GET", path=path, status=200)
        return rows

    def walk(self, path: str) -> list[dict[str, Any]]:
        """Every row of a list, read to an empty page or a page with nothing new.

        The migration's pager ends at a short page; this one reads one page more, so it also survives a silent
        ``per_page`` cap of any size and an endpoint that answers the same rows whatever ``page`` says."""
        seen: dict[Any, dict[str, Any]] = {}
        for page in range(1, WALK_MAX_PAGES + 1):
            rows = self.get_rows(path, page=page, per_page=WALK_PER_PAGE)
            new = [row for row in rows if row.get("ID") not in seen]
            if not new:
                break
            seen.update((row.get("ID"), row) for row in new)
        return list(seen.values())

    def create_user(self, email: str, first: str, last: str) -> Any:
        """``POST /users`` (the file's ``User-create``); answers ``User-show``, whose ``JWTToken`` is dropped."""
        body = {
            "Email": email,
            "First": first,
            "Last": last,
            "Active": True,
            "Role": "consumer-team-member",
            "Provider": "password",
            "ResetPassword": False,
        }
        answer = self._send(Call("POST", "/users", json=body, expect=(200, 201)))
        if isinstance(answer, dict):
            answer.pop("JWTToken", None)  # an admin-API credential of that user: not ours to keep
        return answer

    def delete_user(self, user_id: int) -> Any:
        """``DELETE /users/{id}``: the user, their apps and credentials (the file)."""
        return self._send(Call("DELETE", f"/users/{int(user_id)}", expect=(200, 204)))


class GatewayProbe:
    """GETs on the gateway with a canary key (``Authorization: <key>``); the status, or None for no answer."""

    def __init__(self, base_url: str, settings: Settings) -> None:
        self.base_url = base_url.rstrip("/")
        timeout = min(settings.timeout, 10.0)
        self._http = httpx.Client(verify=_tls_verify(settings), timeout=timeout, follow_redirects=False)

    def status(self, target: str, key: Any) -> int | None:
        try:
            return self._http.get(self.base_url + target, headers=auth_headers(key, "authorization")).status_code
        except httpx.HTTPError:
            return None

    def close(self) -> None:
        self._http.close()


def api_target(product: dict[str, Any]) -> str | None:
    """The gateway path of one of a product's APIs (``GET /products/{id}``): its listen path, else its API ID."""
    details: Iterable[Any] = product.get("APIDetails") or []
    apis = [a for a in details if isinstance(a, dict)]
    for field in ("ListenPath", "APIID"):
        for api in apis:
            value = str(api.get(field) or "").strip().strip("/")
            if value:
                return f"/{value}/"
    return None
