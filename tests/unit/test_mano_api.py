"""The REST API over the in-memory driver: SOL005-style resources, problem details, /metrics."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from alveole.datapath import ChainId
from alveole.mano import FakeDriver, Lcm, SqliteStore
from alveole.mano.api import create_app, get_lcm

from .test_mano_descriptors import NSD, VNFD, _with

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx2
    from fastapi.testclient import TestClient

PKG, NSDS, NSI, OCC = (
    "/vnfpkgm/v1/vnf_packages",
    "/nsd/v1/ns_descriptors",
    "/nslcm/v1/ns_instances",
    "/nslcm/v1/ns_lcm_op_occs",
)


@pytest.fixture
def lcm(tmp_path: Path) -> Lcm:
    return Lcm(SqliteStore(tmp_path / "mano.db"), FakeDriver({None: ["alvt0", "alvt1", "alvt2"]}))


@pytest.fixture
def client(lcm: Lcm) -> TestClient:
    return TestClient(create_app(lcm))


def _deploy(client: TestClient) -> str:
    assert client.post(PKG, json=VNFD).status_code == 201
    assert client.post(NSDS, json=NSD).status_code == 201
    r = client.post(NSI, json={"nsdId": "pair", "nsName": "svc"})
    assert r.status_code == 201 and r.headers["location"] == f"{NSI}/{r.json()['id']}"
    ns_id = r.json()["id"]
    r = client.post(f"{NSI}/{ns_id}/instantiate", json={})
    assert r.status_code == 202 and r.json()["operationState"] == "STARTING"
    assert client.get(r.headers["location"]).json()["operationState"] == "COMPLETED"
    return ns_id


def test_packages_descriptors_and_instances(client: TestClient) -> None:
    ns_id = _deploy(client)
    pkg = client.get(f"{PKG}/hop-1").json()
    assert (pkg["usageState"], pkg["usedBy"]) == ("IN_USE", ["NS svc", "NSD pair"])
    assert client.get(f"{PKG}/hop-1/config_schema").json()["properties"]["tag"]["maximum"] == 255
    assert client.get(f"{PKG}/flowmon").json()["builtin"] is True
    assert client.get(f"{PKG}/hop-1/vnfd").json()["vnfdId"] == "hop-1"
    assert [n["nsdId"] for n in client.get(NSDS).json()] == ["pair"]
    assert client.get(f"{NSDS}/pair").json()["nsd"]["nsdId"] == "pair"
    ns = client.get(f"{NSI}/{ns_id}").json()
    assert (ns["nsState"], ns["nsInstanceName"], ns["_links"]["scale"]["href"]) == (
        "INSTANTIATED",
        "svc",
        f"{NSI}/{ns_id}/scale",
    )
    assert client.get(f"{NSI}/svc").json()["id"] == ns_id  # by name too
    chains = client.get(f"{NSI}/{ns_id}/chains").json()
    assert [(c["chain"], c["inSync"]) for c in chains] == [("alvt0/xdp", True), ("alvt1/xdp", True)]

    r = client.post(
        f"{NSI}/{ns_id}/update",
        json={
            "updateType": "MODIFY_VNF_INFORMATION",
            "modifyVnfInfoData": [{"vnfProfileId": "a", "vnfConfigurableProperties": {"tag": 5}}],
        },
    )
    assert r.status_code == 202
    assert client.get(r.headers["location"]).json()["journal"][0]["detail"] == "reconfigure a"
    r = client.post(f"{NSI}/{ns_id}/terminate")
    assert client.get(r.headers["location"]).json()["operationState"] == "COMPLETED"
    assert client.delete(f"{NSI}/{ns_id}").status_code == 204
    assert client.delete(f"{NSDS}/pair").status_code == 204
    assert client.delete(f"{PKG}/hop-1").status_code == 204
    ops = client.get(OCC, params={"nsInstanceId": ns_id}).json()
    assert [o["lcmOperationType"] for o in ops] == ["INSTANTIATE", "UPDATE", "TERMINATE"]
    assert client.get(OCC, params={"operationState": "COMPLETED"}).json() == ops


def test_refusals_are_problem_details(client: TestClient) -> None:
    r = client.post(PKG, json=_with(VNFD, "vnfProductName", "Hop!"))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["invalidFields"] == [
        {"field": "vnfProductName", "problem": r.json()["invalidFields"][0]["problem"]}
    ]
    ns_id = _deploy(client)
    r = client.post(
        f"{NSI}/{ns_id}/scale",
        json={"scaleType": "SCALE_OUT", "virtualLinkId": "lan", "interfaces": ["alvt9"]},
    )
    assert (r.status_code, r.json()["invalidFields"]) == (
        422,
        [{"field": "interfaces[0]", "problem": "no interface 'alvt9'"}],
    )
    assert client.post(f"{NSI}/{ns_id}/instantiate", json={}).status_code == 409
    assert client.delete(f"{PKG}/hop-1").status_code == 409
    assert client.post(f"{NSI}/{ns_id}/heal", json={"degreeHealing": "HEAL_QOS"}).status_code == 422
    r = client.get(f"{NSI}/nope")
    assert (r.status_code, r.json()["title"]) == (404, "no such NS instance")
    assert client.get(f"{OCC}/op-0").status_code == 404
    assert client.post(NSI, json={"nsdId": "pair", "nsName": "svc"}).status_code == 409
    assert [o["lcmOperationType"] for o in client.get(OCC).json()] == [
        "INSTANTIATE"
    ]  # refusals leave no trace


def test_metrics_read_the_counters_at_scrape_time(client: TestClient, lcm: Lcm) -> None:
    _deploy(client)
    lcm.driver.count(ChainId("alvt0", "xdp"), "a", "continue", 7, 420)
    text = client.get("/metrics").text
    assert (
        'alveole_vnf_packets_total{hook="xdp",interface="alvt0",ns="svc",verdict="continue",vnf="a"} 7.0'
        in text
    )
    assert (
        'alveole_vnf_bytes_total{hook="xdp",interface="alvt0",ns="svc",verdict="continue",vnf="a"} 420.0'
        in text
    )
    assert 'alveole_chain_in_sync{forwarding_path="in",hook="xdp",interface="alvt1",ns="svc"} 1.0' in text
    assert 'alveole_ns_lcm_op_occs{operation="INSTANTIATE",state="COMPLETED"} 1.0' in text
    lcm.driver.count(ChainId("alvt0", "xdp"), "a", "continue", 1, 60)
    assert 'verdict="continue",vnf="a"} 8.0' in client.get("/metrics").text  # nothing cached
    lcm.driver.chains[ChainId("alvt1", "xdp")].attached = False
    r = client.get("/metrics", headers={"accept": "application/openmetrics-text; version=1.0.0"})
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert 'alveole_chain_attached{forwarding_path="in",hook="xdp",interface="alvt1",ns="svc"} 0.0' in r.text
    assert r.text.rstrip().endswith("# EOF")


def test_dependency_override(lcm: Lcm, tmp_path: Path) -> None:
    app = create_app(lcm)
    other = Lcm(SqliteStore(tmp_path / "other.db"), FakeDriver())
    other.onboard_vnfd(VNFD)
    app.dependency_overrides[get_lcm] = lambda: other
    ids = [p["id"] for p in TestClient(app).get(PKG).json()]
    assert "hop-1" in ids and "hop-1" not in [p.vnfd.vnfdId for p in lcm.vnf_packages()]
