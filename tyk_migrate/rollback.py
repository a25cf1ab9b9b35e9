"""Undo a migration: delete what the journal's runs created, and only that.

Credentials the runs added to apps that existed before are deleted one by one; apps the runs created
are deleted whole (the portal removes their credentials and revokes the keys), unless someone has since
added a credential of their own to one, which then stays. An app with only an intent (a run killed after
its POST) is looked up by owner and name. Every deletion is journalled as rolled_back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .aio import run_sync
from .config import Settings
from .errors import JournalError, NotFound, PortalConnectionError, PortalError, PortalServerError, RateLimited
from .journal import Journal
from .plan import oldest_app
from .portal import AsyncPortalClient
from .retry import RetryPolicy
from .run import _message, apps_by_owner_name
from .secrets import fingerprint

ROLLBACK_COLUMNS = ("kind", "app_id", "credential_id", "key_fingerprint", "result", "detail")


async def rollback_async(
    journal: Journal | str | Path,
    client: AsyncPortalClient | Settings | None,
    *,
    concurrency: int = 8,
    retry: RetryPolicy | None = None,
) -> pd.DataFrame:
    """Delete what the journal's runs created, and only that; mark it ``rolled_back`` in the journal.

    Apps a run created are deleted whole (the portal removes their credentials) unless they now hold a
    credential the migration did not create: then only the migration's credentials go and the app stays.
    Credentials the runs added to pre-existing apps are deleted one by one. Returns one row per object.
    """
    own_journal = not isinstance(journal, Journal)
    jr: Journal = journal if isinstance(journal, Journal) else Journal(journal)
    own_client = not isinstance(client, AsyncPortalClient)
    if isinstance(client, AsyncPortalClient):
        api = client
    else:
        settings = client if isinstance(client, Settings) else Settings.from_env()
        api = AsyncPortalClient(settings=settings)
    recorded = jr.portal_url
    if recorded is not None and recorded != api.base_url:
        if own_client:
            await api.aclose()
        if own_journal:
            jr.close()
        raise JournalError(
            f"journal {jr.path} records a migration into {recorded}, not {api.base_url}: refusing to delete anything"
        )
    policy = retry or RetryPolicy()
    sem = asyncio.Semaphore(max(1, concurrency))
    results: list[dict[str, Any]] = []

    async def call(make: Callable[[], Awaitable[Any]]) -> Any:
        for attempt in range(1, policy.attempts + 1):
            try:
                async with sem:
                    return await make()
            except (PortalConnectionError, PortalServerError, RateLimited) as exc:
                if attempt == policy.attempts:
                    raise
                await asyncio.sleep(policy.delay(attempt, getattr(exc, "retry_after", None)))
        return None

    async def delete(make: Callable[[], Awaitable[Any]]) -> str:
        try:
            await call(make)
            return "deleted"
        except NotFound:
            return "already gone"

    ours = [r for r in jr.credentials() if r.run_id is not None and r.state in ("created", "mismatch", "intent")]
    ours_by_app: dict[int, list[Any]] = {}
    for rec in ours:
        if rec.app_id is not None:
            ours_by_app.setdefault(rec.app_id, []).append(rec)
    our_apps = {r.app_id: r for r in jr.apps() if r.state == "created" and r.app_id is not None and r.run_id}

    async def find_intended_apps() -> None:
        """Apps with only an intent (the run died after the POST): look them up by owner and name."""
        intents = [r for r in jr.apps() if r.state == "intent" and r.run_id]
        if not intents:
            return
        try:
            index = apps_by_owner_name(await call(lambda: api.list_apps()))
        except PortalError as exc:
            for rec in intents:
                results.append({"kind": "app", "result": "failed", "detail": f"{rec.app_name}: {_message(exc)}"})
            return
        for rec in intents:
            found = oldest_app(index.get((rec.user_id, rec.app_name), []))
            if found is None:
                jr.app_outcome(rec.user_id, rec.app_name, "rolled_back", error="never created")
                results.append({"kind": "app", "result": "not found", "detail": rec.app_name})
            else:
                our_apps[found] = rec

    async def one_app(app_id: int, rec: Any) -> None:
        mine = {c.fingerprint for c in ours_by_app.get(app_id, [])}
        try:
            items = await call(lambda: api.list_credentials(app_id))
        except NotFound:
            items = []
        except PortalError as exc:
            results.append({"kind": "app", "app_id": app_id, "result": "failed", "detail": _message(exc)})
            return
        foreign = [i for i in items if fingerprint(str(i.get("KeyID") or "")) not in mine]
        if foreign:
            for cred in ours_by_app.get(app_id, []):
                await one_credential(cred)
            results.append(
                {
                    "kind": "app",
                    "app_id": app_id,
                    "result": "kept",
                    "detail": f"holds {len(foreign)} credential(s) the migration did not create",
                }
            )
            return
        try:
            outcome = await delete(lambda: api.delete_app(app_id))
        except PortalError as exc:
            results.append({"kind": "app", "app_id": app_id, "result": "failed", "detail": _message(exc)})
            return
        jr.app_outcome(rec.user_id, rec.app_name, "rolled_back", app_id=app_id)
        for cred in ours_by_app.get(app_id, []):
            jr.credential_outcome(cred.fingerprint, "rolled_back", error="removed with its app by rollback")
            results.append(
                {
                    "kind": "credential",
                    "app_id": app_id,
                    "credential_id": cred.credential_id,
                    "key_fingerprint": cred.fingerprint,
                    "result": "deleted with app",
                }
            )
        results.append({"kind": "app", "app_id": app_id, "result": outcome, "detail": rec.app_name})

    async def one_credential(cred: Any) -> None:
        app_id, cred_id = cred.app_id, cred.credential_id
        row = {"kind": "credential", "app_id": app_id, "credential_id": cred_id, "key_fingerprint": cred.fingerprint}
        try:
            if cred_id is None:  # an unsettled intent: find it by key, if it is there at all
                items = await call(lambda: api.list_credentials(app_id))
                match = [i for i in items if fingerprint(str(i.get("KeyID") or "")) == cred.fingerprint]
                if not match:
                    jr.credential_outcome(cred.fingerprint, "rolled_back", error="never created")
                    results.append({**row, "result": "not found"})
                    return
                cred_id = int(match[0]["ID"])
            outcome = await delete(lambda: api.delete_credential(app_id, cred_id))
        except NotFound:
            outcome = "already gone"
        except PortalError as exc:
            results.append({**row, "result": "failed", "detail": _message(exc)})
            return
        jr.credential_outcome(cred.fingerprint, "rolled_back", error="deleted by rollback")
        results.append({**row, "credential_id": cred_id, "result": outcome})

    try:
        await find_intended_apps()
        loose = [c for c in ours if c.app_id not in our_apps and c.app_id is not None]
        await asyncio.gather(*(one_credential(c) for c in loose))
        await asyncio.gather(*(one_app(app_id, rec) for app_id, rec in our_apps.items()))
    finally:
        if own_client:
            await api.aclose()
        if own_journal:
            jr.close()
    frame = pd.DataFrame(results, columns=list(ROLLBACK_COLUMNS))
    for col in ("app_id", "credential_id"):
        frame[col] = frame[col].astype("Int64")
    return frame


def rollback(journal: Journal | str | Path, client: AsyncPortalClient | Settings | None, **kw: Any) -> pd.DataFrame:
    """Sync wrapper of ``rollback_async`` (works inside Jupyter too)."""
    return run_sync(lambda: rollback_async(journal, client, **kw))
