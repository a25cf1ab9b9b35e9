"""What a gateway refusal of a migrated key means, and what to do about it: ``verify_error`` for 401 and 403.

A 201 from the portal does not prove the gateway took the key (TYK-FACTS.md, "Revised facts"): creation is
a chain (portal -> Dashboard -> gateway) and can stop half way, leaving a portal record without a gateway
key; older gateways create a key no longer than ``min_token_length`` and then answer 403 to it; a portal
that lets a key be imported twice leaves the gateway serving only the newest credential's products; and
gateways answer an unknown key 401 or 403 depending on the version. The gateway's body is the same
("Access to this API has been disallowed") for several of these, so the sentence is chosen from what
tyk-migrate knows besides the status: the key's length against the minimum, and which portal credentials
hold the key (from the snapshot) with which products.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import pandas as pd

#: gateway answers that mean "this key does not open this API" (not a limit, not an outage)
REFUSALS = (401, 403)


class Holder(NamedTuple):
    """A portal credential holding a key."""

    credential_id: int
    app_id: int
    product_ids: tuple[int, ...]


def _ints(values: Any) -> tuple[int, ...]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    if not isinstance(values, list | tuple):
        return ()
    out = []
    for value in values:
        try:
            out.append(int(value))
        except (TypeError, ValueError):
            continue
    return tuple(out)


def env_min_key_length() -> int | None:
    """``TYK_MIN_KEY_LENGTH`` when set to a whole number (the gateway's ``min_token_length``), else None."""
    text = os.environ.get("TYK_MIN_KEY_LENGTH", "").strip()
    return int(text) if text.isdigit() else None


def holders_by_fingerprint(credentials: pd.DataFrame | None) -> dict[str, list[Holder]] | None:
    """Key fingerprint -> the credentials holding it, oldest first; None when there is no credentials frame."""
    if credentials is None or "key_fingerprint" not in credentials.columns:
        return None
    index: dict[str, list[Holder]] = {}
    ordered = credentials.sort_values("credential_id", kind="stable")
    for fp, cid, app, products in zip(
        ordered["key_fingerprint"], ordered["credential_id"], ordered["app_id"], ordered["product_ids"], strict=True
    ):
        if isinstance(fp, str) and fp:
            index.setdefault(fp, []).append(Holder(int(cid), int(app), _ints(products)))
    return index


def _ids(holders: Iterable[Holder]) -> str:
    return ", ".join(str(h.credential_id) for h in holders)


@dataclass
class GatewayHints:
    """Explains a refusal of one key; built once per verification."""

    holders: dict[str, list[Holder]] | None = None  # None: no snapshot, nothing known about the portal side
    min_key_length: int | None = None

    @classmethod
    def build(cls, snapshot: Any, min_key_length: int | None) -> GatewayHints:
        credentials = getattr(snapshot, "credentials", None) if snapshot is not None else None
        known = min_key_length if min_key_length is not None else env_min_key_length()
        return cls(holders_by_fingerprint(credentials), known)

    def explain(
        self, status: int | None, *, key_length: int, fingerprint: Any = None, product_id: int | None = None
    ) -> str | None:
        """The sentence for ``verify_error``: why the gateway answered ``status`` and what to do; None for
        answers that need none (2xx, and those the caller already explained)."""
        if status not in REFUSALS:
            return None
        said = f"gateway refuses the key ({status})" if status == 403 else "gateway does not know the key (401)"
        minimum = self.min_key_length
        if minimum is not None and key_length <= minimum:
            return (
                f"{said}: it is {key_length} characters, not longer than the gateway's minimum ({minimum}); newer "
                "gateways refuse such keys when they are created (the portal may still answer 201), older ones "
                "(before 5.8.15, 5.13.1, 5.14.0) create them and refuse them on every call: lower min_token_length "
                "below the key's length, or give the client a longer key (delete the credential, import the new one)"
            )
        if self.holders is None:
            return _generic(said, status, minimum, None, products_checked=False)
        held = self.holders.get(fingerprint, []) if isinstance(fingerprint, str) else []
        if not held:
            return (
                f"{said} and no portal credential holds it: it was not created, or it was deleted; "
                "run apply again (it imports the key), or reconcile to see where it is"
            )
        if len(held) > 1:
            return (
                f"{said}: {len(held)} portal credentials hold it ({_ids(held)}); the gateway serves only the newest "
                "one's plan and products, and deleting any of them revokes the key: delete the extra credentials, "
                "then import the key again into the one it belongs to"
            )
        holder = held[0]
        if status == 403 and product_id is not None and product_id not in holder.product_ids:
            products = ", ".join(map(str, holder.product_ids)) or "none"
            return (
                f"{said}: portal credential {holder.credential_id} does not hold product {product_id}, whose API "
                f"was called (it holds {products}); fix the credential's products, or the legacy row's, then verify"
            )
        return _generic(said, status, minimum, holder.credential_id, products_checked=product_id is not None)


def _generic(said: str, status: int, minimum: int | None, credential_id: int | None, *, products_checked: bool) -> str:
    """A refusal with no more specific cause known: the causes still possible, then what to do."""
    which = f"credential {credential_id}" if credential_id is not None else "the credential"
    if status == 401:
        causes = ["key not provisioned (a half-done create leaves a portal record without a gateway key)",
                  "not synced to the gateway yet"]  # fmt: skip
        todo = f"verify again in a minute; if it stays, delete {which} and create it again"
    else:
        causes = ["key not provisioned (a half-done create; this gateway answers 403 for unknown keys)"]
        if not products_checked:
            causes.append("not allowed on the API called (the credential's products)")
        todo = f"delete {which} and create it again"
    if minimum is None:
        causes.append("shorter than the gateway's minimum")
        todo += ", or check min_token_length"
    listed = causes[0] if len(causes) == 1 else ", ".join(causes[:-1]) + " or " + causes[-1]
    return f"{said}: {listed}; {todo}"
