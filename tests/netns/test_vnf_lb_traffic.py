"""The load balancer with real TCP clients: HTTP through a VIP to three backends in a lab.

The lab is examples/labs/lb.yaml (client, LB node, three backends behind a bridge),
under a unique name. Each backend runs alveole.lb.echo_http (answers its own name) in
its namespace; the client's requests come from a thread pool whose threads live in
the client's namespace. Checksum offloads are off on every lab interface, so each
receiver verifies the TCP checksums the LB patched.

Full-NAT: 3000 new connections split within 10% of the weights; removing a backend
moves exactly the long-lived connections that were on it (and no other); stopping a
backend's server takes it out within the health check's budget, after which no new
connection fails; restarting it brings it back. DSR: connections through IPIP to
backends that decapsulate in XDP and answer the client directly. IPv6 full-NAT, with
the backends on another port than the VIP.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import http.client
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyroute2 import NetNS
from pyroute2 import netns as pr_netns

from alveole import lab
from alveole.lb import HealthChecker, LoadBalancer, prepare_dsr_backend, prepare_lb_node
from alveole.system import netns as ns_mod
from alveole.vnf import VnfInstance
from alveole.vnf.lb import LbConfig
from alveole.vnf.lb.model import Reason
from alveole.vnf.lb.state import read_flows, reason_counts

ROOT = Path(__file__).resolve().parents[2]
VIP = "198.18.100.1"
BACKENDS = {"backend1": "198.18.10.11", "backend2": "198.18.10.12", "backend3": "198.18.10.13"}
WEIGHTS = {"backend1": 1, "backend2": 1, "backend3": 2}
LB_ADDR = "198.18.10.1"  # the LB node's address on the backends' bridge: SNAT and tunnel source


@dataclass
class Lab:
    topo: lab.Topology
    servers: dict[str, subprocess.Popen] = field(default_factory=dict)

    def ns(self, host: str) -> str:
        return self.topo.netns(host)

    def start_server(self, name: str) -> None:
        proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.ns(name),
                sys.executable,
                "-m",
                "alveole.lb.echo_http",
                "--name",
                name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        self.servers[name] = proc
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # listening once a connect from the backend itself works
            with ns_mod.enter(self.ns(name)):
                s = __import__("socket").socket()
            try:
                s.settimeout(0.2)
                s.connect((BACKENDS[name], 80))
                return
            except OSError:
                time.sleep(0.05)
            finally:
                s.close()
        raise RuntimeError(f"{name}'s HTTP server did not start")

    def stop_server(self, name: str) -> None:
        proc = self.servers.pop(name)
        proc.kill()
        proc.wait()


def _offloads_off(topo: lab.Topology) -> None:
    """No checksum offload anywhere: every receiver verifies the checksums it gets."""
    for host in topo.hosts:
        with NetNS(topo.netns(host), flags=0) as ns:
            names = [link.get_attr("IFLA_IFNAME") for link in ns.get_links()]
        for name in names:
            if name.startswith("alv"):
                subprocess.run(
                    [
                        "ip",
                        "netns",
                        "exec",
                        topo.netns(host),
                        "ethtool",
                        "-K",
                        name,
                        "rx",
                        "off",
                        "tx",
                        "off",
                    ],
                    check=True,
                    capture_output=True,
                )


@pytest.fixture
def lb_lab(root: None) -> Iterator[Lab]:
    topo = lab.load_topology(ROOT / "examples/labs/lb.yaml")
    topo = topo.model_copy(update={"name": f"lbt{os.getpid() % 10000}{secrets.token_hex(2)}"})
    lab.up(topo)
    t = Lab(topo)
    try:
        _offloads_off(topo)
        prepare_lb_node(t.ns("lb"))
        for name in BACKENDS:
            t.start_server(name)
        yield t
    finally:
        for name in list(t.servers):
            with contextlib.suppress(Exception):
                t.stop_server(name)
        lab.down(topo.name)


class Client:
    """HTTP requests from the client's namespace, many at once."""

    def __init__(self, netns: str, workers: int = 16) -> None:
        path = ns_mod.netns_path(netns)
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, initializer=lambda: pr_netns.setns(path, flags=0)
        )

    def get(self, _: int = 0) -> str:
        """One new connection, one GET: the backend's name, or 'error: ...'."""
        conn = http.client.HTTPConnection(VIP, 80, timeout=3)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            return conn.getresponse().read().decode().strip()
        except OSError as e:
            return f"error: {e}"
        finally:
            conn.close()

    def many(self, n: int) -> Counter[str]:
        return Counter(self.pool.map(self.get, range(n)))

    def open(self, n: int) -> list[http.client.HTTPConnection]:
        def one(_: int) -> http.client.HTTPConnection:
            conn = http.client.HTTPConnection(VIP, 80, timeout=3)
            conn.connect()  # in this (namespaced) worker thread: the socket is the client's
            return conn

        return list(self.pool.map(one, range(n)))

    def again(self, conns: list[http.client.HTTPConnection]) -> list[str]:
        def one(conn: http.client.HTTPConnection) -> str:
            try:
                conn.request("GET", "/")
                return conn.getresponse().read().decode().strip()
            except (OSError, http.client.HTTPException) as e:
                return f"error: {type(e).__name__}"

        return list(self.pool.map(one, conns))

    def close(self) -> None:
        self.pool.shutdown()


def _config(mode: str = "nat", health: bool = False, without: tuple[str, ...] = ()) -> LbConfig:
    return LbConfig.model_validate(
        {
            "vips": [
                {
                    "address": VIP,
                    "port": 80,
                    "mode": mode,
                    "backends": [
                        {"address": addr, "weight": WEIGHTS[name]}
                        for name, addr in BACKENDS.items()
                        if name not in without
                    ],
                    "health": {"kind": "http", "interval": 0.2, "timeout": 0.3, "fall": 2, "rise": 2}
                    if health
                    else None,
                }
            ],
            "snat_ipv4": LB_ADDR,
            "tunnel_ipv4": LB_ADDR,
        }
    )


@contextlib.contextmanager
def _lb_attached(t: Lab, cfg: LbConfig) -> Iterator[VnfInstance]:
    """The LB on the node's client-facing interface and on its bridge ports (full-NAT replies)."""
    ns = t.ns("lb")
    with VnfInstance.load("lb", "xdp", cfg) as inst:
        links = [
            inst.program.attach_xdp(lab.ifname(i), mode="native", netns=ns)
            for i in ("eth0", "b1", "b2", "b3")
        ]
        try:
            yield inst
        finally:
            for link in links:
                link.close()


def _within(counts: Counter[str], total: int, tolerance: float = 0.10) -> list[str]:
    wsum = sum(WEIGHTS.values())
    bad = []
    for name, w in WEIGHTS.items():
        want = total * w / wsum
        if abs(counts[name] - want) > tolerance * want:
            bad.append(f"{name}: {counts[name]} (expected {want:.0f} +- {tolerance:.0%})")
    return bad


def test_full_nat_split_removal_and_health(lb_lab: Lab) -> None:
    t = lb_lab
    cfg = _config(health=True)
    client = Client(t.ns("client"))
    try:
        with _lb_attached(t, cfg) as inst:
            lb = LoadBalancer.of(inst, netns=t.ns("lb"))
            vip = cfg.vips[0]
            ids = {name: vip.backend_id(b) for name, b in zip(BACKENDS, vip.backends, strict=True)}

            # 1. 3000 new connections: every one answered, split within 10% of the weights
            counts = client.many(3000)
            assert sum(counts[n] for n in BACKENDS) == 3000, counts.most_common(5)
            assert not _within(counts, 3000), counts

            # 2. long-lived connections; removing backend3 moves exactly those that were on it
            conns = client.open(120)
            first = client.again(conns)
            assert all(name in BACKENDS for name in first), Counter(first)
            flows_before = read_flows(inst.maps)
            lb.apply(_config(health=True, without=("backend3",)))
            second = client.again(conns)
            kept = [a == b for a, b in zip(first, second, strict=True)]
            on3 = [name == "backend3" for name in first]
            assert sum(on3) > 0
            assert all(k for k, o in zip(kept, on3, strict=True) if not o), "a connection of backend1/2 moved"
            assert not any(k for k, o in zip(kept, on3, strict=True) if o), "a connection of backend3 stayed"
            flows_after = read_flows(inst.maps)
            unmoved = [k for k, f in flows_before.items() if f.backend != ids["backend3"]]
            assert all(flows_after[k].backend == flows_before[k].backend for k in unmoved)
            assert reason_counts(inst.maps)[Reason.REPINNED][0] >= sum(on3)
            for conn in conns:
                conn.close()
            after = client.many(300)
            assert sum(after[n] for n in ("backend1", "backend2")) == 300, after

            # 3. health checks: stop backend2's server -> out within fall x interval (+ timeout)
            lb.apply(cfg)
            changes: list[tuple[float, str, bool]] = []
            with HealthChecker(
                lb, t.ns("lb"), on_change=lambda h: changes.append((time.monotonic(), h.target.address, h.up))
            ) as checker:
                time.sleep(0.5)
                assert not changes, changes
                stopped = time.monotonic()
                t.stop_server("backend2")
                deadline = stopped + 3
                while not changes and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert changes and changes[0][1:] == (BACKENDS["backend2"], False), changes
                took = changes[0][0] - stopped
                check = cfg.vips[0].health
                assert took <= check.fall * check.interval + check.timeout + 0.3, took
                assert ids["backend2"] not in inst.maps["lb_backends"]
                after = client.many(600)
                assert sum(after[n] for n in ("backend1", "backend3")) == 600, after
                # and back: restart it, rise x interval later it takes new connections again
                t.start_server("backend2")
                deadline = time.monotonic() + 3
                while len(changes) < 2 and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert len(changes) == 2 and changes[1][2], changes
                back = client.many(600)
                assert sum(back[n] for n in BACKENDS) == 600 and back["backend2"] > 0, back
                assert checker.health[ids["backend2"]].up
    finally:
        client.close()


def test_dsr_connections_answered_by_the_backends(lb_lab: Lab) -> None:
    t = lb_lab
    cfg = _config(mode="dsr")
    backends = [
        prepare_dsr_backend(t.ns(name), lab.ifname("eth0"), [VIP], [addr]) for name, addr in BACKENDS.items()
    ]
    client = Client(t.ns("client"))
    try:
        with _lb_attached(t, cfg) as inst:
            counts = client.many(400)
            assert sum(counts[n] for n in BACKENDS) == 400, counts
            assert all(counts[n] > 0 for n in BACKENDS), counts
            reasons = reason_counts(inst.maps)
            assert reasons[Reason.NEW][0] >= 400 and reasons[Reason.REPLY][0] == 0
            # the replies went around the LB: their packets never matched a flow or a VIP
            assert all(f.flags == 1 for f in read_flows(inst.maps).values())
    finally:
        client.close()
        for b in backends:
            b.close()


VIP6 = "2001:db8:100::1"
BACKENDS6 = {"backend1": "2001:db8:10::11", "backend2": "2001:db8:10::12", "backend3": "2001:db8:10::13"}


def _add6(t: Lab) -> None:
    """IPv6 on the lab: client and LB on 2001:db8:1::/64, LB and backends on 2001:db8:10::/64."""

    def addr(host: str, ifname: str, address: str) -> None:
        with NetNS(t.ns(host), flags=0) as ns:
            ns.addr("add", index=ns.link_lookup(ifname=lab.ifname(ifname))[0], address=address, prefixlen=64)

    def route(host: str, dst: str, gateway: str) -> None:
        with NetNS(t.ns(host), flags=0) as ns:
            ns.route("add", dst=dst, gateway=gateway, family=10)

    addr("client", "eth0", "2001:db8:1::1")
    addr("lb", "eth0", "2001:db8:1::fe")
    addr("lb", "br0", "2001:db8:10::1")
    route("client", "2001:db8:100::/64", "2001:db8:1::fe")
    for name, a in BACKENDS6.items():
        addr(name, "eth0", a)
        route(name, "default", "2001:db8:10::1")
    ns_mod.set_sysctl(t.ns("lb"), "net.ipv6.conf.all.forwarding", 1)


def test_full_nat_ipv6_with_port_translation(lb_lab: Lab) -> None:
    t = lb_lab
    _add6(t)
    servers = [
        subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                t.ns(name),
                sys.executable,
                "-m",
                "alveole.lb.echo_http",
                "--name",
                name,
                "--address",
                "::",
                "--port",
                "8080",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        for name in BACKENDS6
    ]
    cfg = LbConfig.model_validate(
        {
            "vips": [
                {
                    "address": VIP6,
                    "port": 80,
                    "backends": [{"address": a, "port": 8080} for a in BACKENDS6.values()],
                }
            ],
            "snat_ipv6": "2001:db8:10::1",
        }
    )
    client = Client(t.ns("client"))

    def get6(_: int) -> str:
        conn = http.client.HTTPConnection(VIP6, 80, timeout=3)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            return conn.getresponse().read().decode().strip()
        except OSError as e:
            return f"error: {e}"
        finally:
            conn.close()

    try:
        with _lb_attached(t, cfg) as inst:
            deadline = time.monotonic() + 10  # the servers start; NDP settles
            while client.pool.submit(get6, 0).result() not in BACKENDS6 and time.monotonic() < deadline:
                time.sleep(0.1)
            counts = Counter(client.pool.map(get6, range(300)))
            assert sum(counts[n] for n in BACKENDS6) == 300, counts
            assert all(counts[n] > 0 for n in BACKENDS6), counts
            assert reason_counts(inst.maps)[Reason.REPLY][0] > 0
    finally:
        client.close()
        for s in servers:
            s.kill()
            s.wait()
