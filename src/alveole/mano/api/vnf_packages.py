"""VNF packages (SOL005 VNF package management, by vnfdId): catalog built-ins and onboarded VNFDs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Response

from ..lcm import Lcm
from ..packages import config_schema
from .deps import get_lcm

router = APIRouter(prefix="/vnfpkgm/v1/vnf_packages", tags=["VNF packages"])


@router.get("")
def list_packages(lcm: Lcm = Depends(get_lcm)) -> list[dict[str, Any]]:
    return [p.info() for p in lcm.vnf_packages()]


@router.post("", status_code=201)
def onboard(
    response: Response, vnfd: dict[str, Any] = Body(...), lcm: Lcm = Depends(get_lcm)
) -> dict[str, Any]:
    """Onboard a VNFD (JSON). A relative program.source is resolved against the server's directory."""
    v = lcm.onboard_vnfd(vnfd)
    response.headers["Location"] = f"{router.prefix}/{v.vnfdId}"
    return lcm.vnf_package(v.vnfdId).info()


@router.get("/{vnfd_id}")
def get_package(vnfd_id: str, lcm: Lcm = Depends(get_lcm)) -> dict[str, Any]:
    return lcm.vnf_package(vnfd_id).info()


@router.get("/{vnfd_id}/vnfd")
def get_vnfd(vnfd_id: str, lcm: Lcm = Depends(get_lcm)) -> dict[str, Any]:
    return lcm.vnfd(vnfd_id).model_dump(mode="json", by_alias=True, exclude_none=True)


@router.get("/{vnfd_id}/config_schema")
def get_config_schema(vnfd_id: str, lcm: Lcm = Depends(get_lcm)) -> dict[str, Any]:
    """The JSON Schema a VNF profile's config must follow."""
    return config_schema(lcm.vnfd(vnfd_id))


@router.delete("/{vnfd_id}", status_code=204)
def delete_package(vnfd_id: str, lcm: Lcm = Depends(get_lcm)) -> Response:
    lcm.delete_vnfd(vnfd_id)
    return Response(status_code=204)
