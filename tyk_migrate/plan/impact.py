"""Would a key's clients notice the migration? Its limits and access today against its target plan and products.

Pure (no network) and per row: ``assess`` compares the legacy frame's optional limit columns (``rate``,
``per``, ``quota_max``, ``quota_renewal_rate``, ``api_ids``, ``expires_at``) with the portal plan the row is
planned onto and the gateway APIs its target products expose, and names each kind of impact
(``IMPACT_KINDS``) with a sentence of numbers (``rate 100/1s -> 10/1s``). Units and "no limit" values are
Tyk's (``tyk_migrate.limits``).

Nothing is claimed from what is not known: a legacy value the source does not give (NA, ``api_ids`` None,
``expires_known`` False) or a plan value the portal does not answer (``Per``, ``KeyExpiresIn``, a text
``RateLimit``) leaves that kind out for the row. A setting per kind (``impact_policy``) says whether it
only warns (the columns show it) or blocks the row (reason code ``client_impact_blocked``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, MigrateError
from ..limits import UNLIMITED, number, period, quota_is_unlimited, rates_per_second, renews
from ..secrets import SecretKey, fingerprint
from ..snapshot import PortalSnapshot
from . import reasons as R

IMPACT_KINDS = ("rate_tighter", "quota_lower", "api_lost", "expiry_changes", "live_key_overwritten")
#: What a kind does to a row: ``warn`` (shown only), ``block``; ``block_other_owner`` (only for
#: ``live_key_overwritten``) blocks when the live key belongs to another owner than the row's, else warns.
IMPACT_SETTINGS = ("warn", "block", "block_other_owner")
DEFAULT_POLICY: dict[str, str] = {
    "rate_tighter": "warn",
    "quota_lower": "warn",
    "api_lost": "block",
    "expiry_changes": "warn",
    "live_key_overwritten": "block_other_owner",
}
#: Separators of a row's kinds in ``client_impact`` and of its sentences in ``client_impact_detail``.
KIND_SEPARATOR = ";"
DETAIL_SEPARATOR = "; "
#: Relative tolerance of "tighter"/"lower": float noise in rate/per must not read as a change.
TOLERANCE = 1e-9
LiveKeys = pd.DataFrame | Iterable[object] | None


def impact_policy(
    *overrides: Mapping[str, str] | None, where: str = "client_impact", error: type[MigrateError] = ConfigError
) -> dict[str, str]:
    """``DEFAULT_POLICY`` updated by each mapping of overrides in turn ({kind: setting}); one line if unusable."""
    policy = dict(DEFAULT_POLICY)
    for override in overrides:
        if override is None:
            continue
        if not isinstance(override, Mapping):
            raise error(f"{where}: expected an object {{kind: warn|block}}, got {type(override).__name__}")
        for kind, setting in override.items():
            if kind not in IMPACT_KINDS:
                raise error(f"{where}: unknown kind {kind!r}; use one of {', '.join(IMPACT_KINDS)}")
            allowed = IMPACT_SETTINGS if kind == "live_key_overwritten" else IMPACT_SETTINGS[:2]
            if setting not in allowed:
                raise error(f"{where}.{kind}: {setting!r} is not a setting; use one of {', '.join(allowed)}")
            policy[kind] = str(setting)
    return policy


def split_kinds(cell: str) -> list[str]:
    """The kinds of one ``client_impact`` cell (empty list for an empty cell)."""
    return [kind for kind in str(cell).split(KIND_SEPARATOR) if kind]


@dataclass
class Impact:
    """Per row, in frame order (object arrays of text, ``""`` for none): the kinds found joined by ``;``,
    their sentences joined by ``; ``, and the same two for the kinds that block the row."""

    kinds: np.ndarray
    details: np.ndarray
    blocking: np.ndarray
    blocking_details: np.ndarray

    def columns(self, index: pd.Index) -> tuple[pd.Series, pd.Series]:
        """The ``client_impact`` and ``client_impact_detail`` columns."""
        return pd.Series(self.kinds, index=index, dtype="str"), pd.Series(self.details, index=index, dtype="str")

    def findings(self) -> list[R.Finding | None]:
        """Per row, the ``client_impact_blocked`` finding of its blocking kinds, or None."""
        out: list[R.Finding | None] = [None] * len(self.kinds)
        made: dict[tuple[str, str], R.Finding] = {}  # findings are frozen: rows with the same ones share them
        for i in map(int, np.flatnonzero(self.blocking != "")):
            key = (str(self.blocking[i]), str(self.blocking_details[i]))
            if key not in made:
                # " and ", not "; ": a reason cell separates its sentences with "; "
                detail = key[1].replace(DETAIL_SEPARATOR, " and ")
                made[key] = R.CLIENT_IMPACT_BLOCKED(kinds=key[0].replace(KIND_SEPARATOR, ", "), detail=detail)
            out[i] = made[key]
        return out


# -- the comparisons ---------------------------------------------------------------------------------


def _num(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), math.nan)
    return pd.to_numeric(frame[column], errors="coerce").astype("float64").to_numpy(na_value=math.nan)


def _per_distinct(
    n: int, rows: np.ndarray, columns: Sequence[np.ndarray], say: Callable[[int], str | None]
) -> np.ndarray:
    """Sentences for ``rows`` (positions) computed once per distinct combination of ``columns`` values:
    exports repeat a few limits over many keys. ``say(i)`` words row ``i``; the rest is an object array
    of None."""
    out = np.full(n, None, dtype=object)
    if not len(rows):
        return out
    values = pd.DataFrame({str(k): c[rows] for k, c in enumerate(columns)})
    groups = values.groupby(list(values.columns), dropna=False, sort=False).ngroup().to_numpy()
    _, first = np.unique(groups, return_index=True)
    said = np.empty(len(first), dtype=object)
    said[:] = [say(int(rows[f])) for f in first]
    out[rows] = said[groups]
    return out


def _rate_text(rate: float, per: float, rps: float) -> str:
    return "unlimited" if rps == UNLIMITED else f"{number(rate)}/{number(per)}s"


def _rate(legacy: pd.DataFrame, target: pd.DataFrame) -> np.ndarray:
    rate, per = _num(legacy, "rate"), _num(legacy, "per")
    old = rates_per_second(rate, per)
    new_rate, new_per = _num(target, "rate_limit"), _num(target, "per")
    new = rates_per_second(new_rate, new_per, target["unlimited_rate_limit"].astype(object).to_numpy())
    hit = np.flatnonzero(new < old * (1 - TOLERANCE))  # nan (not known) on either side compares False

    def say(i: int) -> str:
        was, now = _rate_text(rate[i], per[i], old[i]), _rate_text(new_rate[i], new_per[i], new[i])
        periods_differ = old[i] != UNLIMITED and per[i] != new_per[i]
        return f"rate {was} -> {now}" + (f" ({old[i]:.4g}/s -> {new[i]:.4g}/s)" if periods_differ else "")

    return _per_distinct(len(legacy), hit, (rate, per, new, new_rate, new_per), say)


def _quota_text(quota: float, renewal: float) -> str:
    if quota_is_unlimited(quota):
        return "unlimited"
    return f"{number(quota)}/{period(renewal)}" if renews(renewal) else f"{number(quota)} in total"


def _quota_one(q: float, r: float, tq: float, tr: float, t_unlimited: bool) -> str | None:
    """The sentence when the target quota is lower than the legacy one, else None (also when unknown)."""
    target_unlimited = t_unlimited or quota_is_unlimited(tq) is True
    if math.isnan(q) or target_unlimited or math.isnan(tq):
        return None
    if quota_is_unlimited(q):
        return f"quota unlimited -> {_quota_text(tq, tr)}" if not math.isnan(tr) else f"quota unlimited -> {number(tq)}"
    if math.isnan(r) or math.isnan(tr):
        return None  # a capped quota without its period cannot be compared
    was, now = _quota_text(q, r), _quota_text(tq, tr)
    old_renews, new_renews = bool(renews(r)), bool(renews(tr))
    if old_renews and new_renews and r != tr:
        old_ps, new_ps = q / r, tq / tr
        if new_ps < old_ps * (1 - TOLERANCE):
            return f"quota {was} -> {now} (normalised per second: {old_ps:.4g}/s -> {new_ps:.4g}/s)"
        return None
    if old_renews and not new_renews:
        return f"quota {was} -> {now} (a lifetime cap replaces a renewing quota)"
    if tq < q * (1 - TOLERANCE):
        return f"quota {was} -> {now}"
    return None


def _quota(legacy: pd.DataFrame, target: pd.DataFrame) -> np.ndarray:
    q, r = _num(legacy, "quota_max"), _num(legacy, "quota_renewal_rate")
    tq, tr = _num(target, "quota"), _num(target, "quota_renewal_rate")
    flags = target["unlimited_quota"].astype(object).fillna(False).to_numpy(dtype=bool)
    candidates = np.flatnonzero(~np.isnan(q) & (~np.isnan(tq) | flags))

    def say(i: int) -> str | None:
        return _quota_one(q[i], r[i], tq[i], tr[i], bool(flags[i]))

    return _per_distinct(len(legacy), candidates, (q, r, tq, tr, flags), say)


def _expiry(legacy: pd.DataFrame, target: pd.DataFrame, now: pd.Timestamp) -> np.ndarray:
    seconds = _num(target, "key_expires_in")
    expiring = np.isfinite(seconds) & (seconds > 0)
    # absent (or NA after a concat with a frame without it): the source gave every row's expiry
    flags = legacy["expires_known"] if "expires_known" in legacy else pd.Series(True, index=legacy.index)
    known = flags.astype(object).fillna(True).to_numpy(dtype=bool)
    given = legacy["expires_at"] if "expires_at" in legacy else pd.Series(pd.NaT, index=legacy.index)
    ends = pd.to_datetime(given, utc=True)
    end_s = (ends - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy(dtype=float, na_value=math.nan, copy=True)
    end_s[np.isnan(end_s)] = math.inf  # NaT: never
    new_end_s = now.timestamp() + seconds
    changes = np.flatnonzero(expiring & known & (end_s > new_end_s))  # never (inf) always counts

    def say(i: int) -> str:
        plan_says = f"plan KeyExpiresIn {number(seconds[i])}s"
        if end_s[i] == math.inf:
            return f"expiry never -> {period(seconds[i])} after creation ({plan_says})"
        end, new_end = pd.Timestamp(end_s[i], unit="s", tz="UTC"), now + pd.Timedelta(seconds=float(seconds[i]))
        return f"expiry {end:%Y-%m-%d} -> about {new_end:%Y-%m-%d} ({plan_says} after creation)"

    days = np.floor(end_s / 86400)  # one sentence per end date and plan: the sentence shows days
    return _per_distinct(len(legacy), changes, (days, seconds), say)


class _Apis:
    """The gateway API IDs each portal product exposes, and which products expose an API."""

    def __init__(self, snapshot: PortalSnapshot) -> None:
        products = snapshot.products
        self.of_product: dict[int, frozenset[str]] = {}
        self.products_of: dict[str, list[str]] = {}
        for pid, name, api_ids in zip(products["product_id"], products["name"], products["api_ids"], strict=True):
            ids = frozenset(str(a) for a in api_ids or ())
            self.of_product[int(pid)] = ids
            for api in ids:
                self.products_of.setdefault(api, []).append(f"{name!r} (ID {int(pid)})")
        self._union: dict[tuple[int, ...], frozenset[str]] = {}

    def exposed(self, product_ids: Iterable[int]) -> frozenset[str]:
        key = tuple(sorted(int(p) for p in product_ids))
        if key not in self._union:
            self._union[key] = frozenset().union(*(self.of_product.get(p, frozenset()) for p in key))
        return self._union[key]

    def sentence(self, lost: list[str]) -> str:
        parts = []
        for api in lost:
            elsewhere = self.products_of.get(api)
            parts.append(f"{api} (in portal product {', '.join(elsewhere)})" if elsewhere else api)
        if len(lost) == 1:
            return f"API {parts[0]} called today is in no target product"
        return f"APIs {', '.join(parts)} called today are in no target product"


def _apis(legacy: pd.DataFrame, product_ids: Sequence[Sequence[int]], apis: _Apis) -> np.ndarray:
    out = np.full(len(legacy), None, dtype=object)
    if "api_ids" not in legacy.columns:
        return out
    said: dict[tuple[tuple[str, ...], tuple[int, ...]], str | None] = {}
    for i, today in enumerate(legacy["api_ids"].tolist()):
        if not isinstance(today, list) or not today:
            continue
        key = (tuple(today), tuple(product_ids[i]))
        if key not in said:
            exposed = apis.exposed(product_ids[i])
            lost = [a for a in today if a not in exposed]
            said[key] = apis.sentence(lost) if lost else None
        out[i] = said[key]
    return out


# -- the hook for keys live in the gateway today ----------------------------------------------------------


def live_key_overwrites(
    frame: pd.DataFrame, owners: pd.Series, live_keys: LiveKeys
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(live, other_owner, sentence)`` per row: is the row's key live in the gateway today, owned by another?

    The hook a Dashboard check fills (``build_plan(live_keys=...)``): ``live_keys`` is a set of key
    fingerprints (or ``SecretKey`` values), or a frame with ``key_fingerprint`` (or ``key_id``) and, when
    known, ``owner_email``. None (the default) finds nothing. An owner is "other" only when it is known and
    differs from the row's owner (compared trimmed, case-insensitively).
    """
    n = len(frame)
    live, other = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    sentences = np.full(n, None, dtype=object)
    if live_keys is None:
        return live, other, sentences
    owner_of = _live_owners(live_keys)
    for i, (fp, owner) in enumerate(zip(frame["key_fingerprint"].tolist(), owners.tolist(), strict=True)):
        if fp not in owner_of:
            continue
        live[i] = True
        live_owner = owner_of[fp]
        if live_owner and live_owner != str(owner).strip().lower():
            other[i] = True
            sentences[i] = f"the key is live in the gateway today, owned by {live_owner!r}: the import replaces it"
        else:
            sentences[i] = "the key is live in the gateway today: the import replaces its session"
    return live, other, sentences


def _live_owners(live_keys: pd.DataFrame | Iterable[object]) -> dict[str, str | None]:
    """Key fingerprint -> the live key's owner email (None when not known)."""
    if isinstance(live_keys, pd.DataFrame):
        if "key_fingerprint" in live_keys.columns:
            fps = [str(f) for f in live_keys["key_fingerprint"]]
        elif "key_id" in live_keys.columns:
            fps = [fingerprint(k) for k in live_keys["key_id"]]
        else:
            raise ConfigError("live_keys: a frame needs a key_fingerprint or key_id column")
        owners = live_keys["owner_email"].tolist() if "owner_email" in live_keys.columns else [None] * len(fps)
        return {
            fp: (str(o).strip().lower() or None) if isinstance(o, str) else None
            for fp, o in zip(fps, owners, strict=True)
        }
    return {fingerprint(k) if isinstance(k, SecretKey) else str(k): None for k in live_keys}


# -- all of it ----------------------------------------------------------------------------------------


def _targets(plans: pd.DataFrame, plan_ids: pd.Series) -> pd.DataFrame:
    """One row of the target plan's limits per legacy row (all NA where there is no plan)."""
    wanted = pd.to_numeric(plan_ids, errors="coerce").astype("float64").to_numpy(na_value=math.nan)
    at = pd.Index(plans["plan_id"].astype("float64")).get_indexer(pd.Index(wanted))  # -1: no plan (in the portal)
    padded = pd.concat([plans, plans.iloc[:0].reindex([0])], ignore_index=True)  # a last all-NA row for -1
    return padded.iloc[at].reset_index(drop=True)


def assess(
    legacy: pd.DataFrame,
    plan_ids: pd.Series,
    product_ids: Sequence[Sequence[int]],
    assessable: np.ndarray,
    snapshot: PortalSnapshot,
    policy: Mapping[str, str],
    *,
    owners: pd.Series | None = None,
    live_keys: LiveKeys = None,
) -> Impact:
    """Every row's client impact. ``assessable``: rows whose plan and products resolved (others get none
    of the plan-based kinds); ``owners``: the rows' owner emails after the mapping (for live keys)."""
    legacy = legacy.reset_index(drop=True)
    target = _targets(snapshot.plans, plan_ids.reset_index(drop=True))
    now = pd.Timestamp(snapshot.fetched_at)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    found = {
        "rate_tighter": _rate(legacy, target),
        "quota_lower": _quota(legacy, target),
        "api_lost": _apis(legacy, product_ids, _Apis(snapshot)),
        "expiry_changes": _expiry(legacy, target, now),
    }
    owner_emails = owners.reset_index(drop=True) if owners is not None else legacy["owner_email"]
    _, other_owner, live_sentences = live_key_overwrites(legacy, owner_emails, live_keys)
    found["live_key_overwritten"] = live_sentences
    n = len(legacy)
    columns = [np.full(n, "", dtype=object) for _ in range(4)]  # kinds, details, blocking kinds, their details
    for kind in IMPACT_KINDS:
        said = found[kind]
        on = np.array([s is not None for s in said], dtype=bool)
        if kind != "live_key_overwritten":
            on &= assessable  # the plan-based kinds need a resolved plan and products
        if not on.any():
            continue
        setting = policy[kind]
        if setting == "block":
            blocks = on
        else:  # warn blocks nothing; block_other_owner only another owner's live key
            blocks = on & other_owner if setting == "block_other_owner" else np.zeros(n, dtype=bool)
        for mask, (names, texts) in ((on, columns[:2]), (blocks, columns[2:])):
            _append(names, mask, kind, KIND_SEPARATOR)
            _append(texts, mask, said, DETAIL_SEPARATOR)
    return Impact(*columns)


def _append(column: np.ndarray, mask: np.ndarray, value: object, separator: str) -> None:
    """``column[mask] += separator + value`` (no separator before the first); elementwise over object arrays."""
    part: Any = value[mask] if isinstance(value, np.ndarray) else value
    current = column[mask]
    column[mask] = np.where(current == "", part, current + separator + part)
