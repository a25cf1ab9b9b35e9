"""Fault specs (``--faults "429=5%,500=3%,lost=2%,cap=32,jitter=20"``) and their deterministic draws.

A spec is comma-separated ``name=value`` items:

=================  ==========================================================================
``429=R``          answer 429 with ``Retry-After`` (seconds, see ``retry-after``) at rate R
``429-no-retry=R`` answer 429 without ``Retry-After``
``500=R`` ...      answer 500 / 502 / 503 (502 and 503 with an HTML body, as a proxy would)
``lost=R``         apply the request, then answer 504 (the write committed, the answer is lost)
``lost-drop=R``    apply the request, then drop the connection without an answer
``drop=R``         drop the connection before applying anything
``cap=N``          more than N portal requests in flight: answer 429 with ``Retry-After: 1``
``jitter=MS``      add a uniform random 0..MS milliseconds to each portal request's latency
``latency=MS``     fixed latency (same as ``--latency-ms``; the spec wins when both are given)
``retry-after=S``  the ``Retry-After`` value of the ``429`` fault (default 1)
=================  ==========================================================================

Rates are ``5%`` or ``0.05``; their sum must not exceed 100%. Numbers are finite and bounded (``LIMITS``: a
delay of more than ten minutes, or a ``NaN`` one, only hangs the client; an unbounded one overflows). Draws
come from ``random.Random(seed)`` in the order requests arrive, so a sequential client sees the same faults
on every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ..errors import ConfigError

RATE_KINDS = ("429", "429-no-retry", "500", "502", "503", "lost", "lost-drop", "drop")
NUMBER_KINDS = ("cap", "jitter", "latency", "retry-after")
#: the longest delay a sandbox adds to an answer (latency, jitter, listing lag), in milliseconds
MAX_DELAY_MS = 600_000.0
#: the largest value of each number kind (also ``latency_ms``)
LIMITS = {"cap": 1_000_000.0, "jitter": MAX_DELAY_MS, "latency": MAX_DELAY_MS, "retry-after": 86_400.0}


@dataclass(frozen=True)
class FaultSpec:
    rates: dict[str, float] = field(default_factory=dict)
    cap: int | None = None
    jitter_ms: float = 0.0
    latency_ms: float | None = None
    retry_after: int = 1
    text: str = ""

    @property
    def active(self) -> bool:
        return bool(self.rates) or self.cap is not None or self.jitter_ms > 0 or bool(self.latency_ms)


def parse_rate(name: str, value: str, where: str = "faults") -> float:
    """``5%`` or ``0.05`` -> 0.05; anything else, or outside 0..100%, is a ``ConfigError`` naming ``where``."""
    value = value.strip()
    try:
        rate = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise ConfigError(f"{where}: {name}={shown_value(value)} is not a rate like 5% or 0.05") from None
    if not 0 <= rate <= 1:
        raise ConfigError(f"{where}: {name}={shown_value(value)} must be between 0% and 100%")
    return rate


def _number(name: str, value: str) -> float:
    try:
        number = float(value.strip().removesuffix("ms"))
    except ValueError:
        raise ConfigError(f"faults: {name}={shown_value(value)} is not a number") from None
    if number < 0:
        raise ConfigError(f"faults: {name}={shown_value(value)} must not be negative")
    if not number <= LIMITS[name]:  # also NaN and infinity
        raise ConfigError(f"faults: {name}={shown_value(value)} must be a finite number of at most {LIMITS[name]:,.0f}")
    return number


def check_latency(latency_ms: float, where: str = "latency_ms") -> float:
    """A fixed latency in milliseconds: finite, 0 to ``MAX_DELAY_MS``; ``ConfigError`` naming ``where``."""
    if isinstance(latency_ms, bool) or not isinstance(latency_ms, int | float):
        raise ConfigError(f"{where} must be a number")
    if latency_ms < 0:
        raise ConfigError(f"{where} must not be negative")
    if not latency_ms <= MAX_DELAY_MS:  # also NaN and infinity (an int compares without becoming a float)
        raise ConfigError(f"{where} must be a finite number of milliseconds, at most {MAX_DELAY_MS:,.0f}")
    return float(latency_ms)


def shown_value(value: str) -> str:
    """A spec or knob value as an error shows it: a long one is cut to keep the line readable."""
    return repr(value) if len(value) <= 40 else repr(value[:20]) + f"… ({len(value)} characters)"


def parse_faults(spec: str | None) -> FaultSpec:
    """Parse a ``--faults`` string; raises ``ConfigError`` naming the bad item."""
    text = (spec or "").strip()
    rates: dict[str, float] = {}
    numbers: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep:
            raise ConfigError(f"faults: {item!r} needs a value, e.g. {name}=5%")
        if name in RATE_KINDS:
            rates[name] = parse_rate(name, value)
        elif name in NUMBER_KINDS:
            numbers[name] = _number(name, value)
        else:
            known = ", ".join((*RATE_KINDS, *NUMBER_KINDS))
            raise ConfigError(f"faults: unknown fault {name!r}; known: {known}")
    if sum(rates.values()) > 1 + 1e-9:
        raise ConfigError(f"faults: rates add up to {sum(rates.values()):.0%}, more than 100%")
    cap = numbers.get("cap")
    if cap is not None and (cap < 1 or cap != int(cap)):
        raise ConfigError("faults: cap must be a whole number of requests, at least 1")
    return FaultSpec(
        rates={k: v for k, v in rates.items() if v > 0},
        cap=None if cap is None else int(cap),
        jitter_ms=numbers.get("jitter", 0.0),
        latency_ms=numbers.get("latency"),
        retry_after=int(numbers.get("retry-after", 1)),
        text=text,
    )


class FaultInjector:
    """Decides, per portal request, the added delay and which fault (if any) it gets."""

    def __init__(self, spec: str = "", latency_ms: float = 0.0, random_seed: int = 0) -> None:
        self.random_seed = random_seed
        self.configure(spec, latency_ms)

    def configure(self, spec: str, latency_ms: float | None = None) -> None:
        """Switch faults while running; resets the random sequence so runs stay reproducible."""
        parsed = parse_faults(spec)
        if latency_ms is not None:
            self.base_latency_ms = check_latency(latency_ms)
        elif not hasattr(self, "base_latency_ms"):
            self.base_latency_ms = 0.0
        self.spec = parsed
        self._rng = random.Random(self.random_seed)
        self._jitter_rng = random.Random(self.random_seed + 1)

    @property
    def latency_ms(self) -> float:
        return self.spec.latency_ms if self.spec.latency_ms is not None else self.base_latency_ms

    def draw(self) -> tuple[str | None, float]:
        """(fault kind or None, delay in seconds) for the next request."""
        spec = self.spec
        delay = self.latency_ms
        if spec.jitter_ms:
            delay += self._jitter_rng.uniform(0, spec.jitter_ms)
        kind = None
        if spec.rates:
            roll = self._rng.random()
            for name in RATE_KINDS:
                rate = spec.rates.get(name, 0.0)
                if roll < rate:
                    kind = name
                    break
                roll -= rate
        return kind, delay / 1000.0

    def describe(self) -> dict[str, object]:
        return {"faults": self.spec.text, "latency_ms": self.latency_ms, "random_seed": self.random_seed}
