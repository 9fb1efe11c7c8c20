"""The MANO commands end to end: ns, ops, vnfd, nsd, serve (the installed ``alveole`` script)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from alveole.mano.testing import Isolated, attached_programs, isolated, pinned
from alveole.trafficgen import Generator, udp

from .cli import ALVEOLE, alveole

HOP = Path(__file__).resolve().parents[1] / "kernel" / "progs" / "hop.bpf.c"
VNFD = {
    "vnfdId": "hop-1",
    "vnfProvider": "tests",
    "vnfProductName": "hop",
    "vnfSoftwareVersion": "1",
    "program": {"source": str(HOP), "entries": {"xdp": "hop_xdp", "tc": "hop_tc"}},
    "supportedHooks": ["xdp", "tc-ingress"],
    "configurableProperties": {
        "properties": {"tag": {"default": 1}, "verdict": {"default": 0}, "mark": {"default": 0}}
    },
}
NSD = {
    "nsdId": "svc",
    "vnfProfiles": [{"vnfProfileId": "mon", "vnfdId": "flowmon"}, {"vnfProfileId": "tag", "vnfdId": "hop-1"}],
    "virtualLinks": [{"virtualLinkId": "lan", "interfaces": ["alvt0"], "cidrs": ["198.18.0.0/24"]}],
    "forwardingPaths": [
        {"forwardingPathId": "in", "virtualLinkId": "lan", "hook": "xdp", "vnfProfileIds": ["mon", "tag"]},
        {"forwardingPathId": "tc", "virtualLinkId": "lan", "hook": "tc-ingress", "vnfProfileIds": ["tag"]},
    ],
}


@pytest.fixture
def host(tmp_path: Path) -> Iterator[Isolated]:
    with isolated(tmp_path / "state") as iso:
        yield iso


def _json(*args: str) -> object:
    return json.loads(alveole(*args, "--json").stdout)


def test_schemas() -> None:
    vnfd = json.loads(alveole("vnfd", "schema").stdout)
    nsd = json.loads(alveole("nsd", "schema").stdout)
    assert vnfd["title"].endswith("(VNFD)") and "vnfdId" in vnfd["required"]
    assert nsd["additionalProperties"] is False and "forwardingPaths" in nsd["properties"]


def test_a_refused_descriptor_exits_non_zero_and_changes_nothing(host, tmp_path: Path) -> None:
    bad = dict(NSD, forwardingPaths=[dict(NSD["forwardingPaths"][0], hook="ingress")])
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump_all([VNFD, bad]))
    proc = alveole("ns", "deploy", str(f), check=False)
    assert proc.returncode == 1
    assert "forwardingPaths[0].hook" in proc.stderr and "Traceback" not in proc.stderr
    assert _json("ns", "list") == [] and _json("ops", "list") == []
    assert "hop-1" not in [p["id"] for p in _json("vnfd", "list")]


def test_lifecycle_through_the_cli(host, veth, tmp_path: Path) -> None:
    ns = veth[0]
    f = tmp_path / "svc.yaml"
    f.write_text(yaml.safe_dump_all([VNFD, NSD]))
    out = _json("ns", "deploy", str(f), "--netns", ns)
    assert out["opOcc"]["operationState"] == "COMPLETED" and out["nsInstance"]["netns"] == ns
    assert attached_programs("alvt0", ns)["xdp"] and attached_programs("alvt0", ns)["tc-ingress"]
    assert [(n["nsInstanceName"], n["nsState"]) for n in _json("ns", "list")] == [("svc", "INSTANTIATED")]
    assert "svc" in alveole("ns", "list").stdout  # the table for people

    with Generator("alvt1", udp(), netns=ns) as gen:
        sent = gen.send(300).sent
    shown = _json("ns", "show", "svc")
    counts = {
        (c["hook"], m["vnfProfileId"]): m["counters"]["continue"]["packets"]
        for c in shown["chains"]
        for m in c["members"]
    }
    assert counts == {("xdp", "mon"): sent, ("xdp", "tag"): sent, ("tc-ingress", "tag"): sent}

    assert _json("ns", "update", "svc", "--set", "tag.tag=9")["opOcc"]["operationState"] == "COMPLETED"
    assert {v["vnfProfileId"]: v["config"] for v in _json("ns", "show", "svc")["vnfInstances"]}["tag"] == {
        "tag": 9
    }
    refused = alveole("ns", "update", "svc", "--set", "tag.colour=1", check=False)
    assert (
        refused.returncode == 1 and "modifyVnfInfoData[0].vnfConfigurableProperties.colour" in refused.stderr
    )
    assert _json("ns", "stop", "svc")["opOcc"]["operationState"] == "COMPLETED"
    assert "STOPPED" in alveole("ns", "show", "svc").stdout
    assert _json("ns", "start", "svc")["opOcc"]["operationState"] == "COMPLETED"
    assert _json("ns", "heal", "svc", "--complete")["opOcc"]["journal"][0]["action"] == "heal"
    assert "COMPLETED" in alveole("ns", "heal", "svc").stdout

    ops = _json("ops", "list", "--ns", "svc")
    assert [o["lcmOperationType"] for o in ops] == [
        "INSTANTIATE",
        "UPDATE",
        "OPERATE",
        "OPERATE",
        "HEAL",
        "HEAL",
    ]
    assert _json("ops", "show", ops[0]["id"])["journal"][0]["state"] == "done"
    assert "INSTANTIATE" in alveole("ops", "list").stdout
    assert _json("vnfd", "show", "hop-1")["configSchema"]["properties"]["tag"]["default"] == 1
    assert _json("nsd", "list")[0]["usedBy"] == ["svc"]

    assert _json("ns", "terminate", "svc")["opOcc"]["operationState"] == "COMPLETED"
    assert _json("ns", "list") == []
    assert attached_programs("alvt0", ns) == {"xdp": [], "tc-ingress": [], "tc-egress": []}
    assert pinned(host.bpffs) == []
    alveole("nsd", "delete", "svc")
    alveole("vnfd", "delete", "hop-1")
    assert "hop-1" not in [p["id"] for p in _json("vnfd", "list")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_exposes_the_api_and_metrics(host) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [ALVEOLE, "serve", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/metrics", timeout=2) as r:
                    metrics = r.read().decode()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.monotonic() < deadline, "alveole serve did not answer"
                time.sleep(0.1)
        assert "# TYPE alveole_vnf_packets_total counter" in metrics
        with urllib.request.urlopen(f"{base}/vnfpkgm/v1/vnf_packages", timeout=5) as r:
            assert "flowmon" in [p["id"] for p in json.loads(r.read())]
        with urllib.request.urlopen(f"{base}/nslcm/v1/ns_instances", timeout=5) as r:
            assert json.loads(r.read()) == []
    finally:
        server.terminate()
        server.wait(timeout=30)
