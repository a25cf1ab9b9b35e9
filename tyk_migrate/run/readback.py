"""When a created credential is read back with a GET: only where the read buys something.

The read-back exists to catch a portal that did not keep what was asked (e.g. one that issued its own key).
The POST's 201 answer already carries the credential (``KeyID``, ``PlanID``, ``ProductIDs``) and is compared
first (``credentials.compare_credential``); a GET adds something only when that answer cannot settle it.
In mode ``auto`` a posted credential is read back when:

* its answer lacks one of those fields (nothing to compare);
* the portal's answers are not trusted (``trust_answer=False``), or not known to be (``None``: until
  ``first`` read-backs of this run matched their answers);
* it is one of the run's first ``first`` credentials (cheap insurance, whatever the trust);
* it falls in the random sample (``sample``, seeded per run, so a rerun of the same run draws the same).

A read-back that finds a difference the answer did not show switches the policy to ``all`` for the rest of
the run (the row itself fails as ever). ``all`` reads back every posted credential (the behaviour before
this module); ``none`` never does. An answer that already differs fails the row without a read-back, in every
mode. ``verify`` and ``reconcile`` still read every credential afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

READ_BACK_MODES = ("auto", "all", "none")
DEFAULT_FIRST = 20
DEFAULT_SAMPLE = 0.02
#: what a 201 answer must carry to be compared instead of read back
ANSWER_FIELDS = ("KeyID", "PlanID", "ProductIDs")


def answer_complete(answer: Any) -> bool:
    """Whether a create's answer carries every field the comparison needs."""
    return isinstance(answer, Mapping) and all(answer.get(f) not in (None, "") for f in ANSWER_FIELDS)


class ReadBackPolicy:
    """Decides, credential by credential, whether to read it back; counts what it decided."""

    def __init__(
        self,
        mode: str = "auto",
        *,
        first: int = DEFAULT_FIRST,
        sample: float = DEFAULT_SAMPLE,
        trust_answer: bool | None = None,
        seed: int | None = None,
    ) -> None:
        if mode not in READ_BACK_MODES:
            raise ValueError(f"read_back must be one of {', '.join(READ_BACK_MODES)}, not {mode!r}")
        if first < 0 or not 0.0 <= sample <= 1.0:
            raise ValueError("read-back first must be >= 0 and sample between 0 and 1")
        self.mode, self.first, self.sample, self.trust_answer = mode, int(first), float(sample), trust_answer
        self.seed = seed
        self._rng = random.Random(seed)
        self.posted = 0  #: posted credentials asked about
        self.read = 0  #: of those, read back
        self.matched = 0  #: read-backs that agreed with the request
        self.switched = False  #: a read-back found a mismatch: every credential is read back since

    @classmethod
    def of(cls, mode: str | ReadBackPolicy, *, seed: int | None = None) -> ReadBackPolicy:
        """A given policy as is (an unseeded one takes the run's seed), else a fresh one of that mode."""
        if not isinstance(mode, ReadBackPolicy):
            return cls(mode, seed=seed)
        if mode.seed is None and seed is not None:
            mode.seed = seed
            mode._rng.seed(seed)
        return mode

    @classmethod
    def for_portal(cls, mode: str, trust_answer: bool | None) -> str | ReadBackPolicy:
        """The read-back a run uses: ``mode``, told whether this portal's create answers can be trusted (a
        preflight's ``answer_matches_read_back``) when ``auto`` and that is known."""
        if mode != "auto" or trust_answer is None:
            return mode
        return cls(mode, trust_answer=trust_answer)

    def wants(self, answer: Any) -> bool:
        """Read back this posted credential (whose answer matched the request as far as it shows)?"""
        self.posted += 1
        # the draw happens for every credential so that the sample does not depend on the other reasons
        sampled = self._rng.random() < self.sample
        if self.mode == "none":
            return False
        want = (
            self.mode == "all"
            or not answer_complete(answer)
            or self.trust_answer is False
            or (self.trust_answer is None and self.matched < self.first)
            or self.posted <= self.first
            or sampled
        )
        self.read += want
        return want

    def saw(self, problems: list[str]) -> None:
        """The outcome of a read-back: a difference means the answers cannot be trusted for this run."""
        if problems:
            if self.mode == "auto":
                self.mode, self.switched = "all", True
        else:
            self.matched += 1

    def counts(self) -> dict[str, Any]:
        return {"mode": self.mode, "posted": self.posted, "read_back": self.read, "switched_to_all": self.switched}
