"""When the runner reads a created credential back (run/readback.py): the policy alone, then the GETs the
sandbox counts per ``--read-back`` mode, and a mismatch found by the sample switching the run to ``all``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from run_helpers import make_plan

from tyk_migrate.config import Settings
from tyk_migrate.portal import AsyncPortalClient
from tyk_migrate.run import apply_plan
from tyk_migrate.run.readback import DEFAULT_FIRST, DEFAULT_SAMPLE, READ_BACK_MODES, ReadBackPolicy

FULL = {"KeyID": "k", "PlanID": "7", "ProductIDs": [1]}
GET_ROUTE = "GET /portal-api/apps/{id}/custom_credentials/{id}"


def gets(state: dict[str, Any]) -> int:
    """Credential read-backs the sandbox answered."""
    return sum(n for route, n in state["requests"]["by_route"].items() if route.startswith(GET_ROUTE))


def decide(policy: ReadBackPolicy, n: int, answer: Any = FULL, matched: bool = True) -> list[bool]:
    out = []
    for _ in range(n):
        want = policy.wants(answer)
        if want:
            policy.saw([] if matched else ["plan 8 instead of 7"])
        out.append(want)
    return out


def test_auto_reads_back_the_first_then_only_a_seeded_sample() -> None:
    wants = decide(ReadBackPolicy("auto", first=5, sample=0.1, seed=3), 2000)
    assert all(wants[:5])
    later = sum(wants[5:])
    assert 150 <= later <= 250  # about 10% of 1,995
    assert wants == decide(ReadBackPolicy("auto", first=5, sample=0.1, seed=3), 2000)  # seeded per run
    assert wants != decide(ReadBackPolicy("auto", first=5, sample=0.1, seed=4), 2000)


def test_auto_reads_back_an_incomplete_answer_and_an_untrusted_portal() -> None:
    policy = ReadBackPolicy("auto", first=0, sample=0.0, trust_answer=True)
    assert not any(decide(policy, 50))
    assert all(decide(policy, 5, answer={"KeyID": "k", "PlanID": "7"}))  # no ProductIDs: nothing to compare
    assert all(decide(policy, 5, answer={**FULL, "KeyID": ""}))
    assert all(decide(ReadBackPolicy("auto", first=0, sample=0.0, trust_answer=False), 50))


def test_unknown_trust_reads_back_until_enough_read_backs_matched() -> None:
    policy = ReadBackPolicy("auto", first=3, sample=0.0, trust_answer=None)
    # read-backs that fail (no outcome) do not count towards trust: still reading after the first three
    assert all(policy.wants(FULL) for _ in range(6))
    for _ in range(3):
        policy.saw([])
    assert not policy.wants(FULL)


def test_a_mismatch_switches_auto_to_all() -> None:
    policy = ReadBackPolicy("auto", first=0, sample=0.5, trust_answer=True, seed=1)
    first = decide(policy, 200)
    assert policy.mode == "auto" and 0 < sum(first) < 200
    for _ in range(1000):  # the next sampled read-back finds a difference
        decide(policy, 1, matched=False)
        if policy.mode != "auto":
            break
    assert policy.switched and policy.mode == "all"
    assert all(decide(policy, 100))


def test_modes_all_and_none_and_bad_values() -> None:
    assert all(decide(ReadBackPolicy("all", first=0, sample=0.0, trust_answer=True), 30))
    assert not any(decide(ReadBackPolicy("none"), 30, answer={}))
    with pytest.raises(ValueError, match="read_back must be one of"):
        ReadBackPolicy("some")
    with pytest.raises(ValueError):
        ReadBackPolicy("auto", sample=2)


def test_the_cli_offers_the_policy_modes_and_defaults() -> None:
    from tyk_migrate.cli import cli

    help_text = " ".join(CliRunner().invoke(cli, ["apply", "--help"]).output.split())
    assert "[auto|all|none]" in help_text and "/".join(READ_BACK_MODES) == "auto/all/none"
    assert f"the first {DEFAULT_FIRST}" in help_text and f"a {DEFAULT_SAMPLE:.0%} sample" in help_text


# -- against the sandbox ------------------------------------------------------------------------------


def settings_for(sb: Any) -> Settings:
    return Settings(portal_url=sb.portal_url, token=sb.token)


@pytest.mark.parametrize(
    ("mode", "low", "high"),
    [
        ("all", 120, 120),
        ("none", 0, 0),
        # the first 20, plus those posted while the first 20 were still being read (up to the 8 in flight
        # the run starts at, and what the controller adds), plus a 2% sample of the rest
        ("auto", 20, 60),
    ],
)
def test_gets_counted_by_the_sandbox_per_mode(
    make_sandbox: Any, tmp_path: Path, mode: str, low: int, high: int
) -> None:
    sb = make_sandbox()
    plan = make_plan(120)
    apply_plan(plan, settings_for(sb), tmp_path / "j", read_back=mode)
    assert set(plan["status"]) == {"created"}
    assert low <= gets(sb.snapshot()) <= high


def test_a_mismatch_found_by_the_sample_reads_back_every_later_credential(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A portal whose 201 answers echo the request but whose stored credentials differ after a while: the
    sample finds one, that row fails as ever, and every credential posted after it is read back."""
    real = AsyncPortalClient.get_credential
    seen: list[int] = []

    async def drifting(self: AsyncPortalClient, app_id: int, cred_id: int) -> Any:
        answer = await real(self, app_id, cred_id)
        seen.append(cred_id)
        if len(seen) > 5:  # the portal keeps the wrong plan from now on
            answer = {**answer, "PlanID": "999"}
        return answer

    monkeypatch.setattr(AsyncPortalClient, "get_credential", drifting)
    policy = Recording("auto", first=5, sample=0.05, trust_answer=True, seed=11)
    plan = make_plan(300)
    apply_plan(plan, settings_for(sandbox), tmp_path / "j", read_back=policy, concurrency=1)
    assert policy.switched and policy.mode == "all" and len(policy.decisions) == 300
    switch = policy.switched_at  # the decision whose read-back found the difference
    assert switch is not None and 5 < switch < 250
    assert all(policy.decisions[:5]) and 0 < sum(policy.decisions[5:switch]) < switch - 5  # first 5, a sample
    assert all(policy.decisions[switch:])  # from then on every credential is read back
    failed = plan["status"] == "failed"
    assert int(failed.sum()) == sum(policy.decisions[5:])  # every read after the fifth differs: those fail
    assert plan.loc[failed, "error"].str.contains("read back differs").all()
    assert len(seen) == policy.read == gets(sandbox.snapshot())


class Recording(ReadBackPolicy):
    """The policy, remembering each decision in order and when a read-back first differed."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.decisions: list[bool] = []
        self.switched_at: int | None = None

    def wants(self, answer: Any) -> bool:
        want = super().wants(answer)
        self.decisions.append(want)
        return want

    def saw(self, problems: list[str]) -> None:
        if problems and self.switched_at is None:
            self.switched_at = len(self.decisions)
        super().saw(problems)


def test_a_preflight_tells_auto_whether_to_trust_answers() -> None:
    assert ReadBackPolicy.for_portal("auto", None) == "auto"  # unknown: the run finds out for itself
    assert ReadBackPolicy.for_portal("all", False) == "all" and ReadBackPolicy.for_portal("none", True) == "none"
    distrusted = ReadBackPolicy.for_portal("auto", False)
    assert isinstance(distrusted, ReadBackPolicy) and distrusted.trust_answer is False
    run = ReadBackPolicy.of(distrusted, seed=7)  # the run's seed reaches a policy made without one
    assert run is distrusted and run.seed == 7
    assert all(decide(run, 100))  # a portal whose answers differ from its read-backs: every credential is read


def test_apply_reads_every_credential_back_when_the_preflight_distrusts_answers(
    make_sandbox: Any, tmp_path: Path
) -> None:
    sb = make_sandbox()
    plan = make_plan(60)
    policy = ReadBackPolicy.for_portal("auto", False)
    apply_plan(plan, settings_for(sb), tmp_path / "j", read_back=policy)
    assert set(plan["status"]) == {"created"} and gets(sb.snapshot()) == 60


def test_while_trust_is_unknown_no_credential_goes_unread_behind_read_backs_in_flight(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A portal whose stored credentials differ from its 201 answers, and whose GETs are slow: while the first
    read-backs are in flight, every other posted credential is read back too, so none is left ``created``
    with the wrong plan (counting read-backs in flight towards trust let 99 of 120 through: break18b F1)."""
    real = AsyncPortalClient.get_credential

    async def lying(self: AsyncPortalClient, app_id: int, cred_id: int) -> Any:
        await asyncio.sleep(0.3)
        return {**(await real(self, app_id, cred_id)), "PlanID": "999"}

    monkeypatch.setattr(AsyncPortalClient, "get_credential", lying)
    policy = Recording("auto")
    plan = make_plan(120)
    apply_plan(plan, settings_for(sandbox), tmp_path / "j", read_back=policy, concurrency=64)
    assert all(policy.decisions)
    assert "created" not in set(plan["status"])
