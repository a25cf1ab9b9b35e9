"""pandera models of the frames tyk-migrate passes between its steps (DESIGN.md, "Frames").

Each model is checked at a boundary (a function's input or output) so a frame of the wrong shape fails
loudly there, not three steps later. Row-level business rules of the legacy frame (key syntax,
duplicates, emails, ...) live in ``validate.py``: they are vectorised there and turned into a rejects
report with person-readable messages and masked key values, which pandera's failure cases (which carry
raw values, and so raw keys) cannot give safely.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from .secrets import SecretKey
from .vocabulary import ACTIONS, ADD_CREDENTIAL, BLOCKED, CREATE_APP, OUTCOME_STATUSES, SKIP_EXISTING

# --- legacy ---

UTCDateTime = Annotated[pd.DatetimeTZDtype, "ns", "UTC"]


class LegacyKeys(pa.DataFrameModel):
    """The canonical legacy frame as every loader returns it (values may still be invalid)."""

    source_row: Series[int] = pa.Field(ge=1)
    source_id: Series[str] = pa.Field(nullable=True)
    key_id: Series[object] = pa.Field(nullable=True)
    key_fingerprint: Series[str] = pa.Field(nullable=True)
    owner_email: Series[str] = pa.Field(nullable=True)
    app_name: Series[str] = pa.Field(nullable=True)
    alias: Series[str] = pa.Field(nullable=True)
    plan: Series[str] = pa.Field(nullable=True)
    products: Series[object]
    expires_at: Series[UTCDateTime] = pa.Field(nullable=True)
    active: Series[bool]
    org: Series[str] | None = pa.Field(nullable=True)
    expires_raw: Series[str] | None = pa.Field(nullable=True)
    # the key's limits today (DESIGN.md "Legacy frame, optional columns"); NA = the source does not say
    rate: Series[pd.Float64Dtype] | None = pa.Field(nullable=True, ge=-1)
    per: Series[pd.Float64Dtype] | None = pa.Field(nullable=True, ge=-1)
    quota_max: Series[pd.Int64Dtype] | None = pa.Field(nullable=True, ge=-1)
    quota_renewal_rate: Series[pd.Int64Dtype] | None = pa.Field(nullable=True, ge=-1)
    api_ids: Series[object] | None = pa.Field(nullable=True)
    limits_raw: Series[str] | None = pa.Field(nullable=True)
    expires_known: Series[bool] | None

    class Config:
        ordered = False
        strict = False  # later steps add their own columns to the same frame

    @pa.check("key_id", name="key_is_secret", error="key_id must hold tyk_migrate.secrets.SecretKey values")
    def _key_is_secret(cls, s: Series[object]) -> bool:
        # a whole-column answer (set of types): per-element checks cost seconds on a million rows
        return set(map(type, s.to_numpy())) <= {SecretKey, type(None)}

    @pa.check("products", name="products_are_lists", error="products must hold a list of strings per row")
    def _products_are_lists(cls, s: Series[object]) -> bool:
        return set(map(type, s.to_numpy())) <= {list}

    @pa.check("api_ids", name="api_ids_are_lists", error="api_ids must hold a list of API IDs or None per row")
    def _api_ids_are_lists(cls, s: Series[object]) -> bool:
        return set(map(type, s.to_numpy())) <= {list, type(None)}


class ValidLegacyKeys(LegacyKeys):
    """The rows ``validate_keys`` lets through: what the planner may rely on."""

    key_id: Series[object] = pa.Field(nullable=False)
    key_fingerprint: Series[str] = pa.Field(nullable=False)
    owner_email: Series[str] = pa.Field(nullable=False, str_contains="@")
    plan: Series[str] = pa.Field(nullable=False, str_length={"min_value": 1})
    warnings: Series[str] = pa.Field(nullable=False)

    @pa.check("products", name="has_products", error="every valid row has at least one product")
    def _has_products(cls, s: Series[object]) -> bool:
        return len(s) == 0 or min(map(len, s.to_numpy())) > 0


class Rejects(pa.DataFrameModel):
    """The rejects report: one row per problem found; ``value`` is masked for ``key_id``."""

    source_row: Series[int] = pa.Field(ge=1)
    column: Series[str]
    check: Series[str]
    severity: Series[str] = pa.Field(isin=["error", "warning"])
    message: Series[str]
    value: Series[str] = pa.Field(nullable=True)

    class Config:
        ordered = True
        strict = True


# --- outcomes ---


class Outcomes(pa.DataFrameModel):
    """The outcome columns ``run.Migration`` adds to a plan frame (in place), one row per key."""

    status: Series[str] = pa.Field(isin=list(OUTCOME_STATUSES))
    app_id: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    credential_id: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    http_status: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=100, le=599)
    error: Series[str] = pa.Field(nullable=True)
    attempts: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    started_at: Series[UTCDateTime] = pa.Field(nullable=True)
    finished_at: Series[UTCDateTime] = pa.Field(nullable=True)
    batch: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)


# --- plan ---


class PlanFrame(pa.DataFrameModel):
    """The plan: legacy columns plus the decision for each row (extra legacy columns allowed)."""

    source_row: Series[int]
    key_id: Series[object]
    key_fingerprint: Series[str]
    owner_email: Series[str] = pa.Field(nullable=True)
    app_name: Series[object] = pa.Field(nullable=True)
    legacy_app_name: Series[object] = pa.Field(nullable=True)
    user_id: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    plan_id: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    product_ids: Series[object]
    app_id: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    action: Series[str] = pa.Field(isin=list(ACTIONS))
    reason: Series[str]
    reason_code: Series[str]
    client_impact: Series[str] | None
    client_impact_detail: Series[str] | None
    credential_id: Series[pd.Int64Dtype] = pa.Field(nullable=True)

    class Config:
        strict = False

    @pa.check("client_impact", name="known_kinds", error="client_impact holds kinds of tyk_migrate.plan.impact")
    def _known_kinds(cls, s: Series[str]) -> bool:
        from .plan.impact import IMPACT_KINDS, split_kinds  # the planner imports this module (see below)

        return all(set(split_kinds(str(cell))) <= set(IMPACT_KINDS) for cell in s.unique())

    @pa.check("reason_code", name="registered_codes", error="reason_code holds codes of tyk_migrate.plan.reasons")
    def _registered_codes(cls, s: Series[str]) -> bool:
        # imported here, not at the top: the planner imports this module, so the registry cannot be imported first
        from .plan.reasons import REASONS, split_codes

        return all(set(split_codes(str(cell))) <= REASONS.keys() for cell in s.unique())

    @pa.dataframe_check
    @classmethod
    def explained(cls, df: pd.DataFrame) -> pd.Series:
        """Every blocked or skipped row says why (sentence and code); every row that writes names its app."""
        uncoded = (df["reason"].str.strip() == "") != (df["reason_code"] == "")
        quiet = df["action"].isin([BLOCKED, SKIP_EXISTING]) & (df["reason"].str.strip() == "")
        nameless = df["action"].isin([CREATE_APP, ADD_CREDENTIAL]) & df["app_name"].isna()
        return ~(quiet | nameless | uncoded)

    @pa.dataframe_check
    @classmethod
    def one_create_per_app(cls, df: pd.DataFrame) -> bool:
        creates = df[df["action"] == CREATE_APP]
        return not creates.duplicated(["user_id", "app_name"]).any()
