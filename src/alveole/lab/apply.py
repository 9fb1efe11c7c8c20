"""Create, converge and remove labs with pyroute2 (netlink), never with ``ip`` subprocesses.

``up`` is idempotent: it brings what exists in line with the topology (missing
namespaces, links and bridges are created; resources of an earlier version of the
same lab that the topology no longer has are removed; addresses, routes and
neighbours are converged). Every resource is recorded before it is created (see
:mod:`.state`), so ``down`` removes everything, also after a crash or a failed step.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pyroute2 import NetNS
from pyroute2.ethtool import Ethtool
from pyroute2.netlink.exceptions import NetlinkError

from ..system import netns as _netns
from ..system.mounts import BPFFS, ensure_bpffs
from .model import Bridge, Endpoint, Host, Link, Route, Topology, ifname
from .state import LabError, LabRecord, Resource, labs_dir, list_records

__all__ = ["LabStatus", "down", "pin_dir", "status", "up"]

_IFA_F_NODAD = 0x02  # IPv6 addresses usable at once (no duplicate address detection)
_RT_TABLE_MAIN = 254
_RT_SCOPE_UNIVERSE = 0


def pin_dir(lab: str) -> str:
    """Where BPF objects deployed into ``lab`` pin; removed by :func:`down`."""
    return os.path.join(BPFFS, "alveole", "labs", lab)


@contextlib.contextmanager
def _locked(name: str) -> Iterator[None]:
    d = labs_dir()
    d.mkdir(parents=True, exist_ok=True)
    lock = d / f".{name}.lock"
    with open(lock, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if not (d / f"{name}.json").exists():  # the lab is gone: leave nothing behind
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
            fcntl.flock(f, fcntl.LOCK_UN)


def _sysctl(netns: str, key: str, value: str) -> None:
    # /proc/sys/net shows the netns of the thread that opens it
    with _netns.enter(netns), open(f"/proc/sys/{key.replace('.', '/')}", "w") as f:
        f.write(value)


def _index(ns: Any, name: str) -> int | None:
    found = ns.link_lookup(ifname=name)
    return found[0] if found else None


# --- resources ---------------------------------------------------------------------------


def _planned(topo: Topology) -> list[Resource]:
    plan = [Resource("netns", name=topo.netns(h)) for h in topo.hosts]
    plan.append(Resource("pindir", name=pin_dir(topo.name)))
    plan += [Resource("bridge", netns=topo.netns(b.host), name=ifname(b.name)) for b in topo.bridges]
    for link in topo.links:
        a, b = link.ends
        plan.append(
            Resource("veth", topo.netns(a.host), ifname(a.ifname), topo.netns(b.host), ifname(b.ifname))
        )
    return plan


def _exists(r: Resource) -> bool:
    if r.kind == "netns":
        return _netns.exists(r.name)
    if r.kind == "pindir":
        return os.path.isdir(r.name)
    if not _netns.exists(r.netns):
        return False
    with NetNS(r.netns, flags=0) as ns:
        return _index(ns, r.name) is not None


def _remove(r: Resource) -> None:
    if r.kind == "netns":
        _netns.remove(r.name)
    elif r.kind == "pindir":
        # unpinning drops the pinned programs, maps and links (links detach when unreferenced)
        shutil.rmtree(r.name, ignore_errors=True)
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(r.name))  # .../alveole/labs, when no other lab uses it
    elif _netns.exists(r.netns):
        with NetNS(r.netns, flags=0) as ns:
            idx = _index(ns, r.name)
            if idx is not None:
                with contextlib.suppress(NetlinkError):
                    ns.link("del", index=idx)  # a veth takes its peer with it


def _create_netns(name: str, host: Host) -> None:
    _netns.create(name)
    # before any interface exists, so that new ones inherit it
    if not host.ipv6:
        _sysctl(name, "net.ipv6.conf.all.disable_ipv6", "1")
        _sysctl(name, "net.ipv6.conf.default.disable_ipv6", "1")
    else:  # no duplicate address detection: link-local addresses (and so NDP) usable at once
        _sysctl(name, "net.ipv6.conf.all.accept_dad", "0")
        _sysctl(name, "net.ipv6.conf.default.accept_dad", "0")
    if host.forwarding:
        _sysctl(name, "net.ipv4.ip_forward", "1")
        if host.ipv6:
            _sysctl(name, "net.ipv6.conf.all.forwarding", "1")


def _create_veth(topo: Topology, link: Link) -> None:
    a, b = link.ends
    ns_a, ns_b = topo.netns(a.host), topo.netns(b.host)

    def spec(end: Endpoint) -> dict[str, Any]:
        s: dict[str, Any] = {"ifname": ifname(end.ifname)}
        if end.mac:
            s["address"] = end.mac
        if link.mtu:
            s["mtu"] = link.mtu
        if link.queues > 1:
            s["num_tx_queues"] = s["num_rx_queues"] = link.queues
        return s

    peer = spec(b)
    if ns_b != ns_a:
        peer["net_ns_fd"] = ns_b
    with NetNS(ns_a, flags=0) as ns:
        ns.link("add", kind="veth", peer=peer, **spec(a))


def _create_bridge(topo: Topology, br: Bridge) -> None:
    with NetNS(topo.netns(br.host), flags=0) as ns:
        ns.link("add", ifname=ifname(br.name), kind="bridge")


# --- configuration (converged on every up) -------------------------------------------------


def _interfaces(topo: Topology, host: str) -> list[tuple[str, list[Any], str | None]]:
    """(kernel name, addresses, bridge) of every interface of ``host``."""
    out: list[tuple[str, list[Any], str | None]] = [
        (ifname(b.name), list(b.addresses), None) for b in topo.bridges if b.host == host
    ]
    for link in topo.links:
        for end in link.ends:
            if end.host == host:
                out.append(
                    (ifname(end.ifname), list(end.addresses), ifname(end.bridge) if end.bridge else None)
                )
    return out


def _route_args(ns: Any, route: Route) -> dict[str, Any]:
    default = "0.0.0.0/0" if route.version == 4 else "::/0"
    dst = default if route.to == "default" else str(route.to)
    args: dict[str, Any] = {"dst": dst, "family": 2 if route.version == 4 else 10, "table": _RT_TABLE_MAIN}
    if route.via is not None:
        args["gateway"] = str(route.via)
    if route.dev is not None:
        idx = _index(ns, ifname(route.dev))
        if idx is None:
            raise LabError(f"route {dst}: no interface {ifname(route.dev)}")
        args["oif"] = idx
    return args


def _configure_host(topo: Topology, host_name: str, previous: Topology | None) -> None:
    host = topo.hosts[host_name]
    with NetNS(topo.netns(host_name), flags=0) as ns:
        for name, addresses, bridge in _interfaces(topo, host_name):
            idx = _index(ns, name)
            if idx is None:
                raise LabError(f"interface {name} missing in {topo.netns(host_name)}")
            if bridge is not None:
                master = _index(ns, bridge)
                ns.link("set", index=idx, master=master)
            wanted = {ipaddress.ip_interface(a) for a in addresses}
            have = set()
            for msg in ns.get_addr(index=idx):
                if msg["scope"] != _RT_SCOPE_UNIVERSE:
                    continue  # keep link-local addresses
                have.add(ipaddress.ip_interface(f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}"))
            for a in sorted(have - wanted, key=str):
                ns.addr("del", index=idx, address=str(a.ip), prefixlen=a.network.prefixlen)
            ns.link("set", index=idx, state="up")
            for a in sorted(wanted - have, key=str):
                extra = {"IFA_FLAGS": _IFA_F_NODAD} if a.version == 6 else {}
                try:
                    ns.addr("add", index=idx, address=str(a.ip), prefixlen=a.network.prefixlen, **extra)
                except NetlinkError as e:
                    if e.code != errno.EEXIST:
                        raise
        if previous is not None and host_name in previous.hosts:
            for route in previous.hosts[host_name].routes:
                if route not in host.routes:
                    with contextlib.suppress(NetlinkError, LabError):
                        ns.route("del", **_route_args(ns, route))
            for neigh in previous.hosts[host_name].neighbors:
                if neigh not in host.neighbors:
                    idx = _index(ns, ifname(neigh.dev))
                    if idx is not None:
                        with contextlib.suppress(NetlinkError):
                            ns.neigh("del", dst=str(neigh.address), ifindex=idx)
        for route in host.routes:
            ns.route("replace", **_route_args(ns, route))
        for neigh in host.neighbors:
            idx = _index(ns, ifname(neigh.dev))
            ns.neigh("replace", dst=str(neigh.address), lladdr=neigh.mac, ifindex=idx, state="permanent")
    for link in topo.links:
        for end in link.ends:
            if end.host == host_name and not end.tx_checksum:
                _tx_checksum_off(topo.netns(host_name), ifname(end.ifname))


def _tx_checksum_off(netns_name: str, interface: str) -> None:
    with _netns.enter(netns_name):
        tool = Ethtool()
        try:
            features = tool.get_features(interface)
            features.features["tx-checksum-ip-generic"].enable = False
            tool.set_features(interface, features)
        finally:
            tool.close()


# --- public API ----------------------------------------------------------------------------


def up(topo: Topology) -> LabRecord:
    """Create ``topo`` or bring an existing lab of that name in line with it.

    On failure, a lab that did not exist before is removed entirely; an existing lab
    keeps its record, so ``down`` still removes everything.
    """
    with _locked(topo.name):
        record = LabRecord.load(topo.name)
        fresh = record is None
        if record is None:
            record = LabRecord(topo.name)
        previous = Topology.model_validate(record.spec) if record.spec else None
        try:
            _converge(topo, record, previous)
        except BaseException as e:
            if fresh:
                _teardown(record)
            if isinstance(e, (OSError, NetlinkError)):
                hint = "" if fresh else f" (lab left as it was: `alveole lab down {topo.name}` removes it)"
                raise LabError(f"lab {topo.name!r}: {e}{hint}") from e
            raise
        return record


def _converge(topo: Topology, record: LabRecord, previous: Topology | None) -> None:
    record.state = "creating"
    record.save()
    plan = _planned(topo)
    planned_keys = {r.key for r in plan}
    for r in reversed(list(record.resources)):
        if r.key not in planned_keys:  # left over from an earlier version of this lab
            _remove(r)
            record.forget(r)
    for r in plan:
        if _exists(r):
            record.remember(r)
            continue
        record.remember(r)  # before the step: a crash now still leaves a complete record
        if r.kind == "netns":
            host = next(h for h in topo.hosts if topo.netns(h) == r.name)
            _create_netns(r.name, topo.hosts[host])
        elif r.kind == "pindir":
            ensure_bpffs()
            os.makedirs(r.name, exist_ok=True)
        elif r.kind == "bridge":
            _create_bridge(
                topo,
                next(b for b in topo.bridges if topo.netns(b.host) == r.netns and ifname(b.name) == r.name),
            )
        else:
            _create_veth(
                topo,
                next(
                    lk
                    for lk in topo.links
                    if topo.netns(lk.ends[0].host) == r.netns and ifname(lk.ends[0].ifname) == r.name
                ),
            )
    for host in topo.hosts:
        _configure_host(topo, host, previous)
    record.spec = topo.model_dump(mode="json")
    record.state = "up"
    record.save()


def _teardown(record: LabRecord) -> list[Resource]:
    record.state = "removing"
    record.save()
    removed = []
    # newest first, namespaces last: links and bridges go before the namespaces that hold them
    newest_first = list(reversed(record.resources))
    order = [r for r in newest_first if r.kind != "netns"] + [r for r in newest_first if r.kind == "netns"]
    for r in order:
        if _exists(r):
            _remove(r)
            removed.append(r)
        record.forget(r)
    record.delete()
    return removed


def down(name: str) -> list[Resource]:
    """Remove everything lab ``name`` recorded (what no longer exists is skipped)."""
    with _locked(name):
        record = LabRecord.load(name)
        if record is None:
            raise LabError(f"no lab {name!r} (records are in {labs_dir()})")
        return _teardown(record)


@dataclass
class LabStatus:
    name: str
    state: str
    description: str
    resources: list[tuple[Resource, bool]]  # (resource, exists)
    hosts: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # host -> interface -> addresses

    @property
    def complete(self) -> bool:
        return self.state == "up" and all(ok for _, ok in self.resources)


def status(name: str | None = None) -> list[LabStatus]:
    """What each recorded lab has, live (``name`` narrows to one lab)."""
    records = list_records() if name is None else [r for r in [LabRecord.load(name)] if r is not None]
    if name is not None and not records:
        raise LabError(f"no lab {name!r} (records are in {labs_dir()})")
    out = []
    for rec in records:
        resources = [(r, _exists(r)) for r in rec.resources]
        topo = Topology.model_validate(rec.spec) if rec.spec else None
        hosts: dict[str, dict[str, list[str]]] = {}
        if topo is not None:
            for host in topo.hosts:
                ns_name = topo.netns(host)
                hosts[host] = {}
                if not _netns.exists(ns_name):
                    continue
                with NetNS(ns_name, flags=0) as ns:
                    for link in ns.get_links():
                        ifn = link.get("IFLA_IFNAME")
                        if ifn == "lo":
                            continue
                        addrs = [
                            f"{a.get('IFA_ADDRESS')}/{a['prefixlen']}"
                            for a in ns.get_addr(index=link["index"])
                            if a["scope"] == _RT_SCOPE_UNIVERSE
                        ]
                        hosts[host][ifn] = addrs
        out.append(LabStatus(rec.name, rec.state, topo.description if topo else "", resources, hosts))
    return out
