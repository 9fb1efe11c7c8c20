"""NS descriptors (SOL005 NSD management, by nsdId)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Body, Depends, Response

from ..descriptors import Nsd
from ..lcm import Lcm
from .deps import get_lcm

router = APIRouter(prefix="/nsd/v1/ns_descriptors", tags=["NS descriptors"])


def _info(nsd: Nsd, onboarded: dt.datetime, lcm: Lcm) -> dict[str, Any]:
    users = [ns.nsInstanceName for ns in lcm.ns_list() if ns.nsdId == nsd.nsdId]
    return {
        "id": nsd.nsdId,
        "nsdId": nsd.nsdId,
        "nsdName": nsd.nsdName,
        "nsdVersion": nsd.version,
        "nsdDesigner": nsd.designer,
        "vnfdIds": sorted({p.vnfdId for p in nsd.vnfProfiles}),
        "nsdOnboardingState": "ONBOARDED",
        "nsdOperationalState": "ENABLED",
        "nsdUsageState": "IN_USE" if users else "NOT_IN_USE",
        "usedBy": users,
        "onboardedAt": onboarded.isoformat(),
    }


@router.get("")
def list_nsds(lcm: Lcm = Depends(get_lcm)) -> list[dict[str, Any]]:
    return [_info(n, t, lcm) for n, t in lcm.nsds()]


@router.post("", status_code=201)
def onboard(
    response: Response, nsd: dict[str, Any] = Body(...), lcm: Lcm = Depends(get_lcm)
) -> dict[str, Any]:
    n = lcm.onboard_nsd(nsd)
    response.headers["Location"] = f"{router.prefix}/{n.nsdId}"
    return get_nsd(n.nsdId, lcm)


@router.get("/{nsd_id}")
def get_nsd(nsd_id: str, lcm: Lcm = Depends(get_lcm)) -> dict[str, Any]:
    for n, t in lcm.nsds():
        if n.nsdId == nsd_id:
            return {**_info(n, t, lcm), "nsd": n.model_dump(mode="json", exclude_none=True)}
    lcm.nsd(nsd_id)  # raises NotFoundError
    raise AssertionError("unreachable")


@router.delete("/{nsd_id}", status_code=204)
def delete_nsd(nsd_id: str, lcm: Lcm = Depends(get_lcm)) -> Response:
    lcm.delete_nsd(nsd_id)
    return Response(status_code=204)
