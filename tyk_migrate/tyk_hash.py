"""Tyk's key hashing, as the gateway does it: the hash under which a key's session is stored when ``hash_keys`` is on.

Read from TykTechnologies/tyk (5.x): ``internal/crypto/hash.go`` (``HashStr``, ``hashFunction``),
``internal/crypto/token.go`` (``GenerateToken``, ``TokenHashAlgo``, ``TokenOrg``), and the session manager
(``gateway/auth_manager.go`` ``SessionDetail``, ``gateway/api.go`` ``handleAddOrUpdate``):

- A key is stored under a *token*. A key Tyk generated for the org (``TokenOrg(key) == org``: a base64 JSON
  wrapper naming the org, or 24 hex digits of the org ID in front) is its own token. Any other key (a custom
  key, the kind a migration imports) is stored under ``GenerateToken(org, key, hash_key_function)``: the
  base64 of ``{"org":"<org>","id":"<key>","h":"<function>"}`` when ``hash_key_function`` is set, else
  ``org + key`` (the legacy format); an ``org`` prefix already on the key is dropped first.
- The stored hash is ``HashStr(token)``: the hex digest of the token's bytes by the function the token names in
  its ``"h"`` field, murmur32 when it names none. So with ``hash_key_function`` unset, and for every key that
  is not a wrapper, the hash is murmur32 whatever else is configured (Tyk's docs: "murmur32 (Default)").
- Digests: murmur3 x86-32, the first half of murmur3 x64-128 (murmur64) or all of it (murmur128), seed 0,
  big-endian, as ``github.com/TykTechnologies/murmur3`` writes them; sha256. An unknown ``"h"`` falls back to
  murmur64 (older gateways fell back to murmur32).
- ``SessionDetail`` looks a raw custom key up under the wrapped token first, then under the key itself (custom
  keys created by gateways before the wrapper existed): ``lookup_hashes`` gives both, in that order.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable

from .errors import ConfigError

HASH_FUNCTIONS = ("murmur32", "murmur64", "murmur128", "sha256")
#: ``hash_key_function`` not set in tyk.conf: Tyk's original key format (org + key), hashed with murmur32.
UNSET = "unset"
HASH_SETTINGS = (*HASH_FUNCTIONS, UNSET)
#: ``{"`` in base64: the start of every token Tyk wraps as JSON.
B64_JSON_PREFIX = "ey"
MONGO_ID_LENGTH = 24
DEFAULT_ALGORITHM = "murmur64"  # GenerateToken's choice for an unknown function, HashStr's fallback


def _murmur32(data: bytes) -> str:
    import mmh3

    return f"{mmh3.hash(data, 0, signed=False):08x}"


def _murmur128(data: bytes) -> tuple[int, int]:
    import mmh3

    h1, h2 = mmh3.hash64(data, 0, x64arch=True, signed=False)
    return h1, h2


DIGESTS: dict[str, Callable[[bytes], str]] = {
    "murmur32": _murmur32,
    "murmur64": lambda data: f"{_murmur128(data)[0]:016x}",
    "murmur128": lambda data: "{:016x}{:016x}".format(*_murmur128(data)),
    "sha256": lambda data: hashlib.sha256(data).hexdigest(),
}


def hash_setting(value: str | None) -> str:
    """A ``hash_key_function`` as the gateway holds it: one of ``HASH_FUNCTIONS``, or ``""`` for unset."""
    text = (value or "").strip().lower()
    if text in ("", UNSET):
        return ""
    if text not in HASH_FUNCTIONS:
        choices = ", ".join(HASH_SETTINGS)
        raise ConfigError(f"hash function {value!r}: use one of {choices} (tyk.conf hash_key_function)")
    return text


def _wrapper(token: str) -> dict[str, object] | None:
    """The JSON object a base64-wrapped token holds, or None for any other token."""
    if not token.startswith(B64_JSON_PREFIX):
        return None
    try:
        doc = json.loads(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError):  # not base64, or base64 of something that is not JSON
        return None
    return doc if isinstance(doc, dict) else None


def token_hash_algo(token: str) -> str:
    """The hash function a token names (``TokenHashAlgo``): its wrapper's ``"h"``, else ``""``."""
    h = (_wrapper(token) or {}).get("h")
    return h if isinstance(h, str) else ""


def token_org(token: str) -> str:
    """The org a token carries (``TokenOrg``): its wrapper's ``"org"``, or 24 leading hex digits, else ``""``."""
    org = (_wrapper(token) or {}).get("org")
    if isinstance(org, str):
        return org
    head = token[:MONGO_ID_LENGTH]
    if len(token) > MONGO_ID_LENGTH and all(c in "0123456789abcdefABCDEF" for c in head):
        return head
    return ""


def generate_token(org_id: str, key_id: str, hash_function: str) -> str:
    """The token a custom key is stored under (the gateway's ``generateToken``)."""
    key_id = key_id.removeprefix(org_id)
    function = hash_setting(hash_function)
    if function:
        wrapped = f'{{"org":"{org_id}","id":"{key_id}","h":"{function}"}}'
        return base64.b64encode(wrapped.encode()).decode("ascii")
    return org_id + key_id


def hash_str(token: str, algorithm: str = "") -> str:
    """``HashStr``: the hex digest of ``token`` by ``algorithm``, else by the function the token names."""
    algo = algorithm or token_hash_algo(token) or "murmur32"
    return DIGESTS.get(algo, DIGESTS[DEFAULT_ALGORITHM])(token.encode())


def storage_hash(key: str, org_id: str, hash_function: str) -> str:
    """The hash a gateway with ``hash_key_function`` set so stores ``key`` under, when it created it for ``org_id``."""
    return lookup_hashes(key, org_id, hash_function)[0]


def lookup_hashes(key: str, org_id: str, hash_function: str) -> list[str]:
    """The hashes the gateway would look ``key`` up under (``SessionDetail``), first match wins."""
    if token_org(key) == org_id:  # a key Tyk generated for this org: its own token
        return [hash_str(key)]
    wrapped, bare = hash_str(generate_token(org_id, key, hash_function)), hash_str(key)
    return [wrapped] if wrapped == bare else [wrapped, bare]
