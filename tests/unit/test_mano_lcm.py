"""The lifecycle manager over the in-memory driver: operations, occurrences, rollback, recovery."""

from __future__ import annotations

import copy
import socket
from pathlib import Path

import pytest

from alveole.datapath import ChainId
from alveole.errors import VerifierError
from alveole.mano import (
    ConflictError,
    DescriptorError,
    FakeDriver,
    Lcm,
    NotFoundError,
    OperationFailedError,
    OpState,
    SqliteStore,
)
from alveole.mano.models import OpOcc

from .test_mano_descriptors import NSD, VNFD, _with

A0, A1, A2 = (ChainId(f"alvt{i}", "xdp") for i in range(3))
VNFD2 = {**copy.deepcopy(VNFD), "vnfdId": "hop-2", "vnfSoftwareVersion": "2.0"}
TWO = _with(
    _with(
        NSD,
        "vnfProfiles",
        [
            {"vnfProfileId": "a", "vnfdId": "hop-1", "config": {"tag": 2}},
            {"vnfProfileId": "b", "vnfdId": "hop-1"},
        ],
    ),
    "forwardingPaths[0].vnfProfileIds",
    ["a", "b"],
)


def _lcm(path: Path, driver: FakeDriver) -> Lcm:
    return Lcm(SqliteStore(path / "mano.db"), driver)


@pytest.fixture
def driver() -> FakeDriver:
    return FakeDriver({None: ["alvt0", "alvt1", "alvt2"], "alvns": ["alvt0"]})


@pytest.fixture
def lcm(tmp_path: Path, driver: FakeDriver) -> Lcm:
    lcm = _lcm(tmp_path, driver)
    lcm.onboard_vnfd(VNFD)
    lcm.onboard_vnfd(VNFD2)
    return lcm


def _members(driver: FakeDriver, cid: ChainId) -> list[tuple[str, str, dict]]:
    return [(m.instance, m.spec.version, dict(m.spec.config)) for m in driver.chains[cid].members]


def test_full_lifecycle(lcm: Lcm, driver: FakeDriver) -> None:
    ns, occ = lcm.deploy([TWO], name="svc")
    assert (occ.operationState, ns.nsState) == ("COMPLETED", "INSTANTIATED")
    assert set(driver.chains) == {A0, A1}
    assert _members(driver, A0) == [
        ("a", "1.0", {"tag": 2, "verdict": 0, "mark": 0}),
        ("b", "1.0", {"tag": 1, "verdict": 0, "mark": 0}),
    ]
    assert [s.state for s in occ.journal] == ["done", "done"]

    driver.count(A0, "a", "continue", 10, 600)
    occ = lcm.modify_config("svc", {"b": {"tag": 9}})
    changes = [c for c in driver.calls if c[0] != "inspect"]
    assert changes[-2:] == [("reconfigure", "alvt0/xdp"), ("reconfigure", "alvt1/xdp")]
    assert _members(driver, A1)[1][2]["tag"] == 9 and lcm.ns("svc").vnf("b").config == {"tag": 9}
    assert driver.chains[A0].members[0].counters["continue"] == (10, 600)

    occ = lcm.change_package("svc", {"a": "hop-2"})
    assert occ.journal[0].detail == "update a 1.0 -> 2.0"
    assert [m[1] for m in _members(driver, A0)] == ["2.0", "1.0"]
    assert lcm.ns("svc").vnf("a").vnfdId == "hop-2"
    assert driver.chains[A0].members[0].counters["continue"] == (10, 600)  # same product: state kept

    lcm.scale("svc", {"scaleType": "SCALE_OUT", "vnfProfileId": "a", "interfaces": ["alvt2"]})
    assert set(driver.chains) == {A0, A1, A2}
    lcm.scale("svc", {"scaleType": "SCALE_IN", "virtualLinkId": "lan", "interfaces": ["alvt0"]})
    assert set(driver.chains) == {A1, A2}

    lcm.operate("svc", "STOPPED")
    assert all(c.members == [] and c.end == "drop" for c in driver.chains.values())
    lcm.operate("svc", "STARTED")
    assert [m[0] for m in _members(driver, A2)] == ["a", "b"] and driver.chains[A2].end == "pass"

    driver.chains[A1].attached = False  # the dispatcher was detached behind our back
    assert [r.in_sync for r in lcm.chains("svc")] == [False, True]
    occ = lcm.heal("svc")
    assert occ.journal[0].detail == "re-attached the dispatcher" and all(r.in_sync for r in lcm.chains("svc"))
    occ = lcm.heal("svc", "COMPLETE_HEALING")
    assert ("reload", "alvt2/xdp") in driver.calls

    lcm.terminate("svc")
    assert driver.chains == {} and lcm.ns("svc").nsState == "NOT_INSTANTIATED"
    lcm.delete_ns("svc")
    ops = lcm.ops()
    assert [o.lcmOperationType for o in ops] == [
        "INSTANTIATE",
        "UPDATE",
        "UPDATE",
        "SCALE",
        "SCALE",
        "OPERATE",
        "OPERATE",
        "HEAL",
        "HEAL",
        "TERMINATE",
    ]
    assert {o.operationState for o in ops} == {OpState.COMPLETED}


def test_a_failed_step_rolls_back_what_was_done(lcm: Lcm, driver: FakeDriver) -> None:
    lcm.deploy([TWO], name="svc")
    before = (_members(driver, A0), _members(driver, A1), lcm.ns("svc"))
    driver.fail("update", VerifierError("hop_xdp", "R1 invalid mem access 'scalar'", 13), chain=A1)
    with pytest.raises(OperationFailedError) as e:
        lcm.change_package("svc", {"a": "hop-2"})
    occ = e.value.occ
    assert occ.operationState == "ROLLED_BACK"
    assert "R1 invalid mem access" in occ.error.detail and occ.error.type == "VerifierError"
    assert [s.state for s in occ.journal] == ["undone", "undone"]
    assert (_members(driver, A0), _members(driver, A1), lcm.ns("svc")) == before  # A0 went back to 1.0


def test_a_failed_rollback_is_failed(lcm: Lcm, driver: FakeDriver) -> None:
    lcm.deploy([TWO], name="svc")
    driver.fail("update", RuntimeError("probe failed"), chain=A1)
    driver.fail("update", RuntimeError("old version refused"), chain=A0, skip=1)  # the way back fails
    occ = lcm.execute(
        "svc",
        "UPDATE",
        {"updateType": "CHANGE_VNFPKG", "changeVnfPackageData": [{"vnfProfileId": "a", "vnfdId": "hop-2"}]},
        check=False,
    )
    assert occ.operationState == "FAILED"
    assert "rollback incomplete" in occ.error.detail and "old version refused" in occ.error.detail
    assert (
        lcm.ns("svc").vnf("a").vnfdId == "hop-1"
    )  # the instance keeps its last known intent: heal goes there
    lcm.heal("svc")
    assert [m[1] for m in _members(driver, A0)] == ["1.0", "1.0"]


def test_instantiate_failure_leaves_nothing(lcm: Lcm, driver: FakeDriver) -> None:
    driver.fail("create", RuntimeError("no more XDP"), chain=A1)
    with pytest.raises(OperationFailedError):
        lcm.deploy([TWO], name="svc")
    assert driver.chains == {}
    with pytest.raises(NotFoundError):
        lcm.ns("svc")  # deploy = create + instantiate: a failed deploy leaves no instance
    assert [(o.lcmOperationType, o.operationState) for o in lcm.ops()] == [("INSTANTIATE", "ROLLED_BACK")]


def test_refused_requests_change_nothing(lcm: Lcm, driver: FakeDriver) -> None:
    lcm.deploy([TWO], name="svc")
    calls, ops = list(driver.calls), lcm.ops()
    cases = [
        (
            "UPDATE",
            {
                "updateType": "MODIFY_VNF_INFORMATION",
                "modifyVnfInfoData": [{"vnfProfileId": "a", "vnfConfigurableProperties": {"tag": 0}}],
            },
            "modifyVnfInfoData[0].vnfConfigurableProperties.tag",
        ),
        (
            "UPDATE",
            {
                "updateType": "MODIFY_VNF_INFORMATION",
                "modifyVnfInfoData": [{"vnfProfileId": "z", "vnfConfigurableProperties": {}}],
            },
            "modifyVnfInfoData[0].vnfProfileId",
        ),
        (
            "UPDATE",
            {
                "updateType": "CHANGE_VNFPKG",
                "changeVnfPackageData": [{"vnfProfileId": "a", "vnfdId": "flowmon"}],
            },
            "changeVnfPackageData[0].vnfdId",
        ),
        ("UPDATE", {"updateType": "CHANGE_VNFPKG"}, ""),
        (
            "SCALE",
            {"scaleType": "SCALE_OUT", "virtualLinkId": "lan", "interfaces": ["alvt7"]},
            "interfaces[0]",
        ),
        (
            "SCALE",
            {"scaleType": "SCALE_OUT", "virtualLinkId": "lan", "interfaces": ["alvt0"]},
            "interfaces[0]",
        ),
        (
            "SCALE",
            {"scaleType": "SCALE_IN", "virtualLinkId": "lan", "interfaces": ["alvt0", "alvt1"]},
            "interfaces",
        ),
        ("SCALE", {"scaleType": "SCALE_OUT", "interfaces": ["alvt2"]}, ""),
        ("OPERATE", {"changeStateTo": "PAUSED"}, "changeStateTo"),
        ("HEAL", {"degreeHealing": "HEAL_QOS"}, "degreeHealing"),
    ]
    for op, request, field in cases:
        with pytest.raises(DescriptorError) as e:
            lcm.execute("svc", op, request)
        assert e.value.errors[0][0] == field, (op, request, e.value.errors)
    with pytest.raises(ConflictError, match="already STARTED"):
        lcm.operate("svc", "STARTED")
    with pytest.raises(ConflictError, match="already instantiated"):
        lcm.instantiate("svc")
    assert driver.calls == calls and lcm.ops() == ops


def test_chains_in_use_are_refused(lcm: Lcm, driver: FakeDriver) -> None:
    lcm.deploy([TWO], name="one")
    with pytest.raises(ConflictError, match="used by NS instance 'one'"):
        lcm.deploy([TWO], name="two")
    driver.chains[A2] = copy.deepcopy(driver.chains[A0])  # someone else's chain (alveole chain ...)
    with pytest.raises(ConflictError, match="already a chain on alvt2/xdp"):
        lcm.scale("one", {"scaleType": "SCALE_OUT", "virtualLinkId": "lan", "interfaces": ["alvt2"]})
    with pytest.raises(ConflictError, match="terminate it first"):
        lcm.delete_ns("one")
    with pytest.raises(ConflictError, match="in use by NS one, NSD pair"):
        lcm.delete_vnfd("hop-1")
    with pytest.raises(ConflictError, match="built-in"):
        lcm.delete_vnfd("flowmon")
    with pytest.raises(ConflictError, match="other content"):
        lcm.onboard_vnfd(_with(VNFD, "description", "changed"))
    with pytest.raises(ConflictError, match="one VNFD per product version"):
        lcm.onboard_vnfd(_with(VNFD, "vnfdId", "hop-1-again"))
    lcm.onboard_vnfd(VNFD)  # the same descriptor again: fine


def test_netns_comes_from_the_request_or_the_nsd(lcm: Lcm, driver: FakeDriver) -> None:
    nsd = _with(_with(NSD, "netns", "alvns"), "virtualLinks[0].interfaces", ["alvt0"])
    lcm.deploy([nsd], name="inns")
    assert set(driver.chains) == {ChainId("alvt0", "xdp", "alvns")}
    lcm.terminate("inns")
    lcm.instantiate("inns", netns=None)
    assert set(driver.chains) == {ChainId("alvt0", "xdp", "alvns")}


def test_one_operation_at_a_time_per_ns(lcm: Lcm) -> None:
    lcm.deploy([TWO], name="svc")
    occ = lcm.start("svc", "HEAL")
    assert occ.operationState == "STARTING"
    with pytest.raises(ConflictError, match=f"operation in progress: HEAL {occ.id}"):
        lcm.start("svc", "HEAL")
    assert lcm.run(occ.id).operationState == "COMPLETED"
    assert lcm.run(occ.id).operationState == "COMPLETED"  # running it twice does nothing


def _orphan(lcm: Lcm, op: str, request: dict, state: OpState, done_steps: int) -> OpOcc:
    """An occurrence as a process killed in the middle would leave it: steps done, owner dead."""
    occ = lcm.start("svc", op, request)
    before, target = lcm.store.op_snapshots(occ.id)
    bw, tw = lcm._wants(before), lcm._wants(target)
    occ.journal = lcm._plan(occ.lcmOperationType, bw, tw)
    for step in occ.journal[:done_steps]:
        cid = ChainId.from_key(step.chainKey)
        lcm._apply(occ, cid, tw.get(cid))
        step.state = "done"
    occ.operationState = state
    occ.owner = f"{socket.gethostname()}:999999999:1"  # no such pid: its process is dead
    lcm.store.put_op(occ)
    return occ


@pytest.mark.parametrize(
    ("op", "request_", "done", "outcome"),
    [
        (
            "SCALE",
            {"scaleType": "SCALE_OUT", "virtualLinkId": "lan", "interfaces": ["alvt2"]},
            0,
            "ROLLED_BACK",
        ),
        (
            "SCALE",
            {"scaleType": "SCALE_OUT", "virtualLinkId": "lan", "interfaces": ["alvt2"]},
            1,
            "COMPLETED",
        ),
        (
            "UPDATE",
            {
                "updateType": "CHANGE_VNFPKG",
                "changeVnfPackageData": [{"vnfProfileId": "a", "vnfdId": "hop-2"}],
            },
            1,
            "ROLLED_BACK",
        ),
        (
            "UPDATE",
            {
                "updateType": "CHANGE_VNFPKG",
                "changeVnfPackageData": [{"vnfProfileId": "a", "vnfdId": "hop-2"}],
            },
            2,
            "COMPLETED",
        ),
        ("TERMINATE", {}, 1, "COMPLETED"),
    ],
)
def test_recovery_completes_or_rolls_back(
    tmp_path: Path, lcm: Lcm, driver: FakeDriver, op, request_, done, outcome
) -> None:
    lcm.deploy([TWO], name="svc")
    before = {cid: _members(driver, cid) for cid in driver.chains}
    occ = _orphan(lcm, op, request_, OpState.PROCESSING, done)
    restarted = _lcm(tmp_path, driver)  # a new manager: recover() at start
    assert [(o.id, o.operationState) for o in restarted.recovered] == [(occ.id, outcome)]
    final = restarted.op(occ.id)
    assert final.resolvedAtRecovery
    ns = restarted.ns("svc")
    if outcome == "ROLLED_BACK":
        assert {cid: _members(driver, cid) for cid in driver.chains} == before
        assert "died" in final.error.detail
    elif op == "TERMINATE":
        assert driver.chains == {} and ns.nsState == "NOT_INSTANTIATED"
    else:
        assert all(r.in_sync for r in restarted.chains(ns))
    assert restarted.recover() == []  # resolved once


def test_recovery_of_a_starting_occurrence_touches_nothing(
    tmp_path: Path, lcm: Lcm, driver: FakeDriver
) -> None:
    lcm.deploy([TWO], name="svc")
    occ = _orphan(lcm, "HEAL", {}, OpState.STARTING, 0)
    calls = len(driver.calls)
    restarted = _lcm(tmp_path, driver)
    assert restarted.op(occ.id).operationState == "ROLLED_BACK"
    assert {a for a, _ in driver.calls[calls:]} <= {"inspect"}


def test_store_survives_reopening(tmp_path: Path, lcm: Lcm, driver: FakeDriver) -> None:
    ns, occ = lcm.deploy([TWO], name="svc")
    again = _lcm(tmp_path, driver)
    assert again.ns("svc") == ns and again.op(occ.id) == occ
    assert [v.vnfProfileId for _, v in again.store.list_vnf_instances(ns.id)] == ["a", "b"]
    packages = {p.vnfd.vnfdId: p for p in again.vnf_packages()}
    assert packages["hop-1"].usage_state == "IN_USE" and packages["hop-2"].usage_state == "NOT_IN_USE"
    assert not packages["hop-1"].builtin and packages["flowmon"].builtin
