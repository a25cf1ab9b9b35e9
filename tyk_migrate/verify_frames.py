"""Reading a verified frame: how many keys got which answer, what each answer means, which rows were tried
and which work. Split from ``verify.py`` (the calls), which re-exports it all.
"""

from __future__ import annotations

import pandas as pd


def verification_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Counts of verified rows by gateway answer, with a readable meaning for each (for reports)."""
    if "verify_status" not in frame.columns:
        return pd.DataFrame(columns=["verify_status", "meaning", "keys"])
    tried = frame[verification_attempted(frame)]
    labels = [str(int(s)) if pd.notna(s) else "no answer" for s in tried["verify_status"]]
    counts = pd.Series(labels, dtype=object).value_counts().sort_index()
    return pd.DataFrame(
        {
            "verify_status": counts.index.astype(str),
            "meaning": [MEANINGS.get(label, _meaning(label)) for label in counts.index],
            "keys": counts.to_numpy(),
        }
    )


MEANINGS = {
    "200": "key works on its API",
    "401": "gateway does not know the key (see verify_error)",
    "403": "gateway refuses the key: not on that API, not provisioned or too short (see verify_error)",
    "429": "rate limit of the key's plan hit (even after backoff)",
    "no answer": "connection error or no API to call (see verify_error)",
}


def _meaning(label: str) -> str:
    if label.startswith("2"):
        return "key accepted"
    if label.startswith("5"):
        return "gateway or upstream error"
    return "unexpected answer"


def verification_attempted(frame: pd.DataFrame) -> pd.Series:
    """Boolean per row: a call was made or tried (an answer or a recorded reason for none)."""
    status = frame["verify_status"].notna() if "verify_status" in frame.columns else pd.Series(False, index=frame.index)
    if "verify_error" in frame.columns:
        status = status | frame["verify_error"].notna()
    return status.astype(bool)


def verified_ok(frame: pd.DataFrame) -> pd.Series:
    """Boolean per row: the gateway answered 2xx."""
    status = frame.get("verify_status")
    if status is None:
        return pd.Series(False, index=frame.index)
    return status.between(200, 299).fillna(False).astype(bool)
