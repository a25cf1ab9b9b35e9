"""Pure helpers behind the migration console: scope filters, previews, tables and text, no widgets.

Kept apart from ``ui.py`` so they can be tested (and reused by a text-only run) without ipywidgets, and
so every piece of HTML the console shows is built in one place, escaped, from masked values only.
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .scrub import KeyScrubber, scrub_keys
from .secrets import is_key, mask
from .vocabulary import (
    ACTIONS,
    ADD_CREDENTIAL,
    BLOCKED,
    CREATE_APP,
    CREATED,
    DRY_RUN,
    FAILED,
    PENDING,
    RESULT_STATUSES,
    SKIP_EXISTING,
    SKIPPED,
    WRITE_ACTIONS,
)

ACTION_LABELS = {
    CREATE_APP: "create app + credential",
    ADD_CREDENTIAL: "add credential",
    SKIP_EXISTING: "skip (already in portal)",
    BLOCKED: "blocked (needs a fix)",
}
# JupyterLab theme variables (light and dark themes), with plain fallbacks for other frontends
COLOURS = {
    CREATED: "var(--jp-success-color1, #388e3c)",
    SKIPPED: "var(--jp-ui-font-color2, #757575)",
    FAILED: "var(--jp-error-color1, #d32f2f)",
    BLOCKED: "var(--jp-warn-color1, #f57c00)",
    DRY_RUN: "var(--jp-info-color1, #0097a7)",
    PENDING: "var(--jp-ui-font-color2, #757575)",
}
FAILURE_COLUMNS = ("key", "owner", "plan", "error")


# -- scope ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facet:
    """One filter: the rows' values for it (a list per row for multi-valued columns) and its labels."""

    name: str
    title: str
    values: pd.Series  # one hashable value per row, or a list of them (products)
    labels: Mapping[Any, str]  # value -> display name (without the count)
    multi: bool = False

    def counts(self) -> pd.Series:
        values = self.values.explode() if self.multi else self.values
        return values.dropna().value_counts()

    def options(self) -> list[tuple[str, Any]]:
        """``(label with count, value)`` pairs, most rows first, then by label."""
        counts = self.counts()
        items = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(self.labels.get(kv[0], kv[0]))))
        return [(f"{self.labels.get(v, v)} ({int(n):,})", v) for v, n in items]

    def mask(self, selected: Iterable[Any]) -> pd.Series:
        """True where the row matches any selected value (all True when nothing is selected)."""
        chosen = set(selected)
        if not chosen:
            return pd.Series(True, index=self.values.index)
        if self.multi:
            hit = self.values.explode().isin(chosen)
            return hit.groupby(level=0).any().reindex(self.values.index, fill_value=False)
        return self.values.isin(chosen)


def _names(frame: pd.DataFrame | None, key: str, name: str) -> dict[str, str]:
    if frame is None or key not in frame or name not in frame:
        return {}
    return {str(k): str(v) for k, v in zip(frame[key], frame[name], strict=True) if isinstance(k, str) and k}


def _labelled(values: Iterable[Any], names: Mapping[str, str]) -> dict[Any, str]:
    """``Premium · fecd2177…``: the portal name first, then the start of the legacy ID it matched."""
    out: dict[Any, str] = {}
    for value in values:
        text = str(value)
        named = names.get(text)
        short = text if len(text) <= 12 else text[:8] + "…"
        out[value] = f"{named} · {short}" if named and named != text else text
    return out


def _domain(email: Any) -> str | None:
    return email.rsplit("@", 1)[1] if isinstance(email, str) and "@" in email else None


def facets(plan: pd.DataFrame, snapshot: Any = None) -> list[Facet]:
    """The console's filters: owner, plan, product, organisation and client impact (whatever the frame allows).

    Plans and products are the legacy values the export carries, named after the portal object they
    match when a ``PortalSnapshot`` is given. The organisation is the plan's ``org`` column when present,
    else the portal user's organisation (snapshot), else the owner's email domain.
    """
    out: list[Facet] = []
    if "owner_email" in plan:
        owners = plan["owner_email"].astype(object)
        out.append(Facet("owner", "Owner", owners, {}))
    if "plan" in plan:
        plans = plan["plan"].astype(object).map(lambda v: v if isinstance(v, str) else None)
        names = {
            **_names(getattr(snapshot, "plans", None), "reference_id", "name"),
            **_names(getattr(snapshot, "plans", None), "name", "name"),
        }
        out.append(Facet("plan", "Plan", plans, _labelled(plans.dropna().unique(), names)))
    if "products" in plan:
        products = plan["products"].map(lambda v: [str(p) for p in v] if isinstance(v, list | tuple) else [])
        names = _names(getattr(snapshot, "products", None), "reference_id", "name")
        distinct = {p for ps in products for p in ps}
        out.append(Facet("product", "Product", products, _labelled(sorted(distinct), names), multi=True))
    users = getattr(snapshot, "users", None)
    if "org" in plan:
        orgs = plan["org"].astype(object).map(lambda v: str(v) if v is not None and v == v and str(v) else None)
        out.append(Facet("org", "Organisation", orgs, {}))
    elif users is not None and "user_id" in plan and "org_id" in users:
        org_of = dict(zip(users["user_id"].astype(int), users["org_id"].astype(int), strict=True))
        orgs = plan["user_id"].map(lambda u: org_of.get(int(u)) if pd.notna(u) else None).astype(object)
        pairs = pd.DataFrame({"org": orgs, "domain": plan["owner_email"].map(_domain)}).dropna()
        domains: dict[Any, str] = {
            org: str(group.mode().iat[0]) for org, group in pairs.groupby("org")["domain"] if len(group)
        }
        labels = {o: f"org {o} · {domains.get(o, '')}".rstrip(" ·") for o in orgs.dropna().unique()}
        out.append(Facet("org", "Organisation", orgs, labels))
    elif "owner_email" in plan:
        out.append(Facet("org", "Organisation (email domain)", plan["owner_email"].map(_domain).astype(object), {}))
    if "client_impact" in plan:
        out.append(impact_facet(plan["client_impact"]))
    return out


#: The client-impact filter's two values besides the kinds themselves.
ANY_IMPACT, NO_IMPACT = "any", "none"


def impact_facet(cells: pd.Series) -> Facet:
    """ "Client impact": any impact, no impact, or a given kind (``plan.IMPACT_KINDS``) of the plan's rows."""
    from .plan.impact import split_kinds

    per_cell = {c: [ANY_IMPACT, *split_kinds(c)] if c else [NO_IMPACT] for c in cells.fillna("").astype(str).unique()}
    values = cells.fillna("").astype(str).map(per_cell)
    labels = {ANY_IMPACT: "any impact", NO_IMPACT: "no impact"}
    return Facet("impact", "Client impact", values, labels, multi=True)


def scope_mask(all_facets: Sequence[Facet], selected: Mapping[str, Iterable[Any]], index: pd.Index) -> pd.Series:
    """Rows matching every filter (OR within one filter, AND across filters)."""
    keep = pd.Series(True, index=index)
    for facet in all_facets:
        chosen = list(selected.get(facet.name, ()))
        if chosen:
            keep &= facet.mask(chosen).to_numpy(bool)
    return keep


# -- previews and tables -------------------------------------------------------------------------------


def action_preview(plan: pd.DataFrame, keep: pd.Series, journal_done: set[str] | frozenset[str]) -> pd.DataFrame:
    """Rows each action touches in scope, and how many of those the journal already shows as created."""
    scoped = plan.loc[keep.to_numpy(bool)]
    actions = scoped["action"].astype(object)
    done = (
        scoped["key_fingerprint"].isin(journal_done) & actions.isin(WRITE_ACTIONS)
        if journal_done
        else pd.Series(False, index=scoped.index)
    )
    rows: list[dict[str, Any]] = []
    for action in ACTIONS:
        mine = actions == action
        n, already = int(mine.sum()), int((mine & done).sum())
        rows.append({"action": ACTION_LABELS[action], "rows": n, "already done": already, "to send": 0})
        if action in WRITE_ACTIONS:
            rows[-1]["to send"] = n - already
    rows.append(
        {
            "action": "total in scope",
            **{col: sum(int(r[col]) for r in rows) for col in ("rows", "already done", "to send")},
        }
    )
    return pd.DataFrame(rows, columns=["action", "rows", "already done", "to send"])


def scope_statuses(plan: pd.DataFrame, keep: pd.Series) -> dict[str, int]:
    """Rows per ``status`` among the rows in scope (all ``pending`` while the frame has no status yet)."""
    n = int(keep.sum())
    if "status" not in plan:
        return {PENDING: n} if n else {}
    statuses = plan["status"].astype(object).loc[keep.to_numpy(bool)].fillna(PENDING)
    return {str(k): int(v) for k, v in statuses.value_counts().items()}


def status_by_action(plan: pd.DataFrame, keep: pd.Series) -> pd.DataFrame:
    """Outcome per planned action for the rows in scope: one row per action, one column per status.

    What an analyst reads after a run: did every *create* land, which *blocked* rows wait for a fix.
    ``dry run`` only appears as a column when some row has that status.
    """
    # a Counter over two lists, not pd.crosstab: this runs once a second during a run, and crosstab's
    # index building cost ten times as much on a few thousand rows
    scoped = plan.loc[keep.to_numpy(bool)]
    actions = scoped["action"].tolist()
    statuses = scoped["status"].tolist() if "status" in scoped else [PENDING] * len(actions)
    table = Counter((a, s if isinstance(s, str) else PENDING) for a, s in zip(actions, statuses, strict=True))
    seen = {s for _, s in table}
    columns = [s for s in RESULT_STATUSES if s != DRY_RUN or s in seen]
    labels = [c.replace("_", " ") for c in columns]
    planned = {a for a, _ in table}
    counts = [[table[action, c] for c in columns] for action in ACTIONS if action in planned]
    if not counts:
        return pd.DataFrame(columns=["action", *labels])
    names = [ACTION_LABELS[action] for action in ACTIONS if action in planned]
    rows = [[name, *row] for name, row in zip(names, counts, strict=True)]
    rows.append(["total in scope", *(sum(column) for column in zip(*counts, strict=True))])
    return pd.DataFrame(rows, columns=["action", *labels])


def _cell(value: Any) -> str:
    return html.escape("" if value is None or (isinstance(value, float) and value != value) else str(value))


def html_table(frame: pd.DataFrame, *, empty: str = "nothing to show", last_row_total: bool = False) -> str:
    """A compact, escaped HTML table in the notebook's own look (no index, no pandas CSS)."""
    if frame.empty:
        return f"<div style='color:var(--jp-ui-font-color2,#757575);padding:4px 0'>{html.escape(empty)}</div>"
    th = "padding:2px 10px;text-align:left;border-bottom:1px solid var(--jp-border-color1,#bdbdbd)"
    td = "padding:2px 10px;text-align:left;vertical-align:top;border-bottom:1px solid var(--jp-border-color3,#eee)"
    head = "".join(f"<th style='{th}'>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for i, row in enumerate(frame.itertuples(index=False)):
        weight = "font-weight:600;" if last_row_total and i == len(frame) - 1 else ""
        cells = []
        for value in row:
            align = "text-align:right;" if isinstance(value, int | float) and not isinstance(value, bool) else ""
            shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
            cells.append(f"<td style='{td};{align}{weight}'>{_cell(shown)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        "<table style='border-collapse:collapse;font-size:var(--jp-ui-font-size1,13px)'>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


class Scrubber(KeyScrubber):
    """Replaces any raw key of a frame that appears in a text with its mask (belt and braces for errors).

    Runner and portal messages name fingerprints, but an error text could still echo a key (a portal's
    own message, an exception from a callback), escaped or cut: ``scrub.KeyScrubber`` finds those too.
    Built lazily: it costs one dict of the raw keys.
    """


def latest_failures(plan: pd.DataFrame, limit: int, scrub: Scrubber | None = None) -> pd.DataFrame:
    """The ``limit`` most recent failed rows as ``key`` (masked), ``owner``, ``plan``, ``error``."""
    if "status" not in plan or limit <= 0:
        return pd.DataFrame(columns=list(FAILURE_COLUMNS))
    failed = plan.loc[plan["status"].astype(object) == FAILED]
    if failed.empty:
        return pd.DataFrame(columns=list(FAILURE_COLUMNS))
    if "finished_at" in failed:
        order = failed["finished_at"].rank(method="first", na_option="bottom", ascending=False)
        failed = failed.loc[order.sort_values().index[:limit]]
    else:
        failed = failed.tail(limit)
    rows = []
    for key, owner, legacy_plan, error in zip(
        failed["key_id"],
        failed.get("owner_email", pd.Series("", index=failed.index)),
        failed.get("plan", pd.Series("", index=failed.index)),
        failed.get("error", pd.Series("", index=failed.index)),
        strict=True,
    ):
        text = str(error) if isinstance(error, str) else ""
        if is_key(key) and key:
            text = scrub_keys(text, [key])
        if scrub is not None:
            text = scrub(text)
        rows.append({"key": mask(key) if is_key(key) else "", "owner": owner, "plan": legacy_plan, "error": text})
    return pd.DataFrame(rows, columns=list(FAILURE_COLUMNS))


# -- numbers ---------------------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """``0.6 s``, ``42 s``, ``3 min 05 s``, ``1 h 02 min``; ``–`` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "–"
    seconds = max(0.0, seconds)
    if seconds < 10:  # a short run said "0 s elapsed" beside its requests per second
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def badge(label: str, value: Any, colour: str) -> str:
    return (
        f"<span style='display:inline-block;margin:0 14px 2px 0'>"
        f"<span style='color:{colour};font-weight:600;font-size:1.15em'>{html.escape(str(value))}</span> "
        f"<span style='color:var(--jp-ui-font-color2,#757575)'>{html.escape(label)}</span></span>"
    )


def stat(label: str, value: Any, after: str, colour: str) -> str:
    """``concurrency 2 · 0 in flight``: a label first, its value, then a grey remark."""
    return (
        f"<span style='display:inline-block;margin:0 14px 2px 0'>"
        f"<span style='color:var(--jp-ui-font-color2,#757575)'>{html.escape(label)}</span> "
        f"<span style='color:{colour};font-weight:600;font-size:1.15em'>{html.escape(str(value))}</span> "
        f"<span style='color:var(--jp-ui-font-color2,#757575)'>{html.escape(after)}</span></span>"
    )


def progress_line(p: Any, state: str | None = None) -> str:
    """One plain-text line of a ``Progress`` (headless runs, logs, ``repr``)."""
    parts = [
        state or p.state,
        f"{p.done:,}/{p.total:,} rows",
        f"created {p.created:,}",
        f"skipped {p.skipped:,}",
        f"failed {p.failed:,}",
        f"blocked {p.blocked:,}",
    ]
    if getattr(p, "dry_run", 0):
        parts.append(f"dry run {p.dry_run:,}")
    parts += [
        f"{p.requests_per_second:,.1f} req/s",
        f"concurrency {p.concurrency}",
        f"errors {p.recent_error_rate:.1%}",
        f"ETA {duration(p.eta_seconds)}",
    ]
    return " | ".join(parts)


def status_counts(plan: pd.DataFrame) -> dict[str, int]:
    if "status" not in plan:
        return {}
    return {str(k): int(v) for k, v in plan["status"].astype(object).value_counts().items()}
