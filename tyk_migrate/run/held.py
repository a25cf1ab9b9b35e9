"""A key the target app already holds before this run's POST: never a second credential for it.

A stale plan (another journal ran it first, or a developer added the key meanwhile) may ask for a credential
the app holds already. Under a portal that accepts a duplicate key (``duplicate-key=overwrite``) the POST
would make a second credential of the key, so it is not sent: the row is ``skipped`` when a holder already has
the row's plan and products, else ``failed`` with the reason. Nothing is journalled as created for it: the
holder is not this run's, and rollback must never delete it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

from ..errors import NotFound, PortalError
from ..vocabulary import FAILED, SKIPPED
from .context import RunContext
from .credential_answers import compare_credential
from .groups import AppGroup
from .protocol import error_text
from .rows import PlanRow


async def settle_held_key(
    ctx: RunContext,
    row: PlanRow,
    app_id: int,
    holders: Iterable[int],
    group: AppGroup | None,
    finish: Callable[..., None],
) -> None:
    """Finish ``row`` without a POST: its key is held in ``app_id`` by ``holders`` (none made by this run)."""
    assert row.fingerprint is not None and row.plan_id is not None
    client, differences = ctx.client, []
    for cred_id in holders:
        try:
            answer = await ctx.writer.read(partial(client.get_credential, app_id, cred_id))
        except NotFound:
            continue  # deleted meanwhile: it holds nothing
        except PortalError as exc:
            differences.append(f"credential {cred_id} could not be read ({error_text(exc)})")
            continue
        problems = compare_credential(
            answer if isinstance(answer, dict) else {},
            key_fingerprint=row.fingerprint,
            plan_id=int(row.plan_id),
            product_ids=row.product_ids,
        )
        if not problems:
            note = f"already in app {app_id} as credential {cred_id}, not made by this run: nothing sent"
            finish(row.pos, SKIPPED, group, app_id=app_id, credential_id=cred_id, error=note)
            return
        differences.append(f"credential {cred_id}: " + "; ".join(problems))
    error = (
        f"not sent: app {app_id} already holds this key with another plan or products, not made by this run "
        f"(a second credential of the key is never made): {' | '.join(differences)}; "
        "fix the plan or the portal, then rerun"
        if differences
        else f"not sent: app {app_id} held this key (not made by this run) and its holder is gone now; rerun"
    )
    finish(row.pos, FAILED, group, app_id=app_id, error=error)
