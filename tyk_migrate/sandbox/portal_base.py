"""What every ``/portal-api`` route group shares: the rules, the state, the live world and the path lookups.

The route groups (portal_users.py, portal_catalogue.py, portal_apps.py, portal_credentials.py) are mixins of
:class:`PortalBase`; portal_api.py joins them into ``PortalAPI`` and registers their routes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from .portal_request import Refused, int_id, page_bounds
from .state import Obj, SandboxState
from .world import LiveBehaviour


@dataclass
class PortalRules:
    token: str
    min_key_length: int
    accept_auth_token_types: tuple[str, ...]
    #: the live world, shared with the gateway and admin surface; None: strict, with the types above
    behaviour: LiveBehaviour | None = None


class PortalBase:
    def __init__(self, state: SandboxState, rules: PortalRules) -> None:
        self.state = state
        self.rules = rules
        self.behaviour = rules.behaviour or LiveBehaviour(accepted=rules.accept_auth_token_types)

    # ----- lookups -----
    def _app(self, request: Request, missing: int = 404) -> Obj:
        """The app of the path, or ``missing`` (PUT /apps/{app_id} documents only 422 "Bad request or not found")."""
        app = self.state.apps.get(int_id(request.path_params["id"], "app", missing))
        if app is None:
            raise Refused(missing, "app not found")
        return app

    def _credential(self, request: Request, missing: int = 404) -> Obj:
        """The credential of the path, or ``missing`` (its PUT, like the app's, documents only 422)."""
        app = self._app(request, missing)
        cred = self.state.credentials.get(int_id(request.path_params["cid"], "credential", missing))
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
        offset, count = page_bounds(request, paging.max_per_page)
        return self.state.page(pool, offset, count)

    def _list(self, request: Request, endpoint: str, items: dict[int, Obj], shape: Callable[[Obj], Obj]) -> list[Obj]:
        return [shape(items[i]) for i in self._ids(request, endpoint, items)]
