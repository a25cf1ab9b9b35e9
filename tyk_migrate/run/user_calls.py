"""The portal's user endpoints as the account steps use them (``users``) and rollback undoes them
(``rollback_users``): every answer without the user's own admin-API token."""

from __future__ import annotations

from typing import Any

from ..calls import Call
from ..portal import AsyncPortalClient

#: ``User-show`` carries the user's own admin-API token: never kept, journalled or shown
_SECRET_FIELDS = ("JWTToken",)


async def create_user(client: AsyncPortalClient, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /users`` (the file's ``User-create``); the answer without its ``JWTToken``."""
    answer = await client._send(Call("POST", "/users", json=body, expect=(200, 201)))
    return _without_secrets(answer)


async def show_user(client: AsyncPortalClient, user_id: int) -> dict[str, Any]:
    """``GET /users/{id}`` (``User-show``: carries ``CreatedAt``); the answer without its ``JWTToken``."""
    return _without_secrets(await client._send(Call("GET", f"/users/{int(user_id)}", expect=(200,))))


async def update_user(client: AsyncPortalClient, user_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """``PUT /users/{id}`` (``User-update``); the answer without its ``JWTToken``."""
    answer = await client._send(Call("PUT", f"/users/{int(user_id)}", json=body, expect=(200,)))
    return _without_secrets(answer)


async def delete_user(client: AsyncPortalClient, user_id: int) -> Any:
    """``DELETE /users/{id}``: the portal removes the user with their apps and credentials."""
    return await client._send(Call("DELETE", f"/users/{int(user_id)}", expect=(200, 204)))


def _without_secrets(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        return {}
    return {k: v for k, v in answer.items() if k not in _SECRET_FIELDS}
