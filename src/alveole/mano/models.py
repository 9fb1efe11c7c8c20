"""MANO resources (NS and VNF instances, operation occurrences) and operation requests.

Names follow ETSI SOL005 (``nsState``, ``lcmOperationType``, ``operationState``)
where the concept is the same; alveole's additions are spelled the same way
(``operationalState``, ``netns``, ``journal``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .descriptors import Hook, IfName, InstanceName, NetnsName, StrictModel

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "ChangePackage",
    "FpInstance",
    "HealRequest",
    "InstantiateRequest",
    "JournalStep",
    "ModifyVnfInfo",
    "NsInstance",
    "NsState",
    "OpOcc",
    "OpState",
    "OperateRequest",
    "Operation",
    "ProblemDetails",
    "ScaleRequest",
    "TerminateRequest",
    "UpdateRequest",
    "VlInstance",
    "VnfInstance",
    "new_id",
    "now",
]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


class NsState(StrEnum):
    NOT_INSTANTIATED = "NOT_INSTANTIATED"
    INSTANTIATED = "INSTANTIATED"


class Operation(StrEnum):
    INSTANTIATE = "INSTANTIATE"
    SCALE = "SCALE"
    UPDATE = "UPDATE"
    HEAL = "HEAL"
    OPERATE = "OPERATE"
    TERMINATE = "TERMINATE"


class OpState(StrEnum):
    STARTING = "STARTING"  # accepted, written before anything else; nothing touched yet
    PROCESSING = "PROCESSING"  # changing the kernel, step by step (journal)
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"  # failed and could not be rolled back completely: heal the NS
    ROLLED_BACK = "ROLLED_BACK"  # failed (or interrupted) and everything it did was undone


ACTIVE_STATES = (OpState.STARTING, OpState.PROCESSING)
FINAL_STATES = (OpState.COMPLETED, OpState.FAILED, OpState.ROLLED_BACK)


class Resource(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- instances --------------------------------------------------------------------------------
class VnfInstance(Resource):
    vnfInstanceId: str
    vnfProfileId: str
    vnfdId: str
    vnfProductName: str
    vnfSoftwareVersion: str
    config: dict[str, Any] = Field(
        default_factory=dict, description="the profile's config over the VNFD defaults"
    )


class VlInstance(Resource):
    virtualLinkId: str
    interfaces: list[str]
    cidrs: list[str] = Field(default_factory=list)


class FpInstance(Resource):
    forwardingPathId: str
    virtualLinkId: str
    hook: Hook
    end: Literal["pass", "drop"]
    vnfProfileIds: list[str]


class NsInstance(Resource):
    id: str
    nsInstanceName: str
    nsInstanceDescription: str = ""
    nsdId: str
    nsState: NsState = NsState.NOT_INSTANTIATED
    operationalState: Literal["STARTED", "STOPPED"] = "STARTED"
    stopVerdict: Literal["pass", "drop"] = "drop"
    netns: str | None = None
    vnfInstances: list[VnfInstance] = Field(default_factory=list)
    virtualLinks: list[VlInstance] = Field(default_factory=list)
    forwardingPaths: list[FpInstance] = Field(default_factory=list)
    createdAt: dt.datetime = Field(default_factory=now)
    updatedAt: dt.datetime = Field(default_factory=now)

    def vnf(self, profile_id: str) -> VnfInstance:
        for v in self.vnfInstances:
            if profile_id in (v.vnfProfileId, v.vnfInstanceId):
                return v
        raise KeyError(profile_id)

    def link(self, link_id: str) -> VlInstance:
        for v in self.virtualLinks:
            if v.virtualLinkId == link_id:
                return v
        raise KeyError(link_id)


# --- operation occurrences ----------------------------------------------------------------------
class ProblemDetails(Resource):
    """RFC 7807 problem details, as SOL005 reports errors."""

    title: str
    status: int = 500
    detail: str
    type: str | None = None


class JournalStep(Resource):
    """One kernel-side step of an operation (one chain)."""

    n: int
    chain: str  # as people read it: interface@netns/hook
    chainKey: str  # as the datapath names it (ChainId.key)
    action: str  # create, delete, update, reconfigure, set-members, set-end, reload, check
    detail: str = ""
    state: Literal["pending", "running", "done", "failed", "undone"] = "pending"
    ms: float | None = None


class OpOcc(Resource):
    """An NS lifecycle operation occurrence (SOL005 NsLcmOpOcc, with a step journal)."""

    id: str
    operationState: OpState
    stateEnteredTime: dt.datetime
    startTime: dt.datetime
    nsInstanceId: str
    lcmOperationType: Operation
    isAutomaticInvocation: bool = False
    isCancelPending: bool = False
    operationParams: dict[str, Any] = Field(default_factory=dict)
    error: ProblemDetails | None = None
    journal: list[JournalStep] = Field(default_factory=list)
    owner: str = Field("", description="host:pid:start-time of the process running it")
    resolvedAtRecovery: bool = Field(False, description="finished by recover() after its process died")


# --- requests -----------------------------------------------------------------------------------
class InstantiateRequest(StrictModel):
    nsFlavourId: Literal["default"] = "default"
    netns: NetnsName | None = Field(None, description="overrides the NSD's netns")


class ScaleRequest(StrictModel):
    """Add (SCALE_OUT) or remove (SCALE_IN) interfaces of a virtual link.

    Every forwarding path on the link gets (or loses) a chain on each interface.
    Name the link, or a VNF profile whose paths all run on one link.
    """

    scaleType: Literal["SCALE_OUT", "SCALE_IN"]
    virtualLinkId: str | None = None
    vnfProfileId: str | None = None
    interfaces: list[IfName] = Field(min_length=1)

    @model_validator(mode="after")
    def _target(self) -> ScaleRequest:
        if (self.virtualLinkId is None) == (self.vnfProfileId is None):
            raise ValueError("name exactly one of virtualLinkId or vnfProfileId")
        return self


class ModifyVnfInfo(StrictModel):
    """New config values for one VNF (a JSON merge patch over its current config)."""

    vnfProfileId: InstanceName
    vnfConfigurableProperties: dict[str, Any]


class ChangePackage(StrictModel):
    """Run another version (another VNFD of the same product) for one VNF, live."""

    vnfProfileId: InstanceName
    vnfdId: str
    vnfConfigurableProperties: dict[str, Any] | None = Field(
        None, description="a merge patch applied with the new version (default: keep the config)"
    )


class UpdateRequest(StrictModel):
    updateType: Literal["MODIFY_VNF_INFORMATION", "CHANGE_VNFPKG"]
    modifyVnfInfoData: list[ModifyVnfInfo] = Field(default_factory=list)
    changeVnfPackageData: list[ChangePackage] = Field(default_factory=list)

    @model_validator(mode="after")
    def _data(self) -> UpdateRequest:
        if self.updateType == "MODIFY_VNF_INFORMATION" and (
            not self.modifyVnfInfoData or self.changeVnfPackageData
        ):
            raise ValueError("MODIFY_VNF_INFORMATION takes modifyVnfInfoData (and only that)")
        if self.updateType == "CHANGE_VNFPKG" and (not self.changeVnfPackageData or self.modifyVnfInfoData):
            raise ValueError("CHANGE_VNFPKG takes changeVnfPackageData (and only that)")
        return self


class HealRequest(StrictModel):
    """HEAL_RESTORE: re-adopt every chain, repair drift, put back what is missing.
    COMPLETE_HEALING: that, then reload every VNF program in place (maps kept)."""

    degreeHealing: Literal["HEAL_RESTORE", "COMPLETE_HEALING"] = "HEAL_RESTORE"


class OperateRequest(StrictModel):
    """Stop or start the service. A stopped chain keeps its hook with no VNF in it and applies
    ``stopVerdict``: ``drop`` by default, so stopping never lets unchecked packets through."""

    changeStateTo: Literal["STARTED", "STOPPED"]
    stopVerdict: Literal["pass", "drop"] = "drop"


class TerminateRequest(StrictModel):
    pass
