"""``/portal-api`` routes: the part of the Tyk Developer Portal admin API a key migration uses.

Field names, status codes and bodies follow ``portal-api.openapi.yaml``. Refusals answer 422 with
``{"errors": [...]}`` (the file's ``OnlyErrors``); an unparsable body or paging value answers 400 with the
same shape; unknown IDs answer 404 (422 for the two PUTs on apps and credentials, the only error the file documents
there). docs/sandbox.md lists where the file says nothing and what was chosen. The behaviour knobs
(behaviour.py, read live from ``PortalRules.behaviour``) switch the uncertain parts: duplicate keys, token types,
the plans envelope, paging, short keys, error bodies, listing lag and half-done creates.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .state import Obj, SandboxState
from .world import STANDARD_TOKEN, LiveBehaviour

VISIBILITY = ("personal", "team", "organisation")
CREDENTIAL_TYPES = ("CREDENTIAL_TYPE_TYK_MANAGED", "CREDENTIAL_TYPE_CUSTOM")
#: characters refused in a KeyID (besides whitespace and control characters): they break the
#: Dashboard's /api/keys/{keyId} routes or the hashed-key JSON wrapper (TYK-FACTS.md)
KEY_FORBIDDEN = set('/?#%"\\')


class Refused(Exception):
    """A request the portal refuses: becomes ``{"errors": [...]}`` with ``status``."""

    def __init__(self, status: int, *errors: str) -> None:
        self.status = status
        self.errors = list(errors)
        super().__init__("; ".join(errors))


@dataclass
class PortalRules:
    token: str
    min_key_length: int
    accept_auth_token_types: tuple[str, ...]
    #: the live world, shared with the gateway and admin surface; None: strict, with the types above
    behaviour: LiveBehaviour | None = None


# ----- request parsing -----
#: paging values beyond this answer like it (an empty page, or every row): the file sets no maximum,
#: and Python's ``islice`` and ``int(str)`` both have limits a query string must not reach
PAGING_MAX = 2**63 - 1  # a Go int64, what the portal's own decoder holds
_DIGITS = frozenset("0123456789")


def _paging_number(request: Request, name: str, default: int) -> int:
    """A paging parameter: absent or empty is ``default``, below 1 too; not an ASCII integer is a 400."""
    text = request.query_params.get(name, "")
    if not text:
        return default
    sign, digits = (text[0], text[1:]) if text[0] in "+-" else ("", text)
    if not digits or not _DIGITS.issuperset(digits):
        raise Refused(400, f"{name} must be an integer")
    if sign == "-":
        return default
    digits = digits.lstrip("0") or "0"
    value = min(int(digits), PAGING_MAX) if len(digits) <= len(str(PAGING_MAX)) else PAGING_MAX
    return value if value >= 1 else default


def _page(request: Request, maximum: int | None = None) -> tuple[int, int]:
    """(offset, count): ``page`` from 1, ``per_page`` default 20; ``limit`` sets the count, not the offset.

    ``maximum`` (``paging=max:N``) silently caps ``per_page`` before the offset is reckoned, and ``limit``.
    """
    page, per_page = _paging_number(request, "page", 1), _paging_number(request, "per_page", 20)
    cap = PAGING_MAX if maximum is None else maximum
    per_page = min(per_page, cap)
    return (page - 1) * per_page, min(_paging_number(request, "limit", per_page), cap)


async def _body(request: Request) -> Obj:
    """The JSON object sent, or a 400: never anything that could not be stored and answered back."""
    raw = await request.body()
    try:
        data = json.loads(raw)
        # A lone surrogate ("\ud800") decodes but cannot be encoded as UTF-8: stored, it would break every
        # later answer (and the SQLite store), so a body that does not survive the round trip is refused.
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise Refused(400, "request body holds text that is not valid Unicode (a lone surrogate)") from None
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "request body is not valid JSON") from None
    except RecursionError:
        raise Refused(400, "request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise Refused(400, "request body must be a JSON object")
    return data


def _int_id(value: str, what: str, missing: int = 404) -> int:
    try:
        return int(value)
    except ValueError:
        raise Refused(missing, f"{what} not found") from None


class Fields:
    """Type checks in the manner of a Go JSON decoder: wrong JSON types are refused, not coerced."""

    def __init__(self, body: Obj) -> None:
        self.body = body
        self.problems: list[str] = []

    def _get(self, name: str, types: tuple[type, ...], label: str) -> Any:
        value = self.body.get(name)
        if value is None:
            return None
        ok = False if isinstance(value, bool) and bool not in types else isinstance(value, types)
        if not ok:
            self.problems.append(f"{name} must be {label}")
            return None
        return value

    def string(self, name: str) -> str | None:
        return self._get(name, (str,), "a string")

    def integer(self, name: str) -> int | None:
        return self._get(name, (int,), "an integer")

    def boolean(self, name: str) -> bool | None:
        return self._get(name, (bool,), "a boolean")

    def int_list(self, name: str) -> list[int] | None:
        value = self._get(name, (list,), "an array of integers")
        if value is not None and not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            self.problems.append(f"{name} must be an array of integers")
            return None
        return value

    def check(self) -> None:
        if self.problems:
            raise Refused(422, *self.problems)


# ----- answers: the fields each of the file's response schemas declares, nothing else -----
# Seed objects may carry more; answers are cut to the schema so a client cannot come to rely on a
# field the real portal does not promise (e.g. ListenPath is only in GET /products/{id}).
USER_INDEX = ("ID", "Active", "Email", "First", "Last", "OrganisationID", "Role", "Provider")
USER_SHOW = (
    *USER_INDEX,
    "JWTToken",
    "APITokenCreatedAt",
    "Organisation",
    "ResetPassword",
    "Teams",
    "CreatedAt",
    "UpdatedAt",
)
API_INDEX = ("APIID", "Name", "Status")
API_SHOW = ("APIID", "APIType", "Description", "ListenPath", "Name", "OASUrl", "Status", "TargetURL")
PRODUCT_INDEX = (
    "ID",
    "CID",
    "APIDetails",
    "AuthType",
    "AuthTypes",
    "DCREnabled",
    "DisplayName",
    "Feature",
    "IsDocumentationOnly",
    "Name",
    "Path",
    "Preview",
    "ReferenceID",
    "Scopes",
    "SpecDetails",
)
PRODUCT_SHOW = (
    "ID",
    "APIDetails",
    "AuthType",
    "AuthTypes",
    "Catalogues",
    "CID",
    "Content",
    "DCREnabled",
    "Description",
    "DisplayName",
    "Feature",
    "IsDocumentationOnly",
    "Logo",
    "Name",
    "Path",
    "ReferenceID",
    "Scopes",
    "SpecDetails",
    "Tags",
    "Templates",
    "ProviderID",
    "Preview",
)
PLAN_SUMMARY = ("ID", "Name", "DisplayName", "AutoApproveAccessRequests", "RateLimit", "Quota")
PLAN_SHOW = (
    "ID",
    "ReferenceID",
    "CID",
    "AutoApproveAccessRequests",
    "Catalogues",
    "DisplayName",
    "Description",
    "JWTScope",
    "KeyExpiresIn",
    "MetaData",
    "Name",
    "Per",
    "PlanQuota",
    "PlanQuotaRenewalRate",
    "Quota",
    "QuotaRenewalRate",
    "RateLimit",
    "UnlimitedQuota",
    "UnlimitedRateLimit",
    "ProviderID",
)
APP_INDEX = ("ID", "Name", "Description", "RedirectURLs", "UserID", "Visibility", "CreatedAt")
CREDENTIAL_INDEX = (
    "ID",
    "Alias",
    "Type",
    "PlanID",
    "AuthenticationMethod",
    "ProductIDs",
    "AuthTokenType",
    "KeyID",
    "ProviderID",
    "ClientTypeID",
)
CREDENTIAL_SHOW = (*CREDENTIAL_INDEX, "CreatedAt", "UpdatedAt")


def pick(obj: Obj, fields: tuple[str, ...]) -> Obj:
    return {k: obj[k] for k in fields if k in obj}


def user_index(user: Obj) -> Obj:
    return pick(user, USER_INDEX)


def user_show(user: Obj) -> Obj:
    return pick(user, USER_SHOW)


def product_index(product: Obj) -> Obj:
    shown = pick(product, PRODUCT_INDEX)
    if isinstance(shown.get("APIDetails"), list):
        shown["APIDetails"] = [pick(a, API_INDEX) for a in shown["APIDetails"] if isinstance(a, dict)]
    return shown


def product_show(product: Obj) -> Obj:
    shown = pick(product, PRODUCT_SHOW)
    if isinstance(shown.get("APIDetails"), list):
        shown["APIDetails"] = [pick(a, API_SHOW) for a in shown["APIDetails"] if isinstance(a, dict)]
    return shown


def plan_summary(plan: Obj) -> Obj:
    return pick(plan, PLAN_SUMMARY)


def plan_show(plan: Obj) -> Obj:
    return pick(plan, PLAN_SHOW)


def app_index(app: Obj) -> Obj:
    return pick(app, APP_INDEX)


def app_show(app: Obj) -> Obj:
    return {**app_index(app), "AccessRequests": []}


def credential_index(cred: Obj) -> Obj:
    return pick(cred, CREDENTIAL_INDEX)


def credential_show(cred: Obj) -> Obj:
    return pick(cred, CREDENTIAL_SHOW)


class PortalAPI:
    def __init__(self, state: SandboxState, rules: PortalRules) -> None:
        self.state = state
        self.rules = rules
        self.behaviour = rules.behaviour or LiveBehaviour(accepted=rules.accept_auth_token_types)

    def routes(self) -> list[Route]:
        h = self._handler
        return [
            Route("/users", h(self.list_users), methods=["GET"]),
            Route("/users", h(self.create_user), methods=["POST"]),
            Route("/users/{id}", h(self.get_user), methods=["GET"]),
            Route("/users/{id}", h(self.delete_user), methods=["DELETE"]),
            Route("/products", h(self.list_products), methods=["GET"]),
            Route("/products/{id}", h(self.get_product), methods=["GET"]),
            Route("/plans", h(self.list_plans), methods=["GET"]),
            Route("/plans/{id}", h(self.get_plan), methods=["GET"]),
            Route("/apps", h(self.list_apps), methods=["GET"]),
            Route("/apps", h(self.create_app), methods=["POST"]),
            Route("/apps/{id}", h(self.get_app), methods=["GET"]),
            Route("/apps/{id}", h(self.update_app), methods=["PUT"]),
            Route("/apps/{id}", h(self.delete_app), methods=["DELETE"]),
            Route("/apps/{id}/custom_credentials", h(self.list_credentials), methods=["GET"]),
            Route("/apps/{id}/custom_credentials", h(self.create_credential), methods=["POST"]),
            Route("/apps/{id}/custom_credentials/{cid}", h(self.get_credential), methods=["GET"]),
            Route("/apps/{id}/custom_credentials/{cid}", h(self.update_credential), methods=["PUT"]),
            Route("/apps/{id}/custom_credentials/{cid}", h(self.delete_credential), methods=["DELETE"]),
        ]

    def _handler(self, func: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        token = self.rules.token.encode()

        async def endpoint(request: Request) -> Response:
            given = request.headers.get("authorization", "").encode()
            world = self.behaviour
            if not given or not hmac.compare_digest(given, token):
                return world.error(401, ["not authorised: send the admin API token in the Authorization header"])
            try:
                return await func(request)
            except Refused as exc:
                return world.error(exc.status, exc.errors)

        endpoint.__name__ = func.__name__
        return endpoint

    # ----- lookups -----
    def _app(self, request: Request, missing: int = 404) -> Obj:
        """The app of the path, or ``missing`` (PUT /apps/{app_id} documents only 422 "Bad request or not found")."""
        app = self.state.apps.get(_int_id(request.path_params["id"], "app", missing))
        if app is None:
            raise Refused(missing, "app not found")
        return app

    def _credential(self, request: Request, missing: int = 404) -> Obj:
        """The credential of the path, or ``missing`` (its PUT, like the app's, documents only 422)."""
        app = self._app(request, missing)
        cred = self.state.credentials.get(_int_id(request.path_params["cid"], "credential", missing))
        if cred is None or cred["AppID"] != app["ID"]:
            raise Refused(missing, "credential not found")
        return cred

    def _ids(self, request: Request, endpoint: str, items: dict[int, Any]) -> list[int]:
        """The IDs of one list answer: listing lag, then paging as the world has it."""
        shown = self.state.listed(endpoint, items)
        pool: Sequence[int] | dict[int, Any] = items if shown is None else shown
        paging = self.behaviour.current.paging
        if endpoint in paging.ignore:  # every row, whatever page, per_page or limit say
            return list(pool)
        offset, count = _page(request, paging.max_per_page)
        return self.state.page(pool, offset, count)

    def _list(self, request: Request, endpoint: str, items: dict[int, Obj], shape: Callable[[Obj], Obj]) -> list[Obj]:
        return [shape(items[i]) for i in self._ids(request, endpoint, items)]

    # ----- users -----
    async def list_users(self, request: Request) -> Response:
        return JSONResponse(self._list(request, "users", self.state.users, user_index))

    async def get_user(self, request: Request) -> Response:
        user = self.state.users.get(_int_id(request.path_params["id"], "user"))
        if user is None:
            raise Refused(404, "user not found")
        return JSONResponse(user_show(user))

    async def create_user(self, request: Request) -> Response:
        body = await _body(request)
        f = Fields(body)
        values: dict[str, Any] = {
            "Email": f.string("Email"),
            "First": f.string("First"),
            "Last": f.string("Last"),
            "Active": f.boolean("Active"),
            "OrganisationID": f.integer("OrganisationID"),
            "Role": f.string("Role"),
            "Provider": f.string("Provider"),
            "ResetPassword": f.boolean("ResetPassword"),
        }
        f.check()
        email = (values["Email"] or "").strip()
        if "@" not in email:
            raise Refused(422, "Email is required and must be an email address")
        if email.lower() in self.state.emails:
            raise Refused(422, "Email has already been taken")
        user = self.state.add_user(
            {
                "Email": email,
                "First": values["First"] or "",
                "Last": values["Last"] or "",
                "Active": bool(values["Active"]),
                "OrganisationID": values["OrganisationID"] or 0,
                "Role": values["Role"] or "consumer-team-member",
                "Provider": values["Provider"] or "password",
                "ResetPassword": bool(values["ResetPassword"]),
            }
        )
        return JSONResponse(user_show(user))

    async def delete_user(self, request: Request) -> Response:
        """The file: "Delete a user and all their applications", their credentials revoked; ``force`` is moot here."""
        user_id = _int_id(request.path_params["id"], "user")
        if user_id not in self.state.users:
            raise Refused(404, "user not found")
        self.state.delete_user(user_id)
        return JSONResponse({"status": "ok"})

    # ----- products, plans -----
    async def list_products(self, request: Request) -> Response:
        return JSONResponse(self._list(request, "products", self.state.products, product_index))

    async def get_product(self, request: Request) -> Response:
        product = self.state.products.get(_int_id(request.path_params["id"], "product"))
        if product is None:
            raise Refused(404, "product not found")
        return JSONResponse(product_show(product))

    async def list_plans(self, request: Request) -> Response:
        rows = self._list(request, "plans", self.state.plans, plan_summary)
        return JSONResponse(rows if self.behaviour.current.plans_envelope == "bare" else {"data": rows})

    async def get_plan(self, request: Request) -> Response:
        plan = self.state.plans.get(_int_id(request.path_params["id"], "plan"))
        if plan is None:
            raise Refused(404, "plan not found")
        return JSONResponse(plan_show(plan))

    # ----- apps -----
    async def list_apps(self, request: Request) -> Response:
        return JSONResponse(self._list(request, "apps", self.state.apps, app_index))

    async def get_app(self, request: Request) -> Response:
        return JSONResponse(app_show(self._app(request)))

    def _app_fields(self, body: Obj, current: Obj | None) -> Obj:
        f = Fields(body)
        given: dict[str, Any] = {
            "Name": f.string("Name"),
            "Description": f.string("Description"),
            "RedirectURLs": f.string("RedirectURLs"),
            "UserID": f.integer("UserID"),
            "Visibility": f.string("Visibility"),
        }
        f.check()
        merged = {**(current or {"Description": "", "RedirectURLs": "", "Visibility": "organisation"})}
        merged.update({k: v for k, v in given.items() if v is not None})
        problems = []
        if not str(merged.get("Name") or "").strip():
            problems.append("Name can't be blank")
        if merged.get("UserID") is None:
            problems.append("UserID is required")
        elif merged["UserID"] not in self.state.users:
            problems.append(f"UserID {merged['UserID']} does not exist")
        if merged.get("Visibility") not in VISIBILITY:
            problems.append(f"Visibility must be one of {', '.join(VISIBILITY)}")
        if problems:
            raise Refused(422, *problems)
        return {k: merged[k] for k in ("Name", "Description", "RedirectURLs", "UserID", "Visibility")}

    async def create_app(self, request: Request) -> Response:
        fields = self._app_fields(await _body(request), None)
        app = self.state.add_app(fields)
        self.state.unlist_for("apps", app["ID"], self.behaviour.current.listing_lag_ms / 1000)
        return JSONResponse(app_show(app))

    async def update_app(self, request: Request) -> Response:
        app = self._app(request, missing=422)
        fields = self._app_fields(await _body(request), app)
        return JSONResponse(app_show(self.state.update_app(app["ID"], fields)))

    async def delete_app(self, request: Request) -> Response:
        app = self._app(request)
        self.state.delete_app(app["ID"])
        return JSONResponse({"status": "ok"})

    # ----- custom credentials -----
    async def list_credentials(self, request: Request) -> Response:
        app = self._app(request)
        ids = self._ids(request, "custom_credentials", self.state.creds_by_app.get(app["ID"], {}))
        return JSONResponse([credential_index(self.state.credentials[i]) for i in ids])

    async def get_credential(self, request: Request) -> Response:
        return JSONResponse(credential_show(self._credential(request)))

    def check_key(self, key: str) -> list[str]:
        world = self.behaviour.current
        problems = []
        if len(key) < self.rules.min_key_length and world.min_key_length == "refuse":
            problems.append(f"KeyID is too short (minimum is {self.rules.min_key_length} characters)")
        if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 or ch in KEY_FORBIDDEN for ch in key):
            problems.append('KeyID must not contain whitespace, control characters or any of / ? # % " \\')
        if world.duplicate_key == "refuse" and self.state.key_in_use(key):
            problems.append("KeyID already exists")
        return problems

    async def create_credential(self, request: Request) -> Response:
        app = self._app(request)
        body = await _body(request)
        f = Fields(body)
        given: dict[str, Any] = {
            "Alias": f.string("Alias"),
            "Type": f.string("Type"),
            "PlanID": f.integer("PlanID"),
            "AuthenticationMethod": f.string("AuthenticationMethod"),
            "ProductIDs": f.int_list("ProductIDs"),
            "AuthTokenType": f.string("AuthTokenType"),
            "KeyID": f.string("KeyID"),
            "ProviderID": f.integer("ProviderID"),
            "ClientTypeID": f.integer("ClientTypeID"),
        }
        f.string("CredentialKey")
        f.string("CredentialSecret")
        f.check()
        problems = []
        if given["Type"] not in CREDENTIAL_TYPES:
            problems.append(f"Type must be one of {', '.join(CREDENTIAL_TYPES)}")
        plan_id = given["PlanID"]
        if plan_id is None:
            problems.append("PlanID is required")
        elif plan_id not in self.state.plans:
            problems.append(f"PlanID {plan_id} does not exist")
        product_ids = given["ProductIDs"] or []
        if not product_ids:
            problems.append("ProductIDs must list at least one product")
        unknown = [p for p in product_ids if p not in self.state.products]
        if unknown:
            problems.append(f"ProductIDs {', '.join(map(str, unknown))} do not exist")
        token_type = given["AuthTokenType"]
        world = self.behaviour
        allowed = (*world.honoured_tokens(), STANDARD_TOKEN)
        key = given["KeyID"]
        if token_type not in allowed and world.current.auth_token_type == "fallback":
            token_type = STANDARD_TOKEN  # an unknown value falls back to a standard key (TYK-FACTS.md)
        if token_type not in allowed:
            problems.append(f"AuthTokenType must be one of {', '.join(allowed)}")
        elif token_type == STANDARD_TOKEN:
            key = secrets.token_hex(16)  # the portal generates the key; a KeyID sent is not used
        elif not key:
            problems.append("KeyID is required for a custom token")
        else:
            problems.extend(self.check_key(key))
        if problems:
            raise Refused(422, *problems)
        fields: Obj = {
            "Alias": given["Alias"] or "",
            "Type": given["Type"],
            "PlanID": str(plan_id),
            "AuthenticationMethod": given["AuthenticationMethod"] or "",
            "ProductIDs": product_ids,
            "AuthTokenType": token_type,
            "KeyID": key,
        }
        for extra in ("ProviderID", "ClientTypeID"):
            if given[extra] is not None:
                fields[extra] = given[extra]
        partial = world.draw_partial()  # partial-create: the chain portal -> gateway half done
        cred = self.state.add_credential(
            app["ID"], fields, record=partial != "key-only", provision=partial != "record-only"
        )
        if cred["ID"] is not None:
            self.state.unlist_for("custom_credentials", cred["ID"], world.current.listing_lag_ms / 1000)
        if partial is not None:
            raise Refused(500, "internal error while creating the credential")
        return JSONResponse(credential_show(cred), status_code=201)

    async def update_credential(self, request: Request) -> Response:
        cred = self._credential(request, missing=422)
        f = Fields(await _body(request))
        alias = f.string("Alias")
        f.check()
        fields = {} if alias is None else {"Alias": alias}
        return JSONResponse(credential_show(self.state.update_credential(cred["ID"], fields)))

    async def delete_credential(self, request: Request) -> Response:
        cred = self._credential(request)
        self.state.delete_credential(cred["ID"])
        return JSONResponse({"status": "ok", "message": "Credential deleted successfully"})
