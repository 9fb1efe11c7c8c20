"""The lifecycle manager: VNF packages, NSDs, NS instances and their operations.

Every operation (INSTANTIATE, SCALE, UPDATE, HEAL, OPERATE, TERMINATE) is an
**operation occurrence**:

1. ``start``: the request is validated against the NS instance, the onboarded
   descriptors and this host (interfaces, chains in use); a refused request
   changes nothing and leaves no trace. Then the occurrence is written
   ``STARTING`` with two snapshots of the NS instance: as it is (``before``) and
   as the operation wants it (``target``);
2. ``run`` (holding the host lock): ``PROCESSING`` with a journal of steps, one
   per chain to change, each marked running then done around its kernel change
   (:func:`reconcile.converge`);
3. ``COMPLETED``: the target snapshot becomes the NS instance, in the same
   transaction. On an error, every chain touched is converged back to ``before``:
   ``ROLLED_BACK``; if even that fails, ``FAILED`` (the error says what is left:
   heal the NS).

``recover()`` (run when a manager opens) resolves occurrences whose process died:
``STARTING`` ones changed nothing (rolled back); ``PROCESSING`` ones complete when
the kernel already reflects the target, else roll back; TERMINATE and HEAL are
always carried forward. Adoption of each chain clears whatever the crash left
in bpffs (pins of a chain never recorded, half-renamed pins, members never
recorded).

Test hook: with ``ALVEOLE_MANO_CRASH_AT=<OPERATION>:<point>`` the process kills
itself (SIGKILL) at that point: ``started``, ``before-step-N``, ``after-step-N``,
``before-commit``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..datapath import ChainId, MemberSpec
from ..datapath.manager import raw_resolver
from . import targets
from .descriptors import Nsd, Vnfd, kind_of, parse_model, parse_nsd, parse_vnfd
from .driver import DatapathDriver, KernelDriver
from .errors import ConflictError, DescriptorError, LcmBusyError, NotFoundError, OperationFailedError
from .locking import HostLock, alive, identity
from .models import (
    ACTIVE_STATES,
    HealRequest,
    InstantiateRequest,
    JournalStep,
    NsInstance,
    NsState,
    OperateRequest,
    Operation,
    OpOcc,
    OpState,
    ProblemDetails,
    ScaleRequest,
    TerminateRequest,
    UpdateRequest,
    VnfInstance,
    new_id,
    now,
)
from .packages import builtin_vnfds, check_vnfd, member_spec
from .reconcile import Want, converge, describe_change, matches, wants
from .reports import ChainReport, VnfPackage
from .store import SqliteStore, Store

__all__ = ["CRASH_ENV", "Lcm"]

CRASH_ENV = "ALVEOLE_MANO_CRASH_AT"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")

REQUESTS: dict[Operation, type[BaseModel]] = {
    Operation.INSTANTIATE: InstantiateRequest,
    Operation.SCALE: ScaleRequest,
    Operation.UPDATE: UpdateRequest,
    Operation.HEAL: HealRequest,
    Operation.OPERATE: OperateRequest,
    Operation.TERMINATE: TerminateRequest,
}
ROLL_FORWARD = (Operation.TERMINATE, Operation.HEAL)  # at recovery: finish them, never undo


def _problem(title: str, error: BaseException | str, status: int = 500) -> ProblemDetails:
    detail = str(error) if not isinstance(error, str) else error
    kind = type(error).__name__ if not isinstance(error, str) else None
    return ProblemDetails(title=title, status=status, detail=detail or kind or title, type=kind)


class Lcm:
    """The lifecycle manager of this host. ``Lcm.open()`` gives one over the default store and the kernel."""

    def __init__(
        self, store: Store, driver: DatapathDriver, *, lock: HostLock | None = None, recover: bool = True
    ) -> None:
        self.store = store
        self.driver = driver
        path = getattr(store, "path", None)
        self.lock = lock or HostLock(
            Path(path).with_name("lcm.lock") if path else Path("/run/alveole-lcm.lock")
        )
        driver.set_resolver(self.resolve_record)
        self.recovered: list[OpOcc] = self.recover() if recover else []

    @classmethod
    def open(
        cls, db: str | Path | None = None, driver: DatapathDriver | None = None, *, recover: bool = True
    ) -> Lcm:
        return cls(SqliteStore(db), driver or KernelDriver(), recover=recover)

    # --- VNF packages -------------------------------------------------------------------------
    def _vnfd(self, vnfd_id: str, extra: Mapping[str, Vnfd] | None = None) -> Vnfd:
        if extra and vnfd_id in extra:
            return extra[vnfd_id]
        stored = self.store.get_vnfd(vnfd_id)
        if stored is not None:
            return stored[0]
        builtins = builtin_vnfds()
        if vnfd_id in builtins:
            return builtins[vnfd_id]
        known = sorted({*builtins, *(v.vnfdId for v, _ in self.store.list_vnfds()), *(extra or {})})
        raise NotFoundError("VNFD", vnfd_id, known)

    def vnfd(self, vnfd_id: str) -> Vnfd:
        return self._vnfd(vnfd_id)

    def _users(self) -> dict[str, list[str]]:
        users: dict[str, list[str]] = {}
        for nsd, _ in self.store.list_nsds():
            for p in nsd.vnfProfiles:
                users.setdefault(p.vnfdId, []).append(f"NSD {nsd.nsdId}")
        for ns in self.store.list_ns():
            for v in ns.vnfInstances:
                users.setdefault(v.vnfdId, []).append(f"NS {ns.nsInstanceName}")
        return {k: sorted(set(v)) for k, v in users.items()}

    def vnf_packages(self) -> list[VnfPackage]:
        users = self._users()
        out = [VnfPackage(v, True, None, tuple(users.get(k, ()))) for k, v in builtin_vnfds().items()]
        out += [VnfPackage(v, False, t, tuple(users.get(v.vnfdId, ()))) for v, t in self.store.list_vnfds()]
        return sorted(out, key=lambda p: p.vnfd.vnfdId)

    def vnf_package(self, vnfd_id: str) -> VnfPackage:
        for p in self.vnf_packages():
            if p.vnfd.vnfdId == vnfd_id:
                return p
        raise NotFoundError("VNF package", vnfd_id, [p.vnfd.vnfdId for p in self.vnf_packages()])

    def _vet_vnfd(self, vnfd: Vnfd, pending: Iterable[Vnfd] = ()) -> bool:
        """Check a VNFD before onboarding; True when it is new, False when the same one is there."""
        if vnfd.vnfdId in builtin_vnfds():
            raise ConflictError(f"vnfdId {vnfd.vnfdId!r} is the built-in VNFD of catalog VNF {vnfd.vnfdId}")
        stored = self.store.get_vnfd(vnfd.vnfdId)
        if stored is not None:
            if stored[0].model_dump(by_alias=True) == vnfd.model_dump(by_alias=True):
                return False
            raise ConflictError(
                f"VNFD {vnfd.vnfdId!r} is already onboarded with other content (descriptors are immutable: "
                "give the new one another vnfdId, e.g. with its version)"
            )
        others = [v for v, _ in self.store.list_vnfds()] + list(builtin_vnfds().values()) + list(pending)
        for other in others:
            if other.vnfdId != vnfd.vnfdId and (other.vnfProductName, other.vnfSoftwareVersion) == (
                vnfd.vnfProductName,
                vnfd.vnfSoftwareVersion,
            ):
                raise ConflictError(
                    f"{vnfd.vnfProductName} {vnfd.vnfSoftwareVersion} is already described by VNFD "
                    f"{other.vnfdId!r}: one VNFD per product version"
                )
        check_vnfd(vnfd)
        return True

    def onboard_vnfd(self, data: Vnfd | Mapping[str, Any], *, base_dir: Path | None = None) -> Vnfd:
        vnfd = data if isinstance(data, Vnfd) else parse_vnfd(data, base_dir=base_dir)
        if self._vet_vnfd(vnfd):
            self.store.put_vnfd(vnfd, now())
        return vnfd

    def onboard_vnfds(self, docs: Iterable[Mapping[str, Any]], *, base_dir: Path | None = None) -> list[Vnfd]:
        """Onboard several VNFDs: all are checked before any is written."""
        vnfds = [parse_vnfd(d, base_dir=base_dir) for d in docs]
        new = [v for v in vnfds if self._vet_vnfd(v, pending=[o for o in vnfds if o is not v])]
        with self.store.transaction():
            for v in new:
                self.store.put_vnfd(v, now())
        return vnfds

    def delete_vnfd(self, vnfd_id: str) -> None:
        pkg = self.vnf_package(vnfd_id)
        if pkg.builtin:
            raise ConflictError(f"{vnfd_id!r} is a built-in VNFD (from the catalog): it cannot be deleted")
        in_ops = [o.id for o in self.store.list_ops(states=ACTIVE_STATES)]
        if pkg.used_by or in_ops:
            raise ConflictError(
                f"VNFD {vnfd_id!r} is in use by {', '.join(pkg.used_by) or 'operations in progress'}"
            )
        self.store.delete_vnfd(vnfd_id)

    # --- NSDs ---------------------------------------------------------------------------------
    def nsd(self, nsd_id: str, extra: Nsd | None = None) -> Nsd:
        if extra is not None and extra.nsdId == nsd_id:
            return extra
        stored = self.store.get_nsd(nsd_id)
        if stored is None:
            raise NotFoundError("NSD", nsd_id, [n.nsdId for n, _ in self.store.list_nsds()])
        return stored[0]

    def nsds(self) -> list[tuple[Nsd, dt.datetime]]:
        return self.store.list_nsds()

    def _vet_nsd(self, nsd: Nsd, extra: Mapping[str, Vnfd] | None = None) -> bool:
        what = f"NSD {nsd.nsdId!r}"
        errors: list[tuple[str, str]] = []
        vnfds: dict[str, Vnfd] = {}
        for i, p in enumerate(nsd.vnfProfiles):
            try:
                vnfds[p.vnfProfileId] = vnfd = self._vnfd(p.vnfdId, extra)
            except NotFoundError as e:
                errors.append((f"vnfProfiles[{i}].vnfdId", str(e)))
                continue
            try:
                member_spec(vnfd, p.config, what=what, where=f"vnfProfiles[{i}].config")
            except DescriptorError as e:
                errors += e.errors
        for i, fp in enumerate(nsd.forwardingPaths):
            for pid in fp.vnfProfileIds:
                v = vnfds.get(pid)
                if v is not None and fp.hook not in v.supportedHooks:
                    errors.append(
                        (
                            f"forwardingPaths[{i}].hook",
                            f"VNF profile {pid!r} ({v.vnfdId}) does not support {fp.hook} "
                            f"(supports: {', '.join(v.supportedHooks)})",
                        )
                    )
        if errors:
            raise DescriptorError(what, errors)
        stored = self.store.get_nsd(nsd.nsdId)
        if stored is not None:
            if stored[0].model_dump() == nsd.model_dump():
                return False
            raise ConflictError(
                f"NSD {nsd.nsdId!r} is already onboarded with other content (give the new one another nsdId)"
            )
        return True

    def onboard_nsd(self, data: Nsd | Mapping[str, Any]) -> Nsd:
        nsd = data if isinstance(data, Nsd) else parse_nsd(data)
        if self._vet_nsd(nsd):
            self.store.put_nsd(nsd, now())
        return nsd

    def delete_nsd(self, nsd_id: str) -> None:
        self.nsd(nsd_id)
        users = [ns.nsInstanceName for ns in self.store.list_ns() if ns.nsdId == nsd_id]
        if users:
            raise ConflictError(f"NSD {nsd_id!r} is in use by NS instances {', '.join(users)}")
        self.store.delete_nsd(nsd_id)

    # --- NS instances -------------------------------------------------------------------------
    def create_ns(self, nsd_id: str, name: str | None = None, description: str = "") -> NsInstance:
        nsd = self.nsd(nsd_id)
        name = name or nsd.nsdId
        self._check_name(name)
        ns = NsInstance(id=new_id("ns"), nsInstanceName=name, nsInstanceDescription=description, nsdId=nsd_id)
        with self.store.transaction():
            if self.store.find_ns(name) is not None:
                raise ConflictError(f"there is already an NS instance named {name!r}")
            self.store.put_ns(ns)
        return ns

    def _check_name(self, name: str) -> None:
        if not _NAME.match(name):
            raise DescriptorError(
                "NS instance", [("nsInstanceName", f"{name!r}: letters, digits, _ and -; 32 max")]
            )

    def ns(self, ref: str) -> NsInstance:
        ns = self.store.get_ns(ref) or self.store.find_ns(ref)
        if ns is None:
            raise NotFoundError("NS instance", ref, [n.nsInstanceName for n in self.store.list_ns()])
        return ns

    def ns_list(self) -> list[NsInstance]:
        return self.store.list_ns()

    def delete_ns(self, ref: str) -> None:
        ns = self.ns(ref)
        if ns.nsState != NsState.NOT_INSTANTIATED:
            raise ConflictError(f"NS instance {ns.nsInstanceName!r} is {ns.nsState}: terminate it first")
        if self.store.list_ops(ns.id, ACTIVE_STATES):
            raise ConflictError(f"NS instance {ns.nsInstanceName!r} has an operation in progress")
        self.store.delete_ns(ns.id)

    # --- operation occurrences ----------------------------------------------------------------
    def op(self, occ_id: str) -> OpOcc:
        occ = self.store.get_op(occ_id)
        if occ is None:
            raise NotFoundError("operation occurrence", occ_id)
        return occ

    def ops(self, ns_ref: str | None = None, states: Iterable[OpState] | None = None) -> list[OpOcc]:
        ns_id = None
        if ns_ref is not None:  # a name, or an id (also of an instance deleted since)
            found = self.store.find_ns(ns_ref)
            ns_id = found.id if found is not None else ns_ref
        return self.store.list_ops(ns_id, states)

    # --- what a snapshot wants from the kernel ------------------------------------------------
    def _spec_cache(self) -> Callable[[VnfInstance], MemberSpec]:
        """VNF instance -> its member; built once per (VNFD content, config) for this manager's life
        (validating a config can be costly: a big blocklist, and /metrics asks at every scrape)."""

        def spec(v: VnfInstance) -> MemberSpec:
            vnfd = self._vnfd(v.vnfdId)
            return self._build_spec(vnfd.model_dump_json(by_alias=True), json.dumps(v.config, sort_keys=True))

        return spec

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one manager per process; entries are small
    def _build_spec(self, vnfd_json: str, config_json: str) -> MemberSpec:
        vnfd = Vnfd.model_validate_json(vnfd_json)
        return member_spec(vnfd, json.loads(config_json), what=f"VNF {vnfd.vnfdId}")

    def _wants(
        self, ns: NsInstance, spec_for: Callable[[VnfInstance], MemberSpec] | None = None
    ) -> dict[ChainId, Want]:
        return wants(ns, spec_for or self._spec_cache())

    def resolve_record(self, record: dict[str, Any]) -> MemberSpec:
        """A chain record's member rebuilt from its VNFD (product + version), else from the record alone."""
        candidates = [v for v, _ in self.store.list_vnfds()] + list(builtin_vnfds().values())
        for vnfd in candidates:
            if (vnfd.vnfProductName, vnfd.vnfSoftwareVersion) == (record.get("vnf"), record.get("version")):
                try:
                    return member_spec(vnfd, record.get("config") or {})
                except DescriptorError:
                    break
        return raw_resolver(record)

    # --- validation of a request into a target snapshot ---------------------------------------
    def _request(self, op: Operation, request: BaseModel | Mapping[str, Any] | None) -> Any:
        model = REQUESTS[op]
        if isinstance(request, model):
            return request
        data = (
            request.model_dump(exclude_unset=True) if isinstance(request, BaseModel) else dict(request or {})
        )
        return parse_model(model, data, f"{op.value} request")

    def _target(
        self,
        op: Operation,
        ns: NsInstance,
        req: Any,
        *,
        nsd: Nsd | None = None,
        extra: Mapping[str, Vnfd] | None = None,
    ) -> NsInstance:
        """The NS instance as ``req`` wants it (validated against descriptors and this host)."""
        return targets.target(
            op,
            ns,
            req,
            lookup=lambda vnfd_id: self._vnfd(vnfd_id, extra),
            nsd=lambda nsd_id: self.nsd(nsd_id, nsd),
            driver=self.driver,
        )

    def _check_free(self, ns: NsInstance, before: dict[ChainId, Any], target: dict[ChainId, Any]) -> None:
        """New chains must not land on a hook another NS instance (or anyone) already uses."""
        new = [c for c in target if c not in before]
        if not new:
            return
        taken: dict[ChainId, str] = {}
        for other in self.store.list_ns():
            if other.id != ns.id and other.nsState == NsState.INSTANTIATED:
                for cid in targets.chain_ids(other):
                    taken[cid] = other.nsInstanceName
        present = set(self.driver.chain_ids())
        for cid in new:
            if cid in taken:
                raise ConflictError(f"{cid} is used by NS instance {taken[cid]!r}")
            if cid in present:
                raise ConflictError(f"there is already a chain on {cid} that is not this NS instance's")

    # --- running operations ---------------------------------------------------------------------
    def start(
        self, ref: str, op: Operation | str, request: BaseModel | Mapping[str, Any] | None = None
    ) -> OpOcc:
        """Validate ``request`` and record the occurrence (STARTING). Nothing changes on refusal."""
        op = Operation(op)
        self.recover()  # an interrupted operation on this NS must be resolved first
        ns = self.ns(ref)
        req = self._request(op, request)
        target = self._target(op, ns, req)
        self._check_free(ns, targets.chain_ids(ns), targets.chain_ids(target))
        self._wants(target)  # every member can be built
        t = now()
        occ = OpOcc(
            id=new_id("op"),
            operationState=OpState.STARTING,
            stateEnteredTime=t,
            startTime=t,
            nsInstanceId=ns.id,
            lcmOperationType=op,
            operationParams=req.model_dump(mode="json", exclude_defaults=False),
            owner=identity(),
        )
        with self.store.transaction():
            busy = self.store.list_ops(ns.id, ACTIVE_STATES)
            if busy:
                raise ConflictError(
                    f"NS instance {ns.nsInstanceName!r} has an operation in progress: "
                    f"{busy[0].lcmOperationType} {busy[0].id} ({busy[0].operationState})"
                )
            current = self.store.get_ns(ns.id)
            if current is None or current.model_dump() != ns.model_dump():
                raise ConflictError(f"NS instance {ns.nsInstanceName!r} changed meanwhile: try again")
            self.store.put_op(occ, before=ns, target=target)
        return occ

    def run(self, occ_id: str) -> OpOcc:
        """Carry out a STARTING occurrence: kernel steps with a journal, then commit or roll back."""
        try:
            with self.lock.hold():
                return self._run(occ_id)
        except LcmBusyError as e:  # never got to touch anything
            occ = self.op(occ_id)
            if occ.operationState == OpState.STARTING:
                occ.error = _problem(f"{occ.lcmOperationType.value} not started", e, 409)
                self._set_state(occ, OpState.ROLLED_BACK)
            return occ

    def _run(self, occ_id: str) -> OpOcc:
        occ = self.op(occ_id)
        if occ.operationState != OpState.STARTING:
            return occ
        before, target = self.store.op_snapshots(occ.id)
        self._crash_point(occ, "started")
        try:
            spec_for = self._spec_cache()
            bw = self._wants(before, spec_for)
            tw = self._wants(target, spec_for)
            occ.journal = self._plan(occ.lcmOperationType, bw, tw)
        except Exception as e:  # nothing was touched: the occurrence records why
            occ.error = _problem(f"{occ.lcmOperationType.value} not started", e)
            self._set_state(occ, OpState.ROLLED_BACK)
            return occ
        occ.owner = identity()
        self._set_state(occ, OpState.PROCESSING)
        try:
            for step in occ.journal:
                step.state = "running"
                self.store.put_op(occ)
                self._crash_point(occ, f"before-step-{step.n}")
                t0 = time.perf_counter()
                cid = ChainId.from_key(step.chainKey)
                done = self._apply(occ, cid, tw.get(cid))
                self._crash_point(occ, f"after-step-{step.n}")
                step.ms = round((time.perf_counter() - t0) * 1000, 2)
                step.state = "done"
                if occ.lcmOperationType == Operation.HEAL or any(
                    "re-attached" in d or "reloaded" in d for d in done
                ):
                    step.detail = "; ".join(done) or "nothing to repair"
                self.store.put_op(occ)
            self._crash_point(occ, "before-commit")
            self._commit(occ, target)
        except Exception as e:  # any failure rolls back; the occurrence says why
            for step in occ.journal:
                if step.state == "running":
                    step.state = "failed"
            self._roll_back(occ, bw, tw, e)
        return occ

    def execute(
        self,
        ref: str,
        op: Operation | str,
        request: BaseModel | Mapping[str, Any] | None = None,
        *,
        check: bool = True,
    ) -> OpOcc:
        """``start`` then ``run``; raises :class:`OperationFailedError` unless it COMPLETED (``check``)."""
        occ = self.run(self.start(ref, op, request).id)
        if check and occ.operationState != OpState.COMPLETED:
            raise OperationFailedError(occ)
        return occ

    def instantiate(self, ref: str, netns: str | None = None) -> OpOcc:
        return self.execute(ref, Operation.INSTANTIATE, InstantiateRequest(netns=netns))

    def scale(self, ref: str, request: ScaleRequest | Mapping[str, Any]) -> OpOcc:
        return self.execute(ref, Operation.SCALE, request)

    def update(self, ref: str, request: UpdateRequest | Mapping[str, Any]) -> OpOcc:
        return self.execute(ref, Operation.UPDATE, request)

    def modify_config(self, ref: str, changes: Mapping[str, Mapping[str, Any]]) -> OpOcc:
        """UPDATE/MODIFY_VNF_INFORMATION: profile -> config merge patch."""
        data = [{"vnfProfileId": p, "vnfConfigurableProperties": dict(c)} for p, c in changes.items()]
        return self.update(ref, {"updateType": "MODIFY_VNF_INFORMATION", "modifyVnfInfoData": data})

    def change_package(self, ref: str, changes: Mapping[str, str]) -> OpOcc:
        """UPDATE/CHANGE_VNFPKG: profile -> new vnfdId."""
        data = [{"vnfProfileId": p, "vnfdId": v} for p, v in changes.items()]
        return self.update(ref, {"updateType": "CHANGE_VNFPKG", "changeVnfPackageData": data})

    def heal(self, ref: str, degree: str = "HEAL_RESTORE") -> OpOcc:
        return self.execute(ref, Operation.HEAL, {"degreeHealing": degree})

    def operate(self, ref: str, state: str, stop_verdict: str = "drop") -> OpOcc:
        return self.execute(ref, Operation.OPERATE, {"changeStateTo": state, "stopVerdict": stop_verdict})

    def terminate(self, ref: str) -> OpOcc:
        return self.execute(ref, Operation.TERMINATE, {})

    def deploy(
        self,
        docs: list[dict[str, Any]],
        *,
        base_dir: Path | None = None,
        name: str | None = None,
        netns: str | None = None,
        description: str = "",
    ) -> tuple[NsInstance, OpOcc]:
        """Onboard the VNFDs and the NSD of a deployment file, create the NS instance, instantiate it.

        Everything is validated before anything is written: a refused file changes nothing.
        """
        kinds = [kind_of(d) for d in docs]
        nsd_docs = [d for d, k in zip(docs, kinds, strict=True) if k == "nsd"]
        if len(nsd_docs) != 1:
            raise DescriptorError("deployment", [("", f"expected exactly one NSD, found {len(nsd_docs)}")])
        vnfds = [parse_vnfd(d, base_dir=base_dir) for d, k in zip(docs, kinds, strict=True) if k == "vnfd"]
        ids = [v.vnfdId for v in vnfds]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise DescriptorError("deployment", [("", f"VNFD {', '.join(dup)} appears twice")])
        new_vnfds = [v for v in vnfds if self._vet_vnfd(v, pending=[o for o in vnfds if o is not v])]
        extra = {v.vnfdId: v for v in vnfds}
        nsd = parse_nsd(nsd_docs[0])
        new_nsd = self._vet_nsd(nsd, extra)
        name = name or nsd.nsdId
        self._check_name(name)
        if self.store.find_ns(name) is not None:
            raise ConflictError(f"there is already an NS instance named {name!r}")
        draft = NsInstance(id="(new)", nsInstanceName=name, nsdId=nsd.nsdId)
        req = InstantiateRequest(netns=netns)
        target = self._target(Operation.INSTANTIATE, draft, req, nsd=nsd, extra=extra)
        self._check_free(draft, {}, targets.chain_ids(target))
        for v in new_vnfds:
            self.store.put_vnfd(v, now())
        if new_nsd:
            self.store.put_nsd(nsd, now())
        ns = self.create_ns(nsd.nsdId, name, description)
        try:
            occ = self.execute(ns.id, Operation.INSTANTIATE, req, check=False)
        except BaseException:
            if self.ns(ns.id).nsState == NsState.NOT_INSTANTIATED and not self.store.list_ops(
                ns.id, ACTIVE_STATES
            ):
                self.store.delete_ns(ns.id)
            raise
        if occ.operationState != OpState.COMPLETED:
            self.store.delete_ns(ns.id)  # deploy = create + instantiate: a failed one leaves no instance
            raise OperationFailedError(occ)
        return self.ns(ns.id), occ

    # --- inside an operation -----------------------------------------------------------------
    def _plan(self, op: Operation, bw: dict[ChainId, Want], tw: dict[ChainId, Want]) -> list[JournalStep]:
        steps = []
        for cid in [*bw, *(c for c in tw if c not in bw)]:
            old, new = bw.get(cid), tw.get(cid)
            if op == Operation.HEAL:
                action, detail = "heal", ""
            elif old is not None and new is not None and old.key() == new.key():
                continue
            else:
                action, detail = describe_change(old, new)
            steps.append(
                JournalStep(n=len(steps) + 1, chain=str(cid), chainKey=cid.key, action=action, detail=detail)
            )
        return steps

    def _apply(self, occ: OpOcc, cid: ChainId, want: Want | None) -> list[str]:
        done = converge(self.driver, cid, want)
        if (
            occ.lcmOperationType == Operation.HEAL
            and occ.operationParams.get("degreeHealing") == "COMPLETE_HEALING"
            and want is not None
        ):
            for inst, spec in want.members:
                self.driver.reload(cid, inst, spec)
                done.append(f"{inst} reloaded")
        return done

    def _set_state(self, occ: OpOcc, state: OpState) -> None:
        occ.operationState = state
        occ.stateEnteredTime = now()
        self.store.put_op(occ)

    def _commit(self, occ: OpOcc, target: NsInstance) -> None:
        target = target.model_copy(update={"updatedAt": now()})
        with self.store.transaction():
            self.store.put_ns(target)
            self._set_state(occ, OpState.COMPLETED)

    def _roll_back(
        self, occ: OpOcc, bw: dict[ChainId, Want], tw: dict[ChainId, Want], error: BaseException
    ) -> None:
        failures = []
        for step in reversed(occ.journal):
            if step.state not in ("running", "done", "failed"):
                continue
            cid = ChainId.from_key(step.chainKey)
            try:
                converge(self.driver, cid, bw.get(cid))
                step.state = "undone"
            except Exception as e:
                failures.append(f"{step.chain}: {e}")
        title = f"{occ.lcmOperationType.value} failed"
        if failures:
            occ.error = _problem(
                title, f"{error}; rollback incomplete ({'; '.join(failures)}): heal the NS instance"
            )
            occ.error.type = type(error).__name__
            self._set_state(occ, OpState.FAILED)
        else:
            occ.error = _problem(title, error)
            self._set_state(occ, OpState.ROLLED_BACK)

    @staticmethod
    def _crash_point(occ: OpOcc, point: str) -> None:
        if os.environ.get(CRASH_ENV) == f"{occ.lcmOperationType.value}:{point}":
            os.kill(os.getpid(), signal.SIGKILL)  # a test hook: die like kill -9, here

    # --- recovery -----------------------------------------------------------------------------
    def recover(self) -> list[OpOcc]:
        """Resolve the occurrences left STARTING or PROCESSING by processes that died."""
        orphans = [o for o in self.store.list_ops(states=ACTIVE_STATES) if not alive(o.owner)]
        if not orphans:
            return []
        resolved = []
        with self.lock.hold():
            for o in orphans:
                occ = self.store.get_op(o.id)
                if occ is None or occ.operationState not in ACTIVE_STATES or alive(occ.owner):
                    continue
                resolved.append(self._resolve(occ))
        return resolved

    def _resolve(self, occ: OpOcc) -> OpOcc:
        before, target = self.store.op_snapshots(occ.id)
        dead = occ.owner.split(":")[1] if occ.owner.count(":") >= 2 else "?"
        occ.resolvedAtRecovery = True
        occ.owner = identity()
        try:
            spec_for = self._spec_cache()
            bw, tw = self._wants(before, spec_for), self._wants(target, spec_for)
            cids = [*bw, *(c for c in tw if c not in bw)]
            if occ.operationState == OpState.STARTING:
                for cid in cids:
                    converge(self.driver, cid, bw.get(cid))
                occ.error = _problem("interrupted", f"process {dead} died before it changed anything", 500)
                self._set_state(occ, OpState.ROLLED_BACK)
            elif occ.lcmOperationType in ROLL_FORWARD:
                for cid in cids:
                    converge(self.driver, cid, tw.get(cid))
                for step in occ.journal:
                    step.state = "done"
                self._commit(occ, target)
            elif all(matches(self.driver.inspect(cid), tw.get(cid)) for cid in cids):
                for step in occ.journal:
                    step.state = "done"
                self._commit(occ, target)
            else:
                at = next((s for s in occ.journal if s.state != "done"), None)
                where = f" at step {at.n} ({at.action} {at.chain})" if at else ""
                self._roll_back(
                    occ, bw, tw, _Interrupted(f"process {dead} died{where}; recovery rolled it back")
                )
        except Exception as e:
            occ.error = _problem("recovery failed", e)
            self._set_state(occ, OpState.FAILED)
        return occ

    # --- observation ----------------------------------------------------------------------------
    def chains(self, ref: str | NsInstance) -> list[ChainReport]:
        """The chains an NS instance wants, each with what the kernel has (read only)."""
        ns = ref if isinstance(ref, NsInstance) else self.ns(ref)
        out = []
        for cid, want in self._wants(ns).items():
            view = self.driver.observe(cid)
            out.append(ChainReport(cid, want.path, want, view, matches(view, want)))
        return out


class _Interrupted(Exception):
    """The process running an operation died (recovery's error)."""
