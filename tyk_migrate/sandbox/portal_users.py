"""``/portal-api/users`` routes: list, show, create and delete developer accounts."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .portal_base import PortalBase
from .portal_request import Fields, Refused, int_id, read_body
from .portal_shapes import user_index, user_show


class UserRoutes(PortalBase):
    async def list_users(self, request: Request) -> Response:
        return JSONResponse(self._list(request, "users", self.state.users, user_index))

    async def get_user(self, request: Request) -> Response:
        user = self.state.users.get(int_id(request.path_params["id"], "user"))
        if user is None:
            raise Refused(404, "user not found")
        return JSONResponse(user_show(user))

    async def create_user(self, request: Request) -> Response:
        body = await read_body(request)
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
        user_id = int_id(request.path_params["id"], "user")
        if user_id not in self.state.users:
            raise Refused(404, "user not found")
        self.state.delete_user(user_id)
        return JSONResponse({"status": "ok"})
