"""The sandbox's own ceiling: how close a client that does nothing else gets to the honest limit.

32 workers send each key's two unavoidable requests (``POST /apps``, then ``POST /apps/{id}/custom_credentials``)
straight through aiohttp, with no journal, no plan, no listing, no read-back, against the same sandbox as
``bench_compare.py`` (50 ms, cap 32). What they reach is what the sandbox and this machine allow any client;
tyk-migrate's portal phase is measured against the honest limit, so this says how much of the gap is ours.
``--pace-ms`` spreads the requests out, as tyk-migrate's pacer does (``tyk_migrate/pacing.py``).

    python benchmarks/bench_ceiling.py                     # unpaced, then paced at 1.3 ms (latency / cap / 1.2)
    python benchmarks/bench_ceiling.py --keys 500 --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from benchmarks.common import SANDBOX_TOKEN, sandbox
from tyk_migrate.paging import page_items
from tyk_migrate.portal import CREDENTIAL_TYPE_TYK_MANAGED
from tyk_migrate.run.throughput import limit_keys_per_second


async def _migrate(url: str, keys: int, workers: int, pace: float) -> float:
    headers = {"Authorization": SANDBOX_TOKEN, "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=100)) as s:
        users, plans, products = [page_items(await (await s.get(f"{url}{path}")).json(), path)
                                  for path in ("/users", "/plans", "/products")]  # fmt: skip
        user, plan, product = users[-1]["ID"], plans[0]["ID"], products[0]["ID"]
        loop, todo, next_at = asyncio.get_running_loop(), iter(range(keys)), [0.0]

        async def paced(path: str, body: dict[str, Any]) -> Any:
            if pace:
                now = loop.time()
                start = max(now, next_at[0])
                next_at[0] = start + pace
                if start > now:
                    await asyncio.sleep(start - now)
            async with s.post(url + path, data=json.dumps(body)) as answer:
                if answer.status not in (200, 201):
                    raise RuntimeError(f"{path}: {answer.status} {(await answer.text())[:200]}")
                return await answer.json()

        async def worker() -> None:
            for i in todo:
                app = await paced("/apps", {"Name": f"ceiling {i}", "Description": "", "RedirectURLs": "",
                                            "UserID": user, "Visibility": "organisation"})  # fmt: skip
                await paced(f"/apps/{app['ID']}/custom_credentials", {
                    "Alias": "", "Type": CREDENTIAL_TYPE_TYK_MANAGED, "PlanID": plan, "ProductIDs": [product],
                    "AuthenticationMethod": "Auth Token", "AuthTokenType": "AUTH_TOKEN_TYPE_CUSTOM",
                    "KeyID": f"ceiling-key-{i:08d}-0123456789abcdef",
                })  # fmt: skip

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--keys", type=int, default=2000)
    p.add_argument("--latency-ms", type=float, default=50)
    p.add_argument("--cap", type=int, default=32)
    p.add_argument("--pace-ms", type=float, default=None, help="only this spacing (default: 0, then latency/cap/1.2)")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    honest = limit_keys_per_second(args.cap, 2.0, args.latency_ms / 1000) or 0.0
    paces = [args.pace_ms] if args.pace_ms is not None else [0.0, args.latency_ms / args.cap / 1.2]
    out: dict[str, Any] = {"honest_limit_keys_per_second": honest, "rows": []}
    for pace in paces:
        rates = []
        for _ in range(args.runs):
            with sandbox(latency_ms=args.latency_ms, faults=f"cap={args.cap}") as sb:
                seconds = asyncio.run(_migrate(sb.portal_url, args.keys, args.cap, pace / 1000))
            rates.append(args.keys / seconds)
        best, median = max(rates), statistics.median(rates)
        out["rows"].append({"pace_ms": pace, "keys_per_second": [round(r, 1) for r in rates]})
        runs = [round(r, 1) for r in rates]
        print(f"pace {pace:.2f} ms: {median:.1f} keys/s median ({100 * median / honest:.1f}% of the honest limit "
              f"{honest:.0f}), best {best:.1f} ({100 * best / honest:.1f}%), runs {runs}")  # fmt: skip
    return out


if __name__ == "__main__":
    main()
