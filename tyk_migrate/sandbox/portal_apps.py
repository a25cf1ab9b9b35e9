"""``/portal-api/apps`` routes: list, show, create, update and delete the apps credentials hang from."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .portal_base import PortalBase
from .portal_request import Fields, Refused, read_body
from .portal_shapes import app_index, app_show
from .state import Obj

VISIBILITY = ("personal", "team", "organisation")


class AppRoutes(PortalBase):
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
        fields = self._app_fields(await read_body(request), None)
        app = self.state.add_app(fields)
        self.state.unlist_for("apps", app["ID"], self.behaviour.current.listing_lag_ms / 1000)
        return JSONResponse(app_show(app))

    async def update_app(self, request: Request) -> Response:
        app = self._app(request, missing=422)
        fields = self._app_fields(await read_body(request), app)
        return JSONResponse(app_show(self.state.update_app(app["ID"], fields)))

    async def delete_app(self, request: Request) -> Response:
        app = self._app(request)
        self.state.delete_app(app["ID"])
        return JSONResponse({"status": "ok"})
