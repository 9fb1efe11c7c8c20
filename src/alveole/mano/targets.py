"""From an operation request to the NS instance it wants (the ``target`` snapshot), or a refusal.

Everything an operation needs is checked here, before anything is recorded: the
request's fields, the NS instance's state, the descriptors (VNFDs exist, configs
validate, hooks are supported) and the host (the namespace and interfaces exist).
Errors name the request's fields (``modifyVnfInfoData[0].vnfConfigurableProperties.tag``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..datapath import ChainId
from .descriptors import Nsd, Vnfd
from .driver import DatapathDriver
from .errors import ConflictError, DescriptorError, NotFoundError
from .models import (
    FpInstance,
    InstantiateRequest,
    NsInstance,
    NsState,
    OperateRequest,
    Operation,
    ScaleRequest,
    UpdateRequest,
    VlInstance,
    VnfInstance,
    new_id,
)
from .packages import member_spec, merge_patch

__all__ = ["chain_ids", "check_host", "target"]

VnfdLookup = Callable[[str], Vnfd]


def chain_ids(ns: NsInstance) -> dict[ChainId, str]:
    """The chains a snapshot wants, without building members: chain -> forwarding path."""
    if ns.nsState != NsState.INSTANTIATED:
        return {}
    out = {}
    for fp in ns.forwardingPaths:
        for ifname in ns.link(fp.virtualLinkId).interfaces:
            out[ChainId(ifname, fp.hook, ns.netns)] = fp.forwardingPathId
    return out


def target(
    op: Operation,
    ns: NsInstance,
    req: Any,
    *,
    lookup: VnfdLookup,
    nsd: Callable[[str], Nsd],
    driver: DatapathDriver,
) -> NsInstance:
    """The NS instance ``req`` wants; raises DescriptorError (bad input) or ConflictError (wrong state)."""
    name = ns.nsInstanceName
    if op == Operation.INSTANTIATE:
        if ns.nsState != NsState.NOT_INSTANTIATED:
            raise ConflictError(f"NS instance {name!r} is already instantiated")
        return _instantiate(ns, req, nsd(ns.nsdId), lookup, driver)
    if ns.nsState != NsState.INSTANTIATED:
        raise ConflictError(f"NS instance {name!r} is not instantiated")
    if op == Operation.SCALE:
        return _scale(ns, req, driver)
    if op == Operation.UPDATE:
        return _update(ns, req, lookup)
    if op == Operation.OPERATE:
        return _operate(ns, req)
    if op == Operation.HEAL:
        return ns.model_copy(deep=True)
    assert op == Operation.TERMINATE
    return ns.model_copy(
        update={
            "nsState": NsState.NOT_INSTANTIATED,
            "operationalState": "STARTED",
            "vnfInstances": [],
            "virtualLinks": [],
            "forwardingPaths": [],
        },
        deep=True,
    )


def check_host(
    driver: DatapathDriver, what: str, netns: str | None, interfaces: list[tuple[str, str]]
) -> None:
    """Every (field, interface) exists in ``netns`` on this host."""
    errors = []
    for where, ifname in interfaces:
        try:
            driver.check_interface(netns, ifname)
        except LookupError as e:
            if str(e).startswith("no network namespace"):
                raise DescriptorError(what, [("netns", str(e))]) from None
            errors.append((where, str(e)))
    if errors:
        raise DescriptorError(what, errors)


def _instantiate(
    ns: NsInstance, req: InstantiateRequest, nsd: Nsd, lookup: VnfdLookup, driver: DatapathDriver
) -> NsInstance:
    netns = req.netns or nsd.netns
    vnfs = []
    for p in nsd.vnfProfiles:
        vnfd = lookup(p.vnfdId)
        vnfs.append(
            VnfInstance(
                vnfInstanceId=new_id("vnf"),
                vnfProfileId=p.vnfProfileId,
                vnfdId=vnfd.vnfdId,
                vnfProductName=vnfd.vnfProductName,
                vnfSoftwareVersion=vnfd.vnfSoftwareVersion,
                config=dict(p.config),
            )
        )
    interfaces = [
        (f"virtualLinks[{i}].interfaces[{j}]", ifname)
        for i, vl in enumerate(nsd.virtualLinks)
        for j, ifname in enumerate(vl.interfaces)
    ]
    check_host(driver, f"NSD {nsd.nsdId!r} on this host", netns, interfaces)
    links = [
        VlInstance(virtualLinkId=v.virtualLinkId, interfaces=list(v.interfaces), cidrs=list(v.cidrs))
        for v in nsd.virtualLinks
    ]
    paths = [
        FpInstance(
            forwardingPathId=f.forwardingPathId,
            virtualLinkId=f.virtualLinkId,
            hook=f.hook,
            end=f.end,
            vnfProfileIds=list(f.vnfProfileIds),
        )
        for f in nsd.forwardingPaths
    ]
    return ns.model_copy(
        update={
            "nsState": NsState.INSTANTIATED,
            "operationalState": "STARTED",
            "netns": netns,
            "vnfInstances": vnfs,
            "virtualLinks": links,
            "forwardingPaths": paths,
        },
        deep=True,
    )


def _scale(ns: NsInstance, req: ScaleRequest, driver: DatapathDriver) -> NsInstance:
    what = "SCALE request"

    def refuse(field: str, problem: str) -> DescriptorError:
        return DescriptorError(what, [(field, problem)])

    if req.vnfProfileId is not None:
        if req.vnfProfileId not in [v.vnfProfileId for v in ns.vnfInstances]:
            raise refuse("vnfProfileId", f"no VNF profile {req.vnfProfileId!r} in {ns.nsInstanceName}")
        links = sorted({f.virtualLinkId for f in ns.forwardingPaths if req.vnfProfileId in f.vnfProfileIds})
        if len(links) != 1:
            raise refuse(
                "vnfProfileId", f"{req.vnfProfileId} runs on links {', '.join(links)}: name virtualLinkId"
            )
        link_id = links[0]
    else:
        link_id = req.virtualLinkId or ""
    try:
        link = ns.link(link_id)
    except KeyError:
        have = ", ".join(v.virtualLinkId for v in ns.virtualLinks)
        raise refuse("virtualLinkId", f"no virtual link {link_id!r} (have: {have})") from None
    errors = []
    if req.scaleType == "SCALE_OUT":
        for i, ifname in enumerate(req.interfaces):
            if ifname in link.interfaces:
                errors.append((f"interfaces[{i}]", f"{ifname} is already on link {link_id}"))
        if errors:
            raise DescriptorError(what, errors)
        check_host(driver, what, ns.netns, [(f"interfaces[{i}]", n) for i, n in enumerate(req.interfaces)])
        interfaces = link.interfaces + [i for i in req.interfaces if i not in link.interfaces]
    else:
        for i, ifname in enumerate(req.interfaces):
            if ifname not in link.interfaces:
                has = ", ".join(link.interfaces)
                errors.append((f"interfaces[{i}]", f"{ifname} is not on link {link_id} (has: {has})"))
        if errors:
            raise DescriptorError(what, errors)
        interfaces = [i for i in link.interfaces if i not in req.interfaces]
        if not interfaces:
            raise refuse(
                "interfaces", f"link {link_id} keeps at least one interface (terminate the NS instead)"
            )
    out = ns.model_copy(deep=True)
    out.link(link_id).interfaces = interfaces
    return out


def _update(ns: NsInstance, req: UpdateRequest, lookup: VnfdLookup) -> NsInstance:
    what = "UPDATE request"
    out = ns.model_copy(deep=True)
    errors: list[tuple[str, str]] = []
    items: list[Any] = list(req.modifyVnfInfoData or req.changeVnfPackageData)
    field = "modifyVnfInfoData" if req.modifyVnfInfoData else "changeVnfPackageData"
    seen = set()
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        if item.vnfProfileId in seen:
            errors.append((f"{where}.vnfProfileId", f"{item.vnfProfileId} is listed twice"))
            continue
        seen.add(item.vnfProfileId)
        try:
            vnf = out.vnf(item.vnfProfileId)
        except KeyError:
            have = ", ".join(v.vnfProfileId for v in ns.vnfInstances)
            errors.append((f"{where}.vnfProfileId", f"no VNF profile {item.vnfProfileId!r} (have: {have})"))
            continue
        if req.updateType == "MODIFY_VNF_INFORMATION":
            vnfd = lookup(vnf.vnfdId)
            config = merge_patch(vnf.config, item.vnfConfigurableProperties)
        else:
            try:
                vnfd = lookup(item.vnfdId)
            except NotFoundError as e:
                errors.append((f"{where}.vnfdId", str(e)))
                continue
            problem = _package_problem(ns, vnf, vnfd)
            if problem:
                errors.append((f"{where}.vnfdId", problem))
                continue
            config = merge_patch(vnf.config, item.vnfConfigurableProperties or {})
        try:
            member_spec(vnfd, config, what=what, where=f"{where}.vnfConfigurableProperties")
        except DescriptorError as e:
            errors += e.errors
            continue
        vnf.config = config
        vnf.vnfdId = vnfd.vnfdId
        vnf.vnfSoftwareVersion = vnfd.vnfSoftwareVersion
    if errors:
        raise DescriptorError(what, errors)
    return out


def _package_problem(ns: NsInstance, vnf: VnfInstance, vnfd: Vnfd) -> str:
    """Why ``vnfd`` cannot replace ``vnf``'s package ("" when it can)."""
    if vnfd.vnfProductName != vnf.vnfProductName:
        return f"{vnfd.vnfdId} is {vnfd.vnfProductName}, not {vnf.vnfProductName}: a package change keeps it"
    hooks = {f.hook for f in ns.forwardingPaths if vnf.vnfProfileId in f.vnfProfileIds}
    missing = sorted(hooks - set(vnfd.supportedHooks))
    return f"{vnfd.vnfdId} does not support {', '.join(missing)}" if missing else ""


def _operate(ns: NsInstance, req: OperateRequest) -> NsInstance:
    same_verdict = req.changeStateTo == "STARTED" or ns.stopVerdict == req.stopVerdict
    if ns.operationalState == req.changeStateTo and same_verdict:
        raise ConflictError(f"NS instance {ns.nsInstanceName!r} is already {req.changeStateTo}")
    return ns.model_copy(
        update={"operationalState": req.changeStateTo, "stopVerdict": req.stopVerdict}, deep=True
    )
