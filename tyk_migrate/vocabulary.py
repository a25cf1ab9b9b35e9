"""The words every stage shares: plan actions, run statuses, reconciliation statuses and the run's column sets.

One home (issue 15): a stage that tests or writes one of these names imports it from here instead of typing
the string, so a renamed status cannot leave a stale spelling behind. ``tests/test_house_rules.py`` fails
when a module other than this one spells one of them (its allow-list says where a spelling is legitimate).
This module imports nothing from the package, so anything may import it (the loaders, the sandbox, pandera
models, the UI).

Meanings (docs/planning.md "Actions", docs/running.md, docs/reporting.md):

* an *action* is what the planner decides for a row (``plan["action"]``);
* a *status* is what the run did with it (``plan["status"]``); ``blocked`` is both an action and a status;
* a *reconciliation status* is what the portal holds for a legacy key afterwards (``recon_status``).
"""

from __future__ import annotations

# ----- plan actions -----
CREATE_APP = "create_app"  #: the first key of a new developer app: the app is created with it
ADD_CREDENTIAL = "add_credential"  #: a credential added to an app that exists (or that the plan creates)
SKIP_EXISTING = "skip_existing"  #: the key is in the portal already
BLOCKED = "blocked"  #: cannot migrate until its reason is fixed (also the run status of such a row)

#: What the planner decides for each row, in the order plans and reports show them.
ACTIONS: tuple[str, ...] = (CREATE_APP, ADD_CREDENTIAL, SKIP_EXISTING, BLOCKED)
#: The actions that send a write to the portal.
WRITE_ACTIONS: tuple[str, ...] = (CREATE_APP, ADD_CREDENTIAL)

# ----- run statuses -----
PENDING = "pending"  #: not yet attempted (or stopped before its turn)
CREATED = "created"  #: the run created the credential (and its app if the plan said so)
SKIPPED = "skipped"  #: nothing to write: the key was in the portal already
FAILED = "failed"  #: attempted and refused, or its outcome could not be settled
ROLLED_BACK = "rolled_back"  #: created, then removed by ``tyk-migrate rollback``
DRY_RUN = "dry_run"  #: a dry run would have written it

#: Every status a plan row can hold after a run (``schemas.Outcomes``), in the run's order.
OUTCOME_STATUSES: tuple[str, ...] = (PENDING, CREATED, SKIPPED, FAILED, BLOCKED, ROLLED_BACK, DRY_RUN)
#: The statuses a run's result shows, in the order the console and tables show them.
RESULT_STATUSES: tuple[str, ...] = (CREATED, SKIPPED, FAILED, BLOCKED, DRY_RUN, PENDING)
#: The statuses of a key the migration has put, or found, in the portal: the keys verify calls.
MIGRATED_STATUSES: tuple[str, ...] = (CREATED, SKIPPED)

# ----- reconciliation statuses -----
PRESENT = "present"
MISSING = "missing"
WRONG_OWNER = "wrong_owner"
WRONG_PLAN = "wrong_plan"
WRONG_PRODUCTS = "wrong_products"
DUPLICATED = "duplicated"

#: What the portal holds for each legacy key after a run (``reconcile``), best first.
RECON_STATUSES: tuple[str, ...] = (PRESENT, MISSING, WRONG_OWNER, WRONG_PLAN, WRONG_PRODUCTS, DUPLICATED)

# ----- the run's column sets -----
#: The plan columns a run reads (``run.Migration`` refuses a plan without them).
RUN_INPUT_COLUMNS: tuple[str, ...] = (
    "key_id",
    "key_fingerprint",
    "user_id",
    "app_name",
    "plan_id",
    "product_ids",
    "app_id",
    "action",
)
#: The outcome columns a run writes into the plan frame, in place (``schemas.Outcomes``). Not the outcome
#: log's column order, which is ``report.OUTCOME_COLUMNS``.
RUN_OUTCOME_COLUMNS: tuple[str, ...] = (
    "status",
    "app_id",
    "credential_id",
    "http_status",
    "error",
    "attempts",
    "started_at",
    "finished_at",
    "batch",
)

#: Every word above, for the house-rules scan.
WORDS: frozenset[str] = frozenset((*ACTIONS, *OUTCOME_STATUSES, *RECON_STATUSES))
#: Every set of words or columns above, for the house-rules scan (a tuple spelled out elsewhere is a second home).
WORD_SETS: dict[str, tuple[str, ...]] = {
    "ACTIONS": ACTIONS,
    "WRITE_ACTIONS": WRITE_ACTIONS,
    "OUTCOME_STATUSES": OUTCOME_STATUSES,
    "RESULT_STATUSES": RESULT_STATUSES,
    "MIGRATED_STATUSES": MIGRATED_STATUSES,
    "RECON_STATUSES": RECON_STATUSES,
    "RUN_INPUT_COLUMNS": RUN_INPUT_COLUMNS,
    "RUN_OUTCOME_COLUMNS": RUN_OUTCOME_COLUMNS,
}
