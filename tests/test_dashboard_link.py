"""``DashboardLink.hashed_miss``: when a lookup by hash finding few keys is taken for a wrong hash setting."""

from __future__ import annotations

from tyk_migrate.config import Settings
from tyk_migrate.dashboard_link import SUSPECT_MIN_KEYS, DashboardLink

ORG = "5f1a9c0e2b3d4e0001a1b2c3"
SETTINGS = Settings(dashboard_url="http://127.0.0.1:9", dashboard_token="t")


def keys(n: int) -> list[str]:
    return [f"custom-key-{i:06d}" for i in range(n)]


def test_a_wrong_hash_setting_is_suspected_from_the_share_of_custom_keys_found() -> None:
    link = DashboardLink(SETTINGS, "murmur64", ORG)
    assert "found 0 of 40 custom key(s)" in (link.hashed_miss(keys(40), [False] * 40) or "")
    assert "found 1 of 40" in (link.hashed_miss(keys(40), [True] + [False] * 39) or "")  # under 5%
    assert link.hashed_miss(keys(40), [True] * 2 + [False] * 38) is None  # 5%: keys the Dashboard lacks
    few = SUSPECT_MIN_KEYS - 1
    assert link.hashed_miss(keys(few), [False] * few) is None  # too few to tell a typo from a wrong setting
    # keys Tyk generated for the org are hashed the same whatever the setting: they neither count nor help
    generated = [ORG + f"{i:020d}" for i in range(50)]
    assert "found 0 of 5" in (link.hashed_miss([*generated, *keys(5)], [True] * 50 + [False] * 5) or "")
    assert link.hashed_miss([*keys(5), *keys(5)], [False] * 5 + [True] * 5) is None  # one key asked twice
    assert DashboardLink(SETTINGS).hashed_miss(keys(40), [False] * 40) is None  # by value: a miss is a miss
