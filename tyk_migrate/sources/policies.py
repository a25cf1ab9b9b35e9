"""The one rule that splits a Tyk key's policy list into the canonical ``plan`` and ``products``.

A portal credential has exactly one plan and one or more products, while a Tyk key has a flat list of
policy IDs (``apply_policies``, or a Classic Portal developer's ``keys``/``subscriptions``). Which of those
policies is a plan is only known to the portal, so the loader applies a fixed, documented rule and the
planner checks each value against the portal's plans and products:

* ``plan`` = the first policy ID;
* ``products`` = the remaining policy IDs, in order, without repeats;
* a key with a single policy: ``products`` = the API names of its ``access_rights`` (Dashboard dumps;
  a Classic dump has none, so such a key is rejected for "no products");
* a key with no policy: no plan (rejected), ``products`` = its ``access_rights`` API names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def split_policies(
    policies: Iterable[object], access_rights: Mapping[str, object] | None = None
) -> tuple[str | None, list[str]]:
    ids: list[str] = []
    for p in policies or ():
        text = str(p).strip() if p is not None else ""
        if text and text not in ids:
            ids.append(text)
    plan = ids[0] if ids else None
    products = ids[1:]
    if not products and access_rights:
        products = api_names(access_rights)
    return plan, products


def api_names(access_rights: Mapping[str, object]) -> list[str]:
    names: list[str] = []
    for api_id, right in access_rights.items():
        name = right.get("api_name") if isinstance(right, Mapping) else None
        value = str(name or (right.get("api_id") if isinstance(right, Mapping) else None) or api_id).strip()
        if value and value not in names:
            names.append(value)
    return names
