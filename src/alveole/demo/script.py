"""The demo: a network service deployed on a lab, watched, attacked, changed live, torn down.

Every step is the real thing: a lab of network namespaces, the lifecycle manager
(descriptors, operation occurrences in SQLite) deploying a chain of three eBPF VNFs on
XDP, TCP connections from an HTTP client, in-kernel generated streams, reads of the
VNFs' maps. The demo keeps its own MANO database (``/var/lib/alveole/demo/mano.db``)
so it never touches the user's network services.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.rule import Rule

from .. import lab
from ..datapath import ChainId, ChainPaths
from ..mano import KernelDriver, Lcm, SqliteStore
from ..mano.reports import ChainReport
from ..system import mounts, netns
from ..trafficgen import Receiver, tcp_syn, udp
from ..vnf.firewall.config import FirewallConfig
from . import metrics, traffic, views

__all__ = ["DEMO_DIR", "DemoResult", "run", "teardown"]

HERE = Path(__file__).resolve().parent
LAB_FILE = HERE / "lab.yaml"
SERVICE_FILE = HERE / "service.yaml"
DEMO_DIR = Path(os.environ.get("ALVEOLE_STATE_DIR", "/var/lib/alveole")) / "demo"
NS_NAME = "demo"

CLIENT, SERVER = "198.18.1.1", "198.18.2.1"
CLIENT_MAC, NODE_MAC = "02:a1:00:00:01:01", "02:a1:00:00:01:fe"
BOTNET_SRC, FLOODER_SRC = "198.18.1.200", "198.18.1.77"


@dataclass
class DemoResult:
    """The figures the demo measured (also what ``--json`` prints)."""

    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)  # step -> seconds
    figures: dict[str, Any] = field(default_factory=dict)


def _db() -> Path:
    return DEMO_DIR / "mano.db"


def _lcm() -> Lcm:
    return Lcm(SqliteStore(_db()), KernelDriver())


def _topology() -> lab.Topology:
    return lab.load_topology(LAB_FILE)


def _service(ports: list[int]) -> list[dict[str, Any]]:
    """The deployment documents, with the router's egress ports filled in."""
    docs = [d for d in yaml.safe_load_all(SERVICE_FILE.read_text()) if d]
    for doc in docs:
        for profile in doc.get("vnfProfiles", []):
            if profile["vnfProfileId"] == "rt":
                profile["config"]["ports"] = ports
    return docs


def _chain_id() -> ChainId:
    return ChainId(lab.ifname("c0"), "xdp", _topology().netns("node"))


def teardown(say: Callable[[str], None] = lambda _: None) -> None:
    """Remove whatever a demo left (its NS, chain pins, lab, database); idempotent."""
    if _db().exists():
        with contextlib.suppress(Exception):
            lcm = _lcm()
            for ns in lcm.ns_list():
                if ns.nsState == "INSTANTIATED":
                    say(f"terminating network service {ns.nsInstanceName!r}")
                    lcm.terminate(ns.id)
    cid = _chain_id()
    if ChainPaths(cid).dir.exists():  # the DB was lost but the kernel still has the chain
        say(f"removing chain {cid}")
        with contextlib.suppress(Exception):
            KernelDriver().delete(cid)
    name = _topology().name
    if any(r.name == name for r in lab.list_records()):
        say(f"removing lab {name!r}")
        lab.down(name)
    shutil.rmtree(DEMO_DIR, ignore_errors=True)


class _Narrator:
    def __init__(self, console: Console, result: DemoResult) -> None:
        self.console = console
        self.result = result
        self.t0 = time.monotonic()

    @contextlib.contextmanager
    def step(self, title: str, what: str) -> Iterator[None]:
        self.console.print(Rule(f"[bold]{title}[/]", align="left"))
        self.console.print(what, highlight=False)
        t = time.monotonic()
        yield
        self.result.steps[title] = round(time.monotonic() - t, 3)

    def say(self, text: str) -> None:
        self.console.print(f"  {text}", highlight=False)


def run(
    console: Console, *, keep: bool = False, rate: float = 200_000, update_seconds: float = 3.0
) -> DemoResult:
    """Run the whole demo; everything is torn down at the end (unless ``keep``), also on failure."""
    result = DemoResult()
    out = _Narrator(console, result)
    mounts.ensure_bpffs()
    teardown(out.say)
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    topo = _topology()
    client, server = topo.netns("client"), topo.netns("server")
    cid = _chain_id()
    try:
        with contextlib.ExitStack() as stack:
            with out.step(
                "1. lab",
                "A lab of three network namespaces: a client (198.18.1.1), a node that routes, and a "
                "server (198.18.2.1) running an HTTP server. The VNFs will run on the node's interface "
                "towards the client.",
            ):
                lab.up(topo)
                # XDP on the server's end: a veth accepts XDP-redirected frames only then (and it counts)
                arrivals = stack.enter_context(Receiver(lab.ifname("eth0"), netns=server, drop=False))
                stack.enter_context(traffic.serve_http(server, "server"))
                r = traffic.http_burst(client, SERVER, 3)
                out.say(f"without VNFs, the node forwards: {r.ok}/3 HTTP requests answered")
            _deploy(out, cid, netns.ifindex(lab.ifname("s0"), topo.netns("node")))
            lcm = _lcm()
            _traffic(out, lcm, client, rate)
            _attacks(out, lcm, client, cid)
            _rule_change(out, lcm, client, cid)
            _live_update(out, lcm, client, cid, rate, update_seconds, arrivals)
            _metrics(out, topo.netns("node"))
            with out.step("8. who talked", "The flow monitor's table, summed in Python: the top talkers."):
                for table in views.talkers_tables(views.flows(cid, "mon")):
                    console.print(table)
    finally:
        if keep:
            out.say(
                "[bold]kept running.[/] Look around: "
                f"alveole chain show {cid.interface} --netns {cid.netns}; "
                f"ALVEOLE_MANO_DB={_db()} alveole ns show {NS_NAME}; remove it all: alveole demo --down"
            )
        else:
            with out.step("9. teardown", "Terminate the network service, remove the lab."):
                teardown(out.say)
                left = [h for h in topo.hosts if netns.exists(topo.netns(h))]
                out.say(
                    f"left behind: {len(left)} namespaces, "
                    f"{'no' if not ChainPaths(cid).dir.exists() else 'some'} pins"
                )
    result.seconds = round(time.monotonic() - out.t0, 1)
    console.print(Rule())
    console.print(f"[bold green]demo done in {result.seconds} s[/]")
    return result


def _report(lcm: Lcm) -> ChainReport:
    (report,) = lcm.chains(NS_NAME)
    return report


def _deploy(out: _Narrator, cid: ChainId, egress: int) -> None:
    with out.step(
        "2. deploy",
        f"The lifecycle manager onboards the descriptors of {SERVICE_FILE.name} (two versions of a "
        "DDoS guard package, one NSD) and instantiates the network service: a chain firewall -> "
        f"ddos guard -> flow monitor -> router on XDP of {cid.interface} in {cid.netns}. The router "
        "forwards to the server itself (XDP redirect), using the kernel's routes and neighbours.",
    ):
        t = time.monotonic()
        lcm = _lcm()
        ns, occ = lcm.deploy(_service([egress]))
        ms = (time.monotonic() - t) * 1000
        out.result.figures["deploy_ms"] = round(ms, 1)
        out.say(
            f"NS {ns.nsInstanceName!r} {ns.nsState} in {ms:.0f} ms "
            f"(operation {occ.id[:8]}: {occ.operationState})"
        )
        out.console.print(views.hop_table(_report(lcm)))


def _traffic(out: _Narrator, lcm: Lcm, client: str, rate: float) -> None:
    with out.step(
        "3. traffic",
        "The client opens 100 TCP connections to the web server, and the in-kernel generator "
        f"sends 50,000 UDP packets over 16 flows at {rate / 1000:.0f} kpps to port 9000 (allowed).",
    ):
        before = _report(lcm)
        r = traffic.http_burst(client, SERVER, 100, timeout=3.0)
        template = udp(src=CLIENT, dst=SERVER, sport=40000, dport=9000, src_mac=CLIENT_MAC, dst_mac=NODE_MAC)
        with traffic.Stream(client, "alveth0", template, flows=16, rate=rate) as s:
            while s.sent() < 50_000:
                time.sleep(0.02)
            sent = s.stop().sent
        time.sleep(0.05)
        out.say(f"HTTP: {r.ok} answered, {r.failed} failed; UDP: {sent:,} packets sent")
        out.console.print(views.hop_table(_report(lcm), before))


def _attacks(out: _Narrator, lcm: Lcm, client: str, cid: ChainId) -> None:
    with out.step(
        "4. attacks",
        f"A 'botnet' in 198.18.1.128/25 (blocklisted) sends 20,000 UDP packets from {BOTNET_SRC} "
        f"over 64 flows; {FLOODER_SRC} floods the web server with 20,000 SYNs. Both pass the "
        "firewall (they match its rules); the DDoS guard drops them: the blocklist, and a SYN "
        "budget per source (100/s, burst 200). Meanwhile the real client still gets through.",
    ):
        before = _report(lcm)
        bot = udp(src=BOTNET_SRC, dst=SERVER, sport=1024, dport=9000, src_mac=CLIENT_MAC, dst_mac=NODE_MAC)
        syn = tcp_syn(src=FLOODER_SRC, dst=SERVER, sport=1024, dport=80, src_mac=CLIENT_MAC, dst_mac=NODE_MAC)
        sent = []
        for template, flows in ((bot, 64), (syn, 1)):
            with traffic.Stream(client, "alveth0", template, flows=flows, rate=100_000) as s:
                while s.sent() < 20_000:
                    time.sleep(0.02)
                sent.append(s.stop().sent)
        out.say(f"sent: {sent[0]:,} botnet packets, {sent[1]:,} SYNs")
        r = traffic.http_burst(client, SERVER, 20)
        drops = views.guard_drops(cid, "guard")
        out.result.figures["guard_drops"] = drops
        out.say(f"the client during the attack: {r.ok}/20 HTTP requests answered")
        out.say("ddos guard drops by reason: " + ", ".join(f"{k} {v:,}" for k, v in drops.items()))
        out.console.print(views.hop_table(_report(lcm), before))


def _fw_config(lcm: Lcm) -> FirewallConfig:
    ns = lcm.ns(NS_NAME)
    (vnf,) = [v for v in ns.vnfInstances if v.vnfProfileId == "fw"]
    return FirewallConfig.model_validate(vnf.config)


def _rule_change(out: _Narrator, lcm: Lcm, client: str, cid: ChainId) -> None:
    with out.step(
        "5. live rule change",
        "The operator blocks the web: a rule 'drop tcp dport 80' goes in front, applied as a diff of "
        "map entries (same program, no reload), then is taken out again.",
    ):
        cfg = _fw_config(lcm)
        prog = _report(lcm).as_dict()["members"][0]["progId"]
        rules = [r.model_dump(mode="json", exclude_none=True) for r in cfg.rules]
        block = {"id": "block-web", "proto": "tcp", "dport": 80, "action": "drop"}
        t = time.monotonic()
        lcm.modify_config(NS_NAME, {"fw": {"rules": [block, *rules]}})
        ms = (time.monotonic() - t) * 1000
        r = traffic.http_burst(client, SERVER, 3, timeout=0.5)
        why = ", ".join(r.errors) or "no error"
        out.say(f"rule added in {ms:.1f} ms; HTTP now: {r.ok}/3 answered ({why})")
        out.console.print(views.rules_table(cid, "fw", _fw_config(lcm)))
        t = time.monotonic()
        lcm.modify_config(NS_NAME, {"fw": {"rules": rules}})
        ms2 = (time.monotonic() - t) * 1000
        r2 = traffic.http_burst(client, SERVER, 3)
        same = _report(lcm).as_dict()["members"][0]["progId"] == prog
        out.say(
            f"rule removed in {ms2:.1f} ms; HTTP again: {r2.ok}/3 answered; "
            f"firewall program {'unchanged' if same else 'reloaded'} (id {prog})"
        )
        out.result.figures["rule_change_ms"] = round(ms, 1)
        out.result.figures["http_blocked"] = r.failed
        out.result.figures["http_restored"] = r2.ok


def _stream_packets(cid: ChainId, dport: int) -> int:
    return sum(f.packets for f in views.flows(cid, "mon") if f.key.dport == dport and f.key.proto == 17)


def _live_update(
    out: _Narrator, lcm: Lcm, client: str, cid: ChainId, rate: float, seconds: float, arrivals: Receiver
) -> None:
    with out.step(
        "6. live update",
        f"While the generator streams {rate / 1000:.0f} kpps through the chain, the DDoS guard is "
        "updated from package guard-1.0 to guard-1.1: the new program is loaded with the old "
        "maps (its blocklist and SYN buckets), probed, and swapped into the chain in one atomic "
        "step. Then: were packets lost? The flow monitor, after the guard, counted every one.",
    ):
        window = _report(lcm)
        before = window.as_dict()["members"][1]
        arrived = arrivals.packets
        template = udp(src=CLIENT, dst=SERVER, sport=41000, dport=9001, src_mac=CLIENT_MAC, dst_mac=NODE_MAC)
        with traffic.Stream(client, "alveth0", template, flows=16, rate=rate) as s:
            time.sleep(seconds / 3)
            t = time.monotonic()
            occ = lcm.change_package(NS_NAME, {"guard": "guard-1.1"})
            update_ms = (time.monotonic() - t) * 1000
            time.sleep(seconds * 2 / 3)
            sent = s.stop().sent
        time.sleep(0.1)
        counted = _stream_packets(cid, 9001)
        arrived = arrivals.packets - arrived
        after = _report(lcm).as_dict()["members"][1]
        out.say(
            f"guard {before['version']} (prog {before['progId']}) -> {after['version']} "
            f"(prog {after['progId']}) in {update_ms:.0f} ms, operation {occ.operationState}"
        )
        out.say(
            f"sent {sent:,} packets; the flow monitor counted {counted:,}; "
            f"[bold]lost: {sent - counted:,}[/]; frames that reached the server meanwhile: {arrived:,}"
        )
        out.console.print(views.hop_table(_report(lcm), window))
        out.result.figures.update(
            update_ms=round(update_ms, 1),
            update_sent=sent,
            update_counted=counted,
            update_lost=sent - counted,
            update_server_frames=arrived,
        )


def _metrics(out: _Narrator, node: str) -> None:
    with out.step(
        "7. metrics",
        "What `alveole serve` exposes to Prometheus: the same counters, read from the maps at "
        "scrape time. The API runs on the node (its own loopback) and is scraped there.",
    ):
        with metrics.api_server(node, _lcm) as port:
            text = metrics.scrape(node, port)
        lines = [
            line
            for line in text.splitlines()
            if line.startswith("alveole_vnf_packets_total{") and not line.endswith(" 0.0")
        ]
        for line in lines:
            out.console.print(f"  {line}", highlight=False, soft_wrap=True)  # one series a line
        out.result.figures["metrics_series"] = len(lines)
