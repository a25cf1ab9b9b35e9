"""The sandbox's ``PUT /users/{user_id}`` (the file's ``update-user``), beside the other user routes.

The official file: the body is ``User-update`` (``User-basis`` fields plus ``Teams``, an array of team ID
strings, and ``ResetPassword``); the answer is ``User-show`` (200); the only error it documents is 422,
"Not found or Bad request", so a missing user is a 422 here too. Fields left out keep their value (the
runner sends ``{"Active": true}`` alone to activate an owner). An e-mail another user has is refused.

``POST /users``, ``GET`` and ``DELETE`` live with the other user routes (``portal_users``); this module is
registered beside them in ``app.create_app``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .portal_api import PortalAPI
from .portal_request import Fields, Refused, read_body
from .portal_shapes import user_show
from .state import now_stamp

#: ``User-update`` fields the sandbox keeps (the rest of ``User-basis`` as the file names them)
_TEXT = ("Email", "First", "Last", "Role", "Provider")


def _user_id(request: Request) -> int:
    try:
        return int(request.path_params["id"])
    except ValueError:
        raise Refused(422, "user not found") from None


def _teams(f: Fields) -> list[str] | None:
    value = f.body.get("Teams")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        f.problems.append("Teams must be an array of strings")
        return None
    return list(value)


class UsersAPI:
    """User routes the runner writes beyond ``POST /users``: ``PUT /users/{id}`` (activation)."""

    def __init__(self, portal: PortalAPI) -> None:
        self.portal = portal
        self.state = portal.state

    def routes(self) -> list[Route]:
        return [Route("/users/{id}", self.portal._handler(self.update_user), methods=["PUT"])]

    async def update_user(self, request: Request) -> Response:
        user_id = _user_id(request)
        user = self.state.users.get(user_id)
        if user is None:
            raise Refused(422, "user not found")
        f = Fields(await read_body(request))
        given: dict[str, Any] = {name: f.string(name) for name in _TEXT}
        given["Active"] = f.boolean("Active")
        given["OrganisationID"] = f.integer("OrganisationID")
        given["ResetPassword"] = f.boolean("ResetPassword")
        given["Teams"] = _teams(f)
        f.check()
        changes = {k: v for k, v in given.items() if v is not None}
        if "Email" in changes:
            email = changes["Email"].strip()
            if "@" not in email:
                raise Refused(422, "Email must be an email address")
            holder = self.state.emails.get(email.lower())
            if holder is not None and holder != user_id:
                raise Refused(422, "Email has already been taken")
            changes["Email"] = email
        old_email = str(user.get("Email", "")).strip().lower()
        user.update(changes, UpdatedAt=now_stamp())
        if "Email" in changes:
            self.state.emails.pop(old_email, None)
            self.state.emails[changes["Email"].lower()] = user_id
        self.state._persist([("users", user)])
        return JSONResponse(user_show(user))
