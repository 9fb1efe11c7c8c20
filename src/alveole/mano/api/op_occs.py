"""NS lifecycle operation occurrences (SOL005 ns_lcm_op_occs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends

from ..lcm import Lcm
from ..models import OpState
from .deps import get_lcm

router = APIRouter(prefix="/nslcm/v1/ns_lcm_op_occs", tags=["operation occurrences"])


def occ_json(occ: Any) -> dict[str, Any]:
    body: dict[str, Any] = occ.model_dump(mode="json")
    body["_links"] = {
        "self": {"href": f"{router.prefix}/{occ.id}"},
        "nsInstance": {"href": f"/nslcm/v1/ns_instances/{occ.nsInstanceId}"},
    }
    return body


@router.get("")
def list_occs(
    nsInstanceId: str | None = None,  # SOL005 attribute filter names
    operationState: OpState | None = None,
    lcm: Lcm = Depends(get_lcm),
) -> list[dict[str, Any]]:
    states = [operationState] if operationState else None
    return [occ_json(o) for o in lcm.ops(nsInstanceId, states)]


@router.get("/{occ_id}")
def get_occ(occ_id: str, lcm: Lcm = Depends(get_lcm)) -> dict[str, Any]:
    return occ_json(lcm.op(occ_id))
