"""``/portal-api/products`` and ``/portal-api/plans`` routes: the catalogue a credential is issued against."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .portal_base import PortalBase
from .portal_request import Refused, int_id
from .portal_shapes import plan_show, plan_summary, product_index, product_show


class CatalogueRoutes(PortalBase):
    async def list_products(self, request: Request) -> Response:
        return JSONResponse(self._list(request, "products", self.state.products, product_index))

    async def get_product(self, request: Request) -> Response:
        product = self.state.products.get(int_id(request.path_params["id"], "product"))
        if product is None:
            raise Refused(404, "product not found")
        return JSONResponse(product_show(product))

    async def list_plans(self, request: Request) -> Response:
        rows = self._list(request, "plans", self.state.plans, plan_summary)
        return JSONResponse(rows if self.behaviour.current.plans_envelope == "bare" else {"data": rows})

    async def get_plan(self, request: Request) -> Response:
        plan = self.state.plans.get(int_id(request.path_params["id"], "plan"))
        if plan is None:
            raise Refused(404, "plan not found")
        return JSONResponse(plan_show(plan))
