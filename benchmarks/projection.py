"""How long a cutover takes: 10k / 100k / 1M keys at 50, 150 and 400 ms per portal request, caps 8 / 32 / 128.

Made from a measured results JSON (``benchmarks/results/100k.json``, written by ``bench_100k.py``: the
client's CPU per request at zero latency, and its prepare cost per key) and the limit formula of
``tyk_migrate.run.throughput``, so the table is reproducible:

    python benchmarks/projection.py                              # reads benchmarks/results/100k.json
    python benchmarks/projection.py --results other.json --requests-per-key 1.33

The model, per run of N keys:

* the portal's bound: ``N x R / (cap / latency)`` seconds, R = unavoidable requests per key (2 when each
  key gets its own app, 1 + 1/k when k keys share one), i.e. N over the honest limit;
* tyk-migrate's own requests: R plus its read-back sample (``--read-back auto``: 2% of keys, plus the first
  20), sent at the pace of the slower of the portal (``latency / cap`` per request) and its own CPU
  (``cpu_ms_per_request``: one process, one core for the event loop);
* plus start-up: the measured prepare time (load, validate, read the portal, plan) scaled per key;
* plus the run's listings of ``/apps``: a walk of every app (those there before, ``--apps-before``, and
  the ones the run made so far) each ``APP_LISTING_MAX_AGE - APP_LISTING_LEAD`` seconds, a request per
  page of ``DEFAULT_PER_PAGE``, taken from the same budget of requests as the keys (half of it at most,
  the walk's share of the slots). This term grows with the square of the run: at a million keys it takes
  a large share of the portal's capacity (the table's last column).

It is a projection, not a measurement: a real portal's latency grows with its load, and a cap is rarely a
hard number. The inputs it used are printed with the table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import RESULTS, md_table
from tyk_migrate.portal import DEFAULT_PER_PAGE
from tyk_migrate.run.app_listing import APP_LISTING_LEAD, APP_LISTING_MAX_AGE
from tyk_migrate.run.readback import DEFAULT_FIRST, DEFAULT_SAMPLE
from tyk_migrate.run.throughput import limit_keys_per_second

#: seconds between two of the run's walks of /apps (each begins this long after the last)
LISTING_INTERVAL = APP_LISTING_MAX_AGE - APP_LISTING_LEAD

KEYS = (10_000, 100_000, 1_000_000)
LATENCIES_MS = (50, 150, 400)
CAPS = (8, 32, 128)


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def project(
    keys: int, latency_ms: float, cap: int, *, requests_per_key: float, cpu_ms_per_request: float,
    prepare_s_per_key: float, startup_s: float, sample: float = DEFAULT_SAMPLE, first: int = DEFAULT_FIRST,
    apps_before: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """One cell of the table: the honest limit and tyk-migrate's projected time, and which bound holds."""
    limit = limit_keys_per_second(cap, requests_per_key, latency_ms / 1000)
    assert limit is not None
    own_requests = keys * (requests_per_key + sample) + min(first, keys)
    portal_pace, cpu_pace = latency_ms / 1000 / cap, cpu_ms_per_request / 1000
    sending, listed = _with_listings(keys, own_requests / keys, max(portal_pace, cpu_pace), requests_per_key - 1,
                                     apps_before)  # fmt: skip
    seconds = startup_s + keys * prepare_s_per_key + sending
    return {
        "keys": keys,
        "latency_ms": latency_ms,
        "cap": cap,
        "limit_keys_per_second": round(limit, 1),
        "limit_seconds": round(keys / limit, 1),
        "projected_seconds": round(seconds, 1),
        "projected_share_of_limit": round(keys / limit / seconds, 3),
        "bound": "portal" if portal_pace >= cpu_pace else "client CPU",
        "listing_requests": round(listed),
        "listing_share": round(listed / (listed + own_requests), 3),
    }


def _with_listings(
    keys: int, per_key: float, pace: float, apps_per_key: float, apps_before: int
) -> tuple[float, float]:
    """Seconds to send the keys' requests and the listings' pages at ``pace`` seconds a request, and the
    pages. Each interval begins with a walk of every app made so far, its pages in half the slots; the
    interval is ``LISTING_INTERVAL``, or the walk itself once a walk takes longer (walks then follow one
    another and the listing's age stretches, as ``AppListing.max_age`` does); the rest of it goes to keys."""
    done = seconds = pages = 0.0
    while done < keys:
        walk = math.ceil((apps_before + done * apps_per_key) / DEFAULT_PER_PAGE) + 1  # and the page past the end
        interval = max(LISTING_INTERVAL, 2 * walk * pace)
        work = min(keys - done, (interval / pace - walk) / per_key)
        seconds += (work * per_key + walk) * pace
        pages += walk
        done += work
    return seconds, pages


def inputs_from(results: dict[str, Any]) -> dict[str, float]:
    """The measured per-request and per-key costs in a ``bench_100k.py`` result."""
    keys = results["keys"]
    return {
        "cpu_ms_per_request": float(results["cpu_ms_per_request"]),
        "prepare_s_per_key": float(results["prepare_s"]) / keys,
        "startup_s": float(results.get("imports_s", 0.0)),
    }


def table(cells: list[dict[str, Any]]) -> str:
    headers = ["keys", "latency", "cap", "honest limit keys/s", "at the limit", "tyk-migrate (projected)",
               "% of limit", "bound by", "requests listing apps"]  # fmt: skip
    rows = [
        [f"{c['keys']:,}", f"{c['latency_ms']:g} ms", c["cap"], f"{c['limit_keys_per_second']:,.1f}",
         duration(c["limit_seconds"]), duration(c["projected_seconds"]), f"{100 * c['projected_share_of_limit']:.0f}%",
         c["bound"], f"{100 * c['listing_share']:.1f}%"]
        for c in cells
    ]  # fmt: skip
    return md_table(headers, rows)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", type=Path, default=RESULTS / "100k.json", help="a bench_100k.py result")
    p.add_argument("--requests-per-key", type=float, default=2.0, help="unavoidable requests per key (default 2)")
    p.add_argument("--apps-before", type=int, default=0, help="apps in the portal before the run (default 0)")
    args = p.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    inputs = inputs_from(results)
    cells = [
        project(n, lat, cap, requests_per_key=args.requests_per_key, apps_before=args.apps_before, **inputs)
        for n in KEYS
        for lat in LATENCIES_MS
        for cap in CAPS
    ]
    print(
        f"inputs (from {args.results.name}, {results['keys']:,} keys, {results['machine']['date']}): client CPU "
        f"{inputs['cpu_ms_per_request']:.3f} ms/request, prepare {1e6 * inputs['prepare_s_per_key']:.0f} µs/key, "
        f"start-up {inputs['startup_s']:.1f} s; {args.requests_per_key:g} unavoidable requests/key"
    )
    print(table(cells))
    return {"inputs": inputs, "requests_per_key": args.requests_per_key, "cells": cells}


if __name__ == "__main__":
    main()
