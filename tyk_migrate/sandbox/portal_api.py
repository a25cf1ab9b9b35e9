"""``/portal-api`` routes: the part of the Tyk Developer Portal admin API a key migration uses.

Field names, status codes and bodies follow ``portal-api.openapi.yaml``. Refusals answer 422 with
``{"errors": [...]}`` (the file's ``OnlyErrors``); an unparsable body or paging value answers 400 with the
same shape; unknown IDs answer 404 (422 for the two PUTs on apps and credentials, the only error the file documents
there). docs/sandbox.md lists where the file says nothing and what was chosen. The behaviour knobs
(behaviour.py, read live from ``PortalRules.behaviour``) switch the uncertain parts: duplicate keys, token types,
the plans envelope, paging, short keys, error bodies, listing lag and half-done creates.

This module registers the routes and checks the admin token; each group's handlers live beside their job:
request parsing (portal_request.py), answer shapes (portal_shapes.py), shared lookups and paging (portal_base.py),
users (portal_users.py), products and plans (portal_catalogue.py), apps (portal_apps.py) and custom credentials
(portal_credentials.py).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .portal_apps import AppRoutes
from .portal_base import PortalRules
from .portal_catalogue import CatalogueRoutes
from .portal_credentials import CredentialRoutes
from .portal_request import Refused
from .portal_users import UserRoutes

__all__ = ["PortalAPI", "PortalRules", "Refused"]


class PortalAPI(UserRoutes, CatalogueRoutes, AppRoutes, CredentialRoutes):
    """Every route group, registered behind the admin token check."""

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
