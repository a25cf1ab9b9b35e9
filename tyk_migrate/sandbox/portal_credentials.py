"""``/portal-api/apps/{id}/custom_credentials`` routes: the credentials a migration creates, one per legacy key.

The behaviour knobs (behaviour.py, read live from the world) decide duplicate keys, token types, short keys,
listing lag and half-done creates (a portal record without its gateway key, or the other way round).
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .portal_base import PortalBase
from .portal_request import Fields, Refused, read_body
from .portal_shapes import credential_index, credential_show
from .state import Obj
from .world import STANDARD_TOKEN

CREDENTIAL_TYPES = ("CREDENTIAL_TYPE_TYK_MANAGED", "CREDENTIAL_TYPE_CUSTOM")
#: characters refused in a KeyID (besides whitespace and control characters): they break the
#: Dashboard's /api/keys/{keyId} routes or the hashed-key JSON wrapper (TYK-FACTS.md)
KEY_FORBIDDEN = set('/?#%"\\')


class CredentialRoutes(PortalBase):
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

    @staticmethod
    def _given(body: Obj) -> dict[str, Any]:
        """The request's fields, type-checked (a 422 for a wrong JSON type), before any rule is applied."""
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
        return given

    def _catalogue_problems(self, given: dict[str, Any]) -> list[str]:
        """What is wrong with the credential's type, plan and products."""
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
        return problems

    def _token_and_key(self, given: dict[str, Any]) -> tuple[str | None, str | None, list[str]]:
        """``(token type, key, problems)``: the token type as the world honours it and the key it stores."""
        token_type = given["AuthTokenType"]
        world = self.behaviour
        allowed = (*world.honoured_tokens(), STANDARD_TOKEN)
        key = given["KeyID"]
        if token_type not in allowed and world.current.auth_token_type == "fallback":
            token_type = STANDARD_TOKEN  # an unknown value falls back to a standard key (TYK-FACTS.md)
        if token_type not in allowed:
            return token_type, key, [f"AuthTokenType must be one of {', '.join(allowed)}"]
        if token_type == STANDARD_TOKEN:
            return token_type, secrets.token_hex(16), []  # the portal generates the key; a KeyID sent is not used
        if not key:
            return token_type, key, ["KeyID is required for a custom token"]
        return token_type, key, self.check_key(key)

    async def create_credential(self, request: Request) -> Response:
        app = self._app(request)
        given = self._given(await read_body(request))
        problems = self._catalogue_problems(given)
        token_type, key, key_problems = self._token_and_key(given)
        problems.extend(key_problems)
        if problems:
            raise Refused(422, *problems)
        fields: Obj = {
            "Alias": given["Alias"] or "",
            "Type": given["Type"],
            "PlanID": str(given["PlanID"]),
            "AuthenticationMethod": given["AuthenticationMethod"] or "",
            "ProductIDs": given["ProductIDs"],
            "AuthTokenType": token_type,
            "KeyID": key,
        }
        fields.update({k: given[k] for k in ("ProviderID", "ClientTypeID") if given[k] is not None})
        world = self.behaviour
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
        f = Fields(await read_body(request))
        alias = f.string("Alias")
        f.check()
        fields = {} if alias is None else {"Alias": alias}
        return JSONResponse(credential_show(self.state.update_credential(cred["ID"], fields)))

    async def delete_credential(self, request: Request) -> Response:
        cred = self._credential(request)
        self.state.delete_credential(cred["ID"])
        return JSONResponse({"status": "ok", "message": "Credential deleted successfully"})
