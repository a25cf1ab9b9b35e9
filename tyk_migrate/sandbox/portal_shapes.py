"""``/portal-api`` answers: the fields each of ``portal-api.openapi.yaml``'s response schemas declares, nothing else.

Seed objects may carry more; answers are cut to the schema so a client cannot come to rely on a
field the real portal does not promise (e.g. ListenPath is only in GET /products/{id}).
"""

from __future__ import annotations

from .state import Obj

USER_INDEX = ("ID", "Active", "Email", "First", "Last", "OrganisationID", "Role", "Provider")
USER_SHOW = (
    *USER_INDEX,
    "JWTToken",
    "APITokenCreatedAt",
    "Organisation",
    "ResetPassword",
    "Teams",
    "CreatedAt",
    "UpdatedAt",
)
API_INDEX = ("APIID", "Name", "Status")
API_SHOW = ("APIID", "APIType", "Description", "ListenPath", "Name", "OASUrl", "Status", "TargetURL")
PRODUCT_INDEX = (
    "ID",
    "CID",
    "APIDetails",
    "AuthType",
    "AuthTypes",
    "DCREnabled",
    "DisplayName",
    "Feature",
    "IsDocumentationOnly",
    "Name",
    "Path",
    "Preview",
    "ReferenceID",
    "Scopes",
    "SpecDetails",
)
PRODUCT_SHOW = (
    "ID",
    "APIDetails",
    "AuthType",
    "AuthTypes",
    "Catalogues",
    "CID",
    "Content",
    "DCREnabled",
    "Description",
    "DisplayName",
    "Feature",
    "IsDocumentationOnly",
    "Logo",
    "Name",
    "Path",
    "ReferenceID",
    "Scopes",
    "SpecDetails",
    "Tags",
    "Templates",
    "ProviderID",
    "Preview",
)
PLAN_SUMMARY = ("ID", "Name", "DisplayName", "AutoApproveAccessRequests", "RateLimit", "Quota")
PLAN_SHOW = (
    "ID",
    "ReferenceID",
    "CID",
    "AutoApproveAccessRequests",
    "Catalogues",
    "DisplayName",
    "Description",
    "JWTScope",
    "KeyExpiresIn",
    "MetaData",
    "Name",
    "Per",
    "PlanQuota",
    "PlanQuotaRenewalRate",
    "Quota",
    "QuotaRenewalRate",
    "RateLimit",
    "UnlimitedQuota",
    "UnlimitedRateLimit",
    "ProviderID",
)
APP_INDEX = ("ID", "Name", "Description", "RedirectURLs", "UserID", "Visibility", "CreatedAt")
CREDENTIAL_INDEX = (
    "ID",
    "Alias",
    "Type",
    "PlanID",
    "AuthenticationMethod",
    "ProductIDs",
    "AuthTokenType",
    "KeyID",
    "ProviderID",
    "ClientTypeID",
)
CREDENTIAL_SHOW = (*CREDENTIAL_INDEX, "CreatedAt", "UpdatedAt")


def pick(obj: Obj, fields: tuple[str, ...]) -> Obj:
    return {k: obj[k] for k in fields if k in obj}


def user_index(user: Obj) -> Obj:
    return pick(user, USER_INDEX)


def user_show(user: Obj) -> Obj:
    return pick(user, USER_SHOW)


def product_index(product: Obj) -> Obj:
    shown = pick(product, PRODUCT_INDEX)
    if isinstance(shown.get("APIDetails"), list):
        shown["APIDetails"] = [pick(a, API_INDEX) for a in shown["APIDetails"] if isinstance(a, dict)]
    return shown


def product_show(product: Obj) -> Obj:
    shown = pick(product, PRODUCT_SHOW)
    if isinstance(shown.get("APIDetails"), list):
        shown["APIDetails"] = [pick(a, API_SHOW) for a in shown["APIDetails"] if isinstance(a, dict)]
    return shown


def plan_summary(plan: Obj) -> Obj:
    return pick(plan, PLAN_SUMMARY)


def plan_show(plan: Obj) -> Obj:
    return pick(plan, PLAN_SHOW)


def app_index(app: Obj) -> Obj:
    return pick(app, APP_INDEX)


def app_show(app: Obj) -> Obj:
    return {**app_index(app), "AccessRequests": []}


def credential_index(cred: Obj) -> Obj:
    return pick(cred, CREDENTIAL_INDEX)


def credential_show(cred: Obj) -> Obj:
    return pick(cred, CREDENTIAL_SHOW)
