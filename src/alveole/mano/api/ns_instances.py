"""NS instances and their lifecycle operations (SOL005 NS lifecycle management).

Operations answer ``202 Accepted`` with the occurrence (``STARTING``) and its
``Location``; they run after the response, one at a time on the host. A refused
request (validation, wrong state, operation in progress) answers 4xx and
records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Body, Depends, Response
from fastapi.responses import JSONResponse

from ..lcm import Lcm
from ..models import Operation
from .deps import get_lcm
from .op_occs import occ_json
from .op_occs import router as occ_router

router = APIRouter(prefix="/nslcm/v1/ns_instances", tags=["NS instances"])


def ns_json(lcm: Lcm, ref: str) -> dict[str, Any]:
    ns = lcm.ns(ref)
    body: dict[str, Any] = ns.model_dump(mode="json")
    body["_links"] = {
        "self": {"href": f"{router.prefix}/{ns.id}"},
        **{op.value.lower(): {"href": f"{router.prefix}/{ns.id}/{op.value.lower()}"} for op in Operation},
    }
    return body


@router.get("")
def list_instances(lcm: Lcm = Depends(get_lcm)) -> list[dict[str, Any]]:
    return [ns_json(lcm, ns.id) for ns in lcm.ns_list()]


@router.post("", status_code=201)
def create_instance(
    response: Response, body: dict[str, Any] = Body(...), lcm: Lcm = Depends(get_lcm)
) -> dict[str, Any]:
    """Create an NS instance (NOT_INSTANTIATED) from ``{nsdId, nsName?, nsDescription?}``."""
    from ..descriptors import StrictModel, parse_model

    class CreateNsRequest(StrictModel):
        nsdId: str
        nsName: str | None = None
        nsDescription: str = ""

    req = parse_model(CreateNsRequest, body, "CreateNsRequest")
    ns = lcm.create_ns(req.nsdId, req.nsName, req.nsDescription)
    response.headers["Location"] = f"{router.prefix}/{ns.id}"
    return ns_json(lcm, ns.id)


@router.get("/{ns_id}")
def get_instance(ns_id: str, lcm: Lcm = Depends(get_lcm)) -> dict[str, Any]:
    return ns_json(lcm, ns_id)


@router.get("/{ns_id}/chains")
def get_chains(ns_id: str, lcm: Lcm = Depends(get_lcm)) -> list[dict[str, Any]]:
    """alveole: the chains the instance wants, as the kernel has them, with per-hop counters."""
    return [c.as_dict() for c in lcm.chains(ns_id)]


@router.delete("/{ns_id}", status_code=204)
def delete_instance(ns_id: str, lcm: Lcm = Depends(get_lcm)) -> Response:
    lcm.delete_ns(ns_id)
    return Response(status_code=204)


def _operation(op: Operation) -> Callable[..., JSONResponse]:
    def handler(
        ns_id: str,
        background: BackgroundTasks,
        body: dict[str, Any] = Body(default={}),
        lcm: Lcm = Depends(get_lcm),
    ) -> JSONResponse:
        occ = lcm.start(ns_id, op, body)
        background.add_task(lcm.run, occ.id)
        return JSONResponse(
            occ_json(occ), status_code=202, headers={"Location": f"{occ_router.prefix}/{occ.id}"}
        )

    handler.__name__ = f"{op.value.lower()}_ns"
    handler.__doc__ = f"{op.value}: 202 with the operation occurrence; it runs after the response."
    return handler


for _op in Operation:
    router.add_api_route(
        f"/{{ns_id}}/{_op.value.lower()}", _operation(_op), methods=["POST"], status_code=202
    )
