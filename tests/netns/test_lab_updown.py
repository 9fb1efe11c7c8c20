"""Labs go up and down leaving nothing behind: after success, after a failed step, after a crash."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from alveole import lab
from alveole.system import netns as _netns

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "labs"


@pytest.fixture(autouse=True)
def _private_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALVEOLE_RUN_DIR", str(tmp_path / "run"))


def _name() -> str:
    return f"t{os.getpid() % 10000}-{secrets.token_hex(2)}"


def _example(file: str) -> lab.Topology:
    return lab.load_topology(EXAMPLES / file).model_copy(update={"name": _name()})


def _leftovers(name: str) -> list[str]:
    found = [n for n in os.listdir("/var/run/netns") if n.startswith(f"alv-{name}-")]
    for path in (lab.labs_dir() / f"{name}.json", lab.labs_dir() / f".{name}.lock", Path(lab.pin_dir(name))):
        if path.exists():
            found.append(str(path))
    return found


def _udp_reaches(src_ns: str, dst_ns: str, dst: str) -> bool:
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    with _netns.enter(dst_ns):
        rx = socket.socket(family, socket.SOCK_DGRAM)
    with _netns.enter(src_ns):
        tx = socket.socket(family, socket.SOCK_DGRAM)
    with rx, tx:
        rx.bind((dst, 5555))
        rx.settimeout(2)
        tx.sendto(b"x", (dst, 5555))
        try:
            return rx.recv(10) == b"x"
        except TimeoutError:
            return False


def test_up_is_idempotent_and_down_removes_everything() -> None:
    topo = _example("client-router-server.yaml")
    try:
        first = lab.up(topo)
        again = lab.up(topo)
        assert [r.key for r in again.resources] == [r.key for r in first.resources]
        (st,) = lab.status(topo.name)
        assert st.complete and st.hosts["router"]["alvc0"] == ["198.18.1.254/24", "2001:db8:1::fe/64"]
        assert _udp_reaches(topo.netns("client"), topo.netns("server"), "198.18.2.1")  # routed
        assert _udp_reaches(topo.netns("client"), topo.netns("server"), "2001:db8:2::1")
    finally:
        lab.down(topo.name)
    assert _leftovers(topo.name) == []


def test_bridged_lab_up_and_down() -> None:
    topo = _example("lb.yaml")
    try:
        lab.up(topo)
        assert _udp_reaches(topo.netns("backend1"), topo.netns("backend3"), "198.18.10.13")  # across br0
        assert _udp_reaches(topo.netns("client"), topo.netns("lb"), "198.18.100.1")
    finally:
        lab.down(topo.name)
    assert _leftovers(topo.name) == []


def test_up_converges_a_changed_topology() -> None:
    topo = _example("two-hosts.yaml")
    try:
        lab.up(topo)
        data = topo.model_dump(mode="json")
        data["hosts"]["c"] = {}
        data["links"][0]["ends"][1]["addresses"] = ["198.18.0.3/24"]
        changed = lab.Topology.model_validate(data)
        lab.up(changed)
        (st,) = lab.status(topo.name)
        assert st.hosts["b"]["alveth0"] == ["198.18.0.3/24"] and _netns.exists(topo.netns("c"))
        lab.up(topo)  # back: host c goes away
        assert not _netns.exists(topo.netns("c"))
    finally:
        lab.down(topo.name)
    assert _leftovers(topo.name) == []


def test_a_failing_step_leaves_nothing_behind() -> None:
    data = _example("two-hosts.yaml").model_dump(mode="json")
    data["hosts"]["a"]["routes"] = [{"to": "198.19.0.0/16", "via": "198.18.200.1"}]  # gateway unreachable
    topo = lab.Topology.model_validate(data)
    with pytest.raises(lab.LabError, match="unreachable"):
        lab.up(topo)
    assert _leftovers(topo.name) == []


def test_down_after_a_crash_removes_what_was_created() -> None:
    topo = _example("lb.yaml")
    script = textwrap.dedent(f"""
        import os
        from alveole import lab
        from alveole.lab import apply
        apply._configure_host = lambda *a: os._exit(3)  # dies after creating, before configuring
        lab.up(lab.Topology.model_validate_json({topo.model_dump_json()!r}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert _netns.exists(topo.netns("backend2"))  # the crash left the lab half-made
    removed = lab.down(topo.name)
    assert {r.kind for r in removed} >= {"netns", "veth", "bridge"}
    assert _leftovers(topo.name) == []
