"""What ``verify`` calls, and with what: the header that carries a key, the gateway URL, each key's API, the
sample of rows, and the pacing of call starts. Split from ``verify.py`` (the calls), which re-exports it all.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from .config import Settings, _env_bool, check_transport
from .errors import ConfigError, InputError
from .secrets import KeyValue, reveal

if TYPE_CHECKING:
    from .snapshot import PortalSnapshot

#: ``header_style`` values and the header each one sends.
HEADER_STYLES = ("authorization", "bearer", "x-api-key")


def auth_headers(key: KeyValue, header_style: str) -> dict[str, str]:
    """The header that carries ``key`` for the chosen style (the only place the raw key is used)."""
    raw = reveal(key)
    if header_style == "authorization":
        return {"Authorization": raw}
    if header_style == "bearer":
        return {"Authorization": f"Bearer {raw}"}
    if header_style == "x-api-key":
        return {"X-API-Key": raw}
    raise ConfigError(f"header style must be one of {', '.join(HEADER_STYLES)}, got {header_style!r}")


class RateLimiter:
    """Spaces call starts ``1/rate`` seconds apart across all workers (None or <= 0: no limit)."""

    def __init__(self, rate_per_second: float | None) -> None:
        self.interval = 1.0 / rate_per_second if rate_per_second and rate_per_second > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            await asyncio.sleep(start - now)


def _gateway_base(gateway_url: str | None, allow_insecure_http: bool | None) -> str:
    url = (gateway_url or Settings.from_env().gateway_url or "").strip().rstrip("/")
    if not url:
        raise ConfigError("no gateway URL: pass --gateway-url / gateway_url= or set TYK_GATEWAY_URL")
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"gateway URL must look like https://gateway.example.com, got {url!r}")
    insecure_ok = _env_bool("TYK_ALLOW_INSECURE_HTTP") if allow_insecure_http is None else allow_insecure_http
    check_transport(url, what="gateway", carried="the keys", allow_insecure_http=insecure_ok)
    return url


def api_targets(snapshot: PortalSnapshot | None) -> dict[int, str]:
    """Portal product ID -> gateway path prefix of one of its APIs (listen path, else API ID)."""
    if snapshot is None:
        return {}
    products = snapshot.products
    targets: dict[int, str] = {}
    for row in products.itertuples(index=False):
        choice = ""
        for column in ("listen_paths", "api_ids"):
            values = getattr(row, column, None)
            if isinstance(values, str):
                values = [values]
            for value in values if isinstance(values, (list, tuple)) else []:
                if isinstance(value, str) and value.strip("/ "):
                    choice = "/" + value.strip().strip("/")
                    break
            if choice:
                break
        if choice:
            targets[int(str(row.product_id))] = choice
    return targets


def _as_list(value: object) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "tolist"):  # numpy array from parquet/pyarrow
        return list(value.tolist())
    return []


def _target_for(row: pd.Series, targets: dict[int, str]) -> tuple[int, str] | None:
    """The first of the row's products with an API to call, and that API's path."""
    for product_id in _as_list(row.get("product_ids")):
        try:
            found = targets.get(int(product_id))
        except (TypeError, ValueError):
            continue
        if found:
            return int(product_id), found
    return None


def select_sample(frame: pd.DataFrame, sample: int | float | None, seed: int = 0) -> pd.Index:
    """Index labels to verify: all, ``sample`` rows (int), or that fraction (float in (0, 1])."""
    if sample is None:
        return frame.index
    if isinstance(sample, bool) or sample <= 0:
        raise InputError(f"sample must be a positive count or a fraction in (0, 1], got {sample!r}")
    if isinstance(sample, float) and not sample.is_integer():
        if sample > 1:
            raise InputError(f"a fractional sample must be in (0, 1], got {sample!r}")
        count = max(1, round(len(frame) * sample))
    else:
        count = int(sample)
    if count >= len(frame):
        return frame.index
    return frame.sample(n=count, random_state=seed).index.sort_values()
