"""``PortalClient`` and ``AsyncPortalClient``: the only code that speaks HTTP to the Tyk Developer Portal.

Both share one core: every operation is built as a pure ``Call`` (method, path, query, body, how to read
the answer), then sent by the sync or async sender, which maps transport failures and non-2xx answers onto
the ``errors`` tree (``PortalConnectionError``, ``RateLimited``, ``Rejected`` …), each carrying method,
path, status and the portal's ``errors`` list, never the token or a raw key.

Reads (GET) are retried on 429, 5xx and connection errors with capped, jittered exponential backoff that
honours ``Retry-After``. Writes are sent once: only the caller can settle whether a failed write was
applied (the runner looks the object up before trying again); a retry here could create duplicates.

Paging follows Tyk's rules, ``page`` from 1 and ``per_page``, never ``limit`` (it caps rows without moving
the offset), and survives portals that bend them: ``paging.Pager`` walks endpoints that ignore ``page`` or
cap ``per_page``, a list bare or in ``{"data": [...]}``; ``portal_errors`` reads any refusal body shape.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import httpx

from .calls import Call
from .config import Settings
from .errors import (
    PortalError,
)
from .paging import Pager, walk_pages
from .portal_errors import ERROR_BODY_CHARS as ERROR_BODY_CHARS  # re-exported: tests and scripts read it here
from .portal_errors import NO_ANSWER_ERRORS, is_retryable, read_answer
from .portal_errors import NOT_SENT_ERRORS as NOT_SENT_ERRORS  # re-exported with connection_error
from .portal_errors import connection_error as connection_error
from .retry import RetryPolicy
from .secrets import KeyValue, reveal
from .transport import AnyAnswer, BorrowedTransport, LeanTransport, lean_transport

CREDENTIAL_TYPE_TYK_MANAGED = "CREDENTIAL_TYPE_TYK_MANAGED"
#: rows asked for per page of every list (Tyk's default is 20; no maximum is documented, and the pager follows a
#: silent cap below it, as the preflight checks with this same ask). Large, because under faults every page of a
#: walk of /apps is a request that can fail, and a lookup after a lost app answer waits for the walk's slowest
#: page: at 100 a 2,000-app walk was 21 pages, and the benchmark's faults run took 30.1 s (median of four,
#: interleaved) against 22.6 s at 500 (docs/benchmarks.md)
DEFAULT_PER_PAGE = 500
APPS_PATH = "/apps"  #: listed by ``list_apps``, and page by page by the snapshot (credentials follow each page)

#: Called after every HTTP exchange: (method, path template, status or None, seconds).
ResponseHook = Callable[[str, str, int | None, float], None]


class _Operations:
    """Every portal operation the migration uses, written once for both clients: ``_send`` and ``_walk``
    come from the sync and async subclasses, so the methods return results (sync) or awaitables (async)."""

    per_page: int = DEFAULT_PER_PAGE

    def _send(self, call: Call) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def _walk(self, path: str, unwrap: str | None = None) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- users, products, plans (read only) -------------------------------------------------------
    def list_users(self) -> Any:
        """All portal users (list of dicts as the API returns them)."""
        return self._walk("/users")

    def get_user(self, user_id: int) -> Any:
        return self._send(Call("GET", f"/users/{int(user_id)}"))

    def list_products(self) -> Any:
        return self._walk("/products")

    def get_product(self, product_id: int) -> Any:
        return self._send(Call("GET", f"/products/{int(product_id)}"))

    def list_plans(self) -> Any:
        """All plans; portals answer this list as ``{"data": [...]}`` (1.13+ spec) or bare (1.12, 1.16)."""
        return self._walk("/plans", unwrap="data")

    def get_plan(self, plan_id: int) -> Any:
        return self._send(Call("GET", f"/plans/{int(plan_id)}"))

    # -- apps ---------------------------------------------------------------------------------------
    def list_apps(self) -> Any:
        return self._walk(APPS_PATH)

    def get_app(self, app_id: int) -> Any:
        return self._send(Call("GET", f"/apps/{int(app_id)}"))

    def create_app(
        self,
        name: str,
        user_id: int,
        *,
        description: str = "",
        redirect_urls: str = "",
        visibility: str = "organisation",
    ) -> Any:
        """Create a developer app owned by ``user_id``; answers the app (``ID``, ``CreatedAt`` …)."""
        body = {
            "Name": name,
            "Description": description,
            "RedirectURLs": redirect_urls,
            "UserID": int(user_id),
            "Visibility": visibility,
        }
        return self._send(Call("POST", APPS_PATH, json=body, expect=(200, 201)))

    def delete_app(self, app_id: int) -> Any:
        """Delete an app; the portal removes its credentials and revokes their keys."""
        return self._send(Call("DELETE", f"/apps/{int(app_id)}", expect=(200, 204)))

    # -- custom credentials -----------------------------------------------------------------------
    def list_credentials(self, app_id: int) -> Any:
        return self._walk(f"/apps/{int(app_id)}/custom_credentials")

    def get_credential(self, app_id: int, credential_id: int) -> Any:
        return self._send(Call("GET", f"/apps/{int(app_id)}/custom_credentials/{int(credential_id)}"))

    def create_credential(
        self,
        app_id: int,
        *,
        key_id: KeyValue,
        plan_id: int,
        product_ids: Iterable[int],
        alias: str = "",
        auth_token_type: str = "AUTH_TOKEN_TYPE_CUSTOM",
        authentication_method: str = "Auth Token",
        credential_type: str = CREDENTIAL_TYPE_TYK_MANAGED,
    ) -> Any:
        """Import ``key_id`` (its exact value) as a Tyk-managed custom credential of the app."""
        body = {
            "Alias": alias,
            "Type": credential_type,
            "PlanID": int(plan_id),
            "AuthenticationMethod": authentication_method,
            "ProductIDs": [int(p) for p in product_ids],
            "AuthTokenType": auth_token_type,
            "KeyID": reveal(key_id),
        }
        call = Call("POST", f"/apps/{int(app_id)}/custom_credentials", json=body, expect=(200, 201), secrets=(key_id,))
        return self._send(call)

    def delete_credential(self, app_id: int, credential_id: int) -> Any:
        path = f"/apps/{int(app_id)}/custom_credentials/{int(credential_id)}"
        return self._send(Call("DELETE", path, expect=(200, 204)))


def _tls_verify(settings: Settings) -> ssl.SSLContext | bool:
    if not settings.verify_tls:
        return False
    if settings.ca_bundle:
        return ssl.create_default_context(cafile=settings.ca_bundle)
    return True


class _ClientBase(_Operations):
    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        settings: Settings | None = None,
        retry: RetryPolicy | None = None,
        per_page: int = DEFAULT_PER_PAGE,
        max_connections: int = 100,
        on_response: ResponseHook | None = None,
        transport: Any = None,
    ) -> None:
        if settings is None:
            settings = Settings.from_env(portal_url=base_url, token=token)
        elif base_url or token:
            settings = replace(settings, portal_url=base_url or settings.portal_url, token=token or settings.token)
        self.settings = settings
        self.base_url, token_value = self._endpoint()
        self.retry = retry or RetryPolicy()
        self.per_page = per_page
        self.on_response = on_response
        timeout = httpx.Timeout(self.settings.timeout, connect=min(10.0, self.settings.timeout))
        # Requests are built here rather than by httpx's build_request: on a run of thousands of small
        # requests its URL merging and cookie handling cost more client CPU than the exchange itself.
        self._headers = {"Authorization": token_value, "Accept": "application/json"}
        self._json_headers = {**self._headers, "Content-Type": "application/json"}
        self._extensions = {"timeout": timeout.as_dict()}
        self._http_kwargs: dict[str, Any] = {
            "timeout": timeout,
            "limits": httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            "follow_redirects": False,
        }
        if transport is not None:
            self._http_kwargs["transport"] = transport
        else:
            tls = self.base_url.lower().startswith("https:")  # plain http: no CA store to load (~40 ms)
            self._http_kwargs["verify"] = _tls_verify(self.settings) if tls else False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url!r})"

    def _endpoint(self) -> tuple[str, str]:
        """The API base and token from the settings (the Dashboard client answers its own)."""
        return self.settings.require_portal()

    def _settle(self, call: Call, outcome: AnyAnswer | Exception, started: float, retry: int) -> Any:
        """The answer's body, or the delay before the next try, or the final error raised.

        Shared by both clients so their retry rules cannot drift apart. Returns ``(body, None)`` or
        ``(None, seconds_to_wait)``.
        """
        status = None if isinstance(outcome, Exception) else outcome.status_code
        if self.on_response is not None:
            self.on_response(call.method, call.template, status, time.perf_counter() - started)
        if not isinstance(outcome, Exception):
            try:
                return read_answer(call, outcome), None
            except PortalError as exc:
                error, cause = exc, None
        else:
            error, cause = connection_error(call, outcome), outcome
        if call.retryable and is_retryable(error) and retry < self.retry.attempts:
            return None, self.retry.delay(retry, getattr(error, "retry_after", None))
        if cause is None or call.secrets:  # the transport's error may quote the URL, and a key can be in it
            raise error from None
        raise error from cause

    def _target(self, call: Call) -> tuple[str, dict[str, str], bytes | None]:
        """The URL, headers and body ``call`` puts on the wire, whichever way it is sent."""
        url = self.base_url + call.path
        if call.params:
            url += "?" + urlencode(call.params)
        if call.json is None:
            return url, self._headers, None
        return url, self._json_headers, json.dumps(call.json, ensure_ascii=False, separators=(",", ":")).encode()

    def _build(self, call: Call) -> httpx.Request:
        url, headers, body = self._target(call)
        return httpx.Request(call.method, url, headers=headers, content=body, extensions=self._extensions)


class PortalClient(_ClientBase):
    """Blocking client, for notebooks and scripts. Use as a context manager or call ``close()``."""

    def __init__(self, base_url: str | None = None, token: str | None = None, **kw: Any) -> None:
        super().__init__(base_url, token, **kw)
        self._client: httpx.Client | None = None
        self._closed = False
        self._making = threading.Lock()

    @property
    def _http(self) -> httpx.Client:
        """httpx's client, made for the first request (once, whichever thread sends it): a client that only
        serves as its async twin's template (``apply``'s) never imports httpx's connection pool nor loads a CA
        store (16 ms of a command's start). So a bad ``SSL_CERT_FILE`` or proxy variable is met there."""
        client = self._client
        if client is None:
            with self._making:
                if self._closed:
                    raise RuntimeError("Cannot send a request, as the client has been closed.")  # httpx's words
                client = self._client = self._client or httpx.Client(**self._http_kwargs)
        return client

    def __reduce__(self) -> Any:
        raise TypeError(f"{type(self).__name__} holds the portal token: it is not pickled")

    def close(self) -> None:
        with self._making:
            self._closed = True
            if self._client is not None:
                self._client.close()

    def __enter__(self) -> PortalClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def async_twin(self) -> AsyncPortalClient:
        """An async client built as this one was: settings, retry policy, ``per_page``, response hook,
        connection limit and transport (borrowed, so this client keeps working after the twin is closed)."""
        transport = self._http_kwargs.get("transport")
        return AsyncPortalClient(
            settings=self.settings,
            retry=self.retry,
            per_page=self.per_page,
            on_response=self.on_response,
            max_connections=self._http_kwargs["limits"].max_connections,
            transport=None if transport is None else BorrowedTransport(transport),
        )

    def _send(self, call: Call) -> Any:
        retry = 0
        while True:
            retry += 1
            started = time.perf_counter()
            try:
                outcome: httpx.Response | Exception = self._http.send(self._build(call))
            except NO_ANSWER_ERRORS as exc:
                outcome = exc
            body, wait = self._settle(call, outcome, started, retry)
            if wait is None:
                return body
            time.sleep(wait)

    def _walk(self, path: str, unwrap: str | None = None) -> list[dict[str, Any]]:
        pager = Pager(path, self.per_page, unwrap)
        while (call := pager.next_call()) is not None:
            pager.feed(self._send(call))
        return pager.items


class AsyncPortalClient(_ClientBase):
    """Asynchronous client for the runner and concurrent fetches. ``async with`` or ``await aclose()``."""

    def __init__(self, base_url: str | None = None, token: str | None = None, **kw: Any) -> None:
        super().__init__(base_url, token, **kw)
        lean: LeanTransport | None = None
        if "transport" not in self._http_kwargs:
            # httpcore's pool spends milliseconds per request with dozens in flight: see transport.py
            lean = lean_transport(
                self.base_url,
                verify=self._http_kwargs["verify"],
                timeout=self.settings.timeout,
                max_connections=self._http_kwargs["limits"].max_connections,
            )
            if lean is not None:
                self._http_kwargs.pop("verify")
                self._http_kwargs["transport"] = lean
        self._http = httpx.AsyncClient(**self._http_kwargs)
        # sent to directly: AsyncClient.send adds only what these requests never use (auth flows, redirects,
        # cookies it stores but never sends, as _build skips build_request) for ~0.1 ms CPU per request
        self._direct = lean

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPortalClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _send(self, call: Call) -> Any:
        retry = 0
        while True:
            retry += 1
            started = time.perf_counter()
            try:
                outcome: AnyAnswer | Exception = await self._exchange(call)
            except NO_ANSWER_ERRORS as exc:
                outcome = exc
            body, wait = self._settle(call, outcome, started, retry)
            if wait is None:
                return body
            await asyncio.sleep(wait)

    async def _exchange(self, call: Call) -> AnyAnswer:
        if self._direct is None or self._http.is_closed:  # httpx refuses a closed client's requests
            return await self._http.send(self._build(call))
        url, headers, body = self._target(call)
        return await self._direct.exchange(call.method, url, headers, body, self._extensions["timeout"])

    async def _walk(self, path: str, unwrap: str | None = None) -> list[dict[str, Any]]:
        return await walk_pages(Pager(path, self.per_page, unwrap), self._send)  # or as paging.pages_sent_by says
