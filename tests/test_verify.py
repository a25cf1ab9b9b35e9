"""verify_access: one gateway call per migrated key, header styles, sampling, 429 backoff, no key leaks."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace

import httpx
import pandas as pd
import pytest

from tyk_migrate.errors import ConfigError, InputError
from tyk_migrate.secrets import fingerprint, mask, secret_series
from tyk_migrate.verify import RateLimiter, verification_summary, verified_ok, verify_access

KEYS = [f"qb_live_key{n:04d}abcdefgh" for n in range(6)]
GOOD = {KEYS[0], KEYS[1], KEYS[2], KEYS[5]}


def outcomes(statuses: list[str] | None = None) -> pd.DataFrame:
    statuses = statuses or ["created", "created", "skipped", "created", "failed", "blocked"]
    frame = pd.DataFrame(
        {
            "source_row": range(1, len(KEYS) + 1),
            "key_fingerprint": [fingerprint(k) for k in KEYS],
            "owner_email": [f"dev{n}@example.com" for n in range(len(KEYS))],
            "product_ids": [[1], [2, 1], [3], [2], [1], [1]],
            "status": statuses,
        }
    )
    frame.insert(1, "key_id", secret_series(KEYS))
    return frame


SNAPSHOT = SimpleNamespace(
    products=pd.DataFrame(
        {
            "product_id": [1, 2, 3],
            "name": ["Payments API", "Accounts API", "Docs only"],
            "listen_paths": [["/payments/"], [], []],
            "api_ids": [["a1"], ["a2"], []],
        }
    )
)


class Gateway:
    """A tiny gateway stand-in: records what it saw, answers like Tyk."""

    def __init__(self, *, limited: int = 0, retry_after: str | None = None, delay: float = 0.0) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        self.limited = limited  # answer 429 this many times first
        self.retry_after = retry_after
        self.delay = delay
        self.in_flight = 0
        self.peak = 0
        self.starts: list[float] = []

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.starts.append(time.monotonic())
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            self.seen.append((request.url.path, dict(request.headers)))
            if self.limited > 0:
                self.limited -= 1
                headers = {"Retry-After": self.retry_after} if self.retry_after else {}
                return httpx.Response(429, headers=headers)
            auth = request.headers.get("x-api-key") or request.headers.get("authorization", "")
            key = auth.removeprefix("Bearer ")
            if key not in GOOD:
                return httpx.Response(401)
            return httpx.Response(200, json={"ok": True})
        finally:
            self.in_flight -= 1


def run(frame: pd.DataFrame, gateway: Gateway, **kw: object) -> pd.DataFrame:
    return verify_access(frame, "http://127.0.0.1:9/gateway", transport=httpx.MockTransport(gateway), **kw)  # type: ignore[arg-type]


def test_only_migrated_rows_are_called_and_answers_recorded() -> None:
    gateway = Gateway()
    frame = outcomes(["created", "created", "skipped", "failed", "created", "blocked"])
    before = frame.copy()
    result = run(frame, gateway, snapshot=SNAPSHOT)
    assert len(gateway.seen) == 3
    assert list(result["verify_status"].astype("object").where(result["verify_status"].notna(), None)) == [
        200,
        200,
        None,  # product 3 has no API: not called, explained
        None,  # failed: not migrated
        401,  # created but unknown to the gateway
        None,
    ]
    assert "no API to call" in result.loc[2, "verify_error"]
    assert result["verified_at"].notna().tolist() == [True, True, False, False, True, False]
    assert str(result["verified_at"].dt.tz) == "UTC"
    pd.testing.assert_frame_equal(frame, before)  # input untouched
    assert verified_ok(result).tolist() == [True, True, False, False, False, False]


def test_paths_come_from_listen_path_then_api_id() -> None:
    gateway = Gateway()
    run(outcomes(["created"] * 2 + ["pending"] * 4), gateway, snapshot=SNAPSHOT, path="/health")
    # row 1 has products [2, 1]: the first product with an API wins (2 has only an API ID)
    assert sorted(p for p, _ in gateway.seen) == ["/gateway/a2/health", "/gateway/payments/health"]
    gateway = Gateway()
    frame = outcomes(["pending", "pending", "pending", "created", "pending", "pending"])
    result = run(frame, gateway, snapshot=SNAPSHOT)
    assert [p for p, _ in gateway.seen] == ["/gateway/a2/"]
    assert result.loc[3, "verify_target"] == "/a2/"


@pytest.mark.parametrize(
    ("style", "header", "value"),
    [
        ("authorization", "authorization", "{k}"),
        ("bearer", "authorization", "Bearer {k}"),
        ("x-api-key", "x-api-key", "{k}"),
    ],
)
def test_header_styles(style: str, header: str, value: str) -> None:
    gateway = Gateway()
    result = run(outcomes(["created"] + ["pending"] * 5), gateway, header_style=style)
    ((path, headers),) = gateway.seen
    assert path == "/gateway/"
    assert headers[header] == value.format(k=KEYS[0])
    assert result.loc[0, "verify_status"] == 200


def test_unknown_header_style_and_bad_input() -> None:
    with pytest.raises(ConfigError, match="header style"):
        run(outcomes(), Gateway(), header_style="cookie")
    with pytest.raises(InputError, match="status"):
        run(outcomes().drop(columns="status"), Gateway())
    with pytest.raises(InputError, match="sample"):
        run(outcomes(), Gateway(), sample=1.5)
    with pytest.raises(ConfigError, match="gateway URL"):
        verify_access(outcomes(), "not a url")


def test_refuses_plain_http_to_remote_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TYK_ALLOW_INSECURE_HTTP", raising=False)
    with pytest.raises(ConfigError, match="in clear"):
        verify_access(outcomes(), "http://gateway.example.com", transport=httpx.MockTransport(Gateway()))
    result = verify_access(
        outcomes(), "http://gateway.example.com", transport=httpx.MockTransport(Gateway()), allow_insecure_http=True
    )
    assert result["verify_status"].notna().sum() == 4


def test_sampling_is_deterministic_and_bounded() -> None:
    frame = outcomes(["created"] * 6)
    first = run(frame, Gateway(), sample=3, seed=7)
    again = run(frame, Gateway(), sample=3, seed=7)
    assert first["verify_status"].notna().sum() == 3
    assert first["verify_status"].notna().tolist() == again["verify_status"].notna().tolist()
    assert run(frame, Gateway(), sample=0.5)["verify_status"].notna().sum() == 3
    assert run(frame, Gateway(), sample=100)["verify_status"].notna().sum() == 6


def test_429_is_retried_then_recorded() -> None:
    gateway = Gateway(limited=2, retry_after="0")
    result = run(outcomes(["created"] + ["pending"] * 5), gateway, retries_429=3)
    assert result.loc[0, "verify_status"] == 200
    assert len(gateway.seen) == 3
    gateway = Gateway(limited=10, retry_after="0")
    result = run(outcomes(["created"] + ["pending"] * 5), gateway, retries_429=2)
    assert result.loc[0, "verify_status"] == 429
    assert "rate limited" in result.loc[0, "verify_error"]
    assert len(gateway.seen) == 3


def test_a_key_waiting_out_a_gateway_429_leaves_its_slot_to_the_others() -> None:
    """A 429 is that key's plan limit: the other keys are called meanwhile, the key itself after Retry-After."""
    gateway = Gateway(limited=1, retry_after="0.3")
    result = run(outcomes(["created", "created"] + ["pending"] * 4), gateway, concurrency=1)
    assert result.loc[[0, 1], "verify_status"].tolist() == [200, 200]
    first, _, again = gateway.starts
    keys = [headers.get("authorization") for _, headers in gateway.seen]
    # key 1 refused, then key 2, then key 1 again: the refused key did not hold the only slot while it waited
    # (an order, not a duration, so a loaded machine cannot fail it)
    assert keys[0] == keys[2] != keys[1], keys
    assert again - first >= 0.29, gateway.starts  # Retry-After 0.3 s, less a timer tick


def test_concurrency_cap_and_rate() -> None:
    frame = outcomes(["created"] * 6)
    gateway = Gateway(delay=0.05)
    run(frame, gateway, concurrency=2)
    assert gateway.peak == 2
    # six calls at 50/s cannot all start within less than five intervals of 20 ms, however busy the machine
    started = time.monotonic()
    run(frame, Gateway(), rate_per_second=50)
    assert time.monotonic() - started >= 5 * 0.02


def test_rate_limiter_spaces_starts() -> None:
    async def starts() -> list[float]:
        limiter = RateLimiter(50)
        times: list[float] = []

        async def one() -> None:
            await limiter.wait()
            times.append(time.monotonic())

        await asyncio.gather(*(one() for _ in range(6)))
        return sorted(times)

    times = asyncio.run(starts())
    # sleeps never end early, and the first start does not sleep: each gap to it is at least i intervals
    assert all(t - times[0] >= i * 0.02 - 0.002 for i, t in enumerate(times))


def test_connection_errors_are_recorded_without_the_key() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    frame = outcomes(["created"] * 6)
    frame["key_id"] = secret_series([*KEYS[:5], "bad\nkey-value-1234"])  # not a legal header value
    result = verify_access(frame, "http://127.0.0.1:9/gw", transport=httpx.MockTransport(refuse))
    assert result["verify_status"].isna().all()
    assert result["verify_error"].str.contains("ConnectError").all()
    for text in result["verify_error"]:
        assert all(k not in text for k in [*KEYS, "bad\nkey-value-1234"])
    rendered = result.to_string() + repr(result) + result.to_html()
    assert all(k not in rendered for k in KEYS)
    assert mask(KEYS[0]) in rendered


def test_works_inside_a_running_event_loop() -> None:
    async def in_notebook() -> pd.DataFrame:
        return run(outcomes(), Gateway())  # sync call from inside a loop, as in a Jupyter cell

    result = asyncio.run(in_notebook())
    assert result["verify_status"].notna().sum() == 4


def test_progress_and_summary() -> None:
    seen: list[tuple[int, int]] = []
    result = run(outcomes(), Gateway(), progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    summary = verification_summary(result)
    assert dict(zip(summary["verify_status"], summary["keys"], strict=True)) == {"200": 3, "401": 1}
    assert summary["meaning"].str.len().gt(0).all()


def test_against_the_sandbox_gateway(sandbox: object) -> None:
    """Seeded credentials open their APIs; a key on a product it lacks gets 403; an unknown key 401."""
    from tyk_migrate.config import Settings
    from tyk_migrate.snapshot import fetch_snapshot

    snap = fetch_snapshot(Settings(portal_url=sandbox.portal_url, token=sandbox.token))  # type: ignore[attr-defined]
    creds = snap.credentials.reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "key_fingerprint": creds["key_fingerprint"],
            "product_ids": creds["product_ids"],
            "status": "skipped",
        }
    )
    frame.insert(0, "key_id", creds["key_id"])
    all_products = set(snap.products["product_id"])
    lacking = sorted(all_products - set(creds.loc[0, "product_ids"]))
    if not lacking:
        pytest.skip("seed changed: first credential holds every product")
    extra = pd.DataFrame(
        {
            "key_id": secret_series([creds.loc[0, "key_id"], "never-migrated-key-0001"]),
            "key_fingerprint": ["x", "y"],
            "product_ids": [[lacking[0]], list(creds.loc[0, "product_ids"])],
            "status": ["created", "created"],
        }
    )
    frame = pd.concat([frame, extra], ignore_index=True)
    for style in ("authorization", "bearer", "x-api-key"):
        result = verify_access(frame, sandbox.gateway_url, snapshot=snap, header_style=style)  # type: ignore[attr-defined]
        statuses = [None if pd.isna(s) else int(s) for s in result["verify_status"]]
        assert statuses[: len(creds)] == [200] * len(creds), style
        assert statuses[len(creds) :] == [403, 401], (style, result["verify_error"].tolist()[len(creds) :])


def test_outcomes_from_journal_reads_an_open_intent_like_the_runner_does(tmp_path) -> None:
    from tyk_migrate.journal import Journal
    from tyk_migrate.verify import outcomes_from_journal

    plan = pd.DataFrame(
        {
            "key_fingerprint": ["fp-landed", "fp-open", "fp-theirs", "fp-no-id", "fp-blocked"],
            "action": ["skip_existing", "add_credential", "skip_existing", "skip_existing", "blocked"],
            "app_id": pd.array([4, 4, 5, 4, None], dtype="Int64"),
            "credential_id": pd.array([40, None, 50, None, None], dtype="Int64"),
        }
    )
    with Journal(tmp_path / "j") as journal:
        for fp in ("fp-landed", "fp-open", "fp-no-id", "fp-blocked"):
            journal.credential_intent(fp, app_id=4, run_id=1, attempts=2, batch=1)
        frame = outcomes_from_journal(plan, journal)
    # our write whose answer was lost, now seen by the planner: the runner adopts it as created; an intent
    # the runner cannot settle leaves the row to its planned action (skipped, blocked), as the runner does
    assert frame["status"].tolist() == ["created", "pending", "skipped", "skipped", "blocked"]
    assert frame.loc[0, ["app_id", "credential_id", "attempts"]].tolist() == [4, 40, 2]
