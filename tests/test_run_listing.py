"""The run's first listing of ``/apps`` (run/app_listing.py): it begins as soon as the triage finds a row that
needs a new app, goes on while the other rows are triaged, serves every app of the run, and is not sent when no
row needs an app (a rerun the journal answers)."""

from __future__ import annotations

from run_helpers import make_plan

from tyk_migrate.config import Settings
from tyk_migrate.run import apply_plan
from tyk_migrate.run.schedule import Schedule

APPS_LISTED = "GET /portal-api/apps "


def listings(state: dict) -> int:
    return sum(n for route, n in state["requests"]["by_route"].items() if route.startswith(APPS_LISTED))


def test_the_first_listing_begins_while_the_rows_are_still_triaged(sandbox, tmp_path, monkeypatch):
    triage, begun_at = Schedule._triage, []

    def watching(self, row, *args):
        if self.apps is not None and self.apps.listing._refresh is not None and not begun_at:
            begun_at.append(row.number)
        return triage(self, row, *args)

    monkeypatch.setattr(Schedule, "_triage", watching)
    plan = make_plan(60)
    apply_plan(plan, Settings(portal_url=sandbox.portal_url, token=sandbox.token), tmp_path / "j", batch_size=10)
    assert set(plan["status"]) == {"created"}
    assert begun_at and begun_at[0] <= 11  # after the first batch of ten, not after all 60 rows
    # one walk served all 20 new apps: the seed's apps, then the page that shows the list ended (pager rules)
    assert listings(sandbox.snapshot()) == 2


def test_rows_that_all_name_their_app_list_no_apps(sandbox, tmp_path):
    settings = Settings(portal_url=sandbox.portal_url, token=sandbox.token)
    first = make_plan(30)
    apply_plan(first, settings, tmp_path / "j")
    before = listings(sandbox.snapshot())
    more = make_plan(30, prefix="more")  # other keys, into the apps the first run made
    more["app_id"], more["action"] = first["app_id"], "add_credential"
    apply_plan(more, settings, tmp_path / "j2")
    assert set(more["status"]) == {"created"}
    assert listings(sandbox.snapshot()) == before
