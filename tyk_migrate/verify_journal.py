"""A run's outcome frame rebuilt from its plan and its journal, for ``tyk-migrate verify INPUT --journal FILE``.
Split from ``verify.py`` (the calls), which re-exports it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .vocabulary import BLOCKED, CREATED, FAILED, PENDING, ROLLED_BACK, SKIP_EXISTING, SKIPPED


def outcomes_from_journal(plan: pd.DataFrame, journal: Any) -> pd.DataFrame:
    """Rebuild a run's outcome frame from a plan (made again from the input) and the run's journal.

    For ``tyk-migrate verify INPUT --journal FILE``: the journal says which keys the run created (with app
    and credential IDs), failed or rolled back; rows it does not know keep the plan's verdict
    (``skip_existing`` -> ``skipped``, ``blocked`` -> ``blocked``, else ``pending``). Nothing is written.
    A journal bound to another input is refused (``JournalError``).
    """
    from .errors import JournalError
    from .journal import input_identity, intent_landed

    bound = getattr(journal, "input_id", None)
    if bound and bound != input_identity(plan["key_fingerprint"]):
        raise JournalError(f"journal {getattr(journal, 'path', '')} belongs to another input than this one")
    frame = plan.copy()
    status: list[str] = []
    columns: dict[str, list[Any]] = {
        c: [] for c in ("app_id", "credential_id", "http_status", "error", "attempts", "batch")
    }
    by_state = {CREATED: CREATED, FAILED: FAILED, "mismatch": FAILED, ROLLED_BACK: ROLLED_BACK}
    actions = frame["action"] if "action" in frame.columns else pd.Series("", index=frame.index)
    app_ids = frame["app_id"] if "app_id" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    cred_ids = (
        frame["credential_id"] if "credential_id" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    )
    for fp, action, app_id, cred_id in zip(frame["key_fingerprint"], actions, app_ids, cred_ids, strict=True):
        rec = journal.credential(fp) if isinstance(fp, str) else None
        if rec is not None and rec.state in by_state:
            status.append(by_state[rec.state])
            values = [rec.app_id, rec.credential_id, rec.http_status, rec.error, rec.attempts, rec.batch]
        elif pd.notna(cred_id) and intent_landed(rec, str(action), int(cred_id)):
            status.append(CREATED)  # the runner adopts it on its next pass, as its own
            values = [app_id, cred_id, None, None, rec.attempts, rec.batch]
        else:
            # as the runner reads an unsettled row: by its planned action, whatever intent the journal holds
            status.append({SKIP_EXISTING: SKIPPED, BLOCKED: BLOCKED}.get(str(action), PENDING))
            values = [app_id, cred_id, None, None, None, None]
        for column, value in zip(columns, values, strict=True):
            columns[column].append(None if value is None or value is pd.NA or value != value else value)
    frame["status"] = pd.Series(status, index=frame.index, dtype=object)
    for column, values in columns.items():
        if column == "error":
            frame[column] = pd.Series(values, index=frame.index, dtype=object)
        else:
            frame[column] = pd.array(values, dtype="Int64")
    return frame
