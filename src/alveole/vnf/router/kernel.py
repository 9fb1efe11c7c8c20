"""A table-mode config from what a network namespace's kernel knows (pyroute2, netlink).

:func:`table_from_netns` reads the main routing table, the neighbour tables, the
interfaces and their addresses, and builds the :class:`RouterConfig` that forwards the
way Linux would:

* a route through a gateway whose neighbour entry is known -> a next hop (egress, the
  gateway's MAC, the egress MAC and MTU); an unresolved gateway -> the kernel (it
  resolves it; import again to take the route over);
* a connected route -> the kernel (unknown hosts need ARP / ND), plus a host route per
  known neighbour inside it;
* blackhole, unreachable, prohibit, multipath routes -> the kernel;
* the interfaces' own addresses -> ``local``.

Next hop ids of ``previous`` are kept for the same (ifindex, MAC): applying the new
config to a running router is then a small diff, never a renumbering.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute, NetNS

from .config import MAX_NEXTHOP, NextHop, RouterConfig

__all__ = ["KernelState", "read_kernel", "table_from_netns"]

_RT_TABLE_MAIN = 254
_RTN_UNICAST = 1
_NUD_USABLE = 0x02 | 0x04 | 0x08 | 0x10 | 0x80  # reachable, stale, delay, probe, permanent
_AF = {2: 4, 10: 6}

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class KernelRoute:
    dst: Network
    kind: int  # RTN_*
    oif: int | None
    gateway: Address | None
    multipath: bool


@dataclass(frozen=True)
class KernelState:
    """What :func:`read_kernel` found: links (ifindex -> (mac, mtu)), addresses, neighbours, routes."""

    links: dict[int, tuple[str, int]]
    addresses: list[tuple[int, Address]]
    neighbours: dict[tuple[int, Address], str]  # (ifindex, address) -> MAC
    routes: list[KernelRoute]


@contextmanager
def _netlink(netns: str | None) -> Iterator[Any]:
    ns = IPRoute() if netns is None else NetNS(netns, flags=0)
    try:
        yield ns
    finally:
        ns.close()


def read_kernel(netns: str | None = None) -> KernelState:
    """Interfaces, addresses, usable neighbours and main-table routes of ``netns`` (None: this one)."""
    with _netlink(netns) as ns:
        links = {
            msg["index"]: (msg.get("IFLA_ADDRESS"), msg.get("IFLA_MTU"))
            for msg in ns.get_links()
            if msg.get("IFLA_ADDRESS") and msg.get("IFLA_IFNAME") != "lo"
        }
        addresses = [
            (msg["index"], ipaddress.ip_address(msg.get("IFA_ADDRESS")))
            for msg in ns.get_addr()
            if msg["index"] in links
        ]
        neighbours = {}
        for msg in ns.get_neighbours():
            mac, dst = msg.get("NDA_LLADDR"), msg.get("NDA_DST")
            if mac and dst and msg["state"] & _NUD_USABLE and msg["ifindex"] in links:
                neighbours[(msg["ifindex"], ipaddress.ip_address(dst))] = mac
        routes = []
        for family in (2, 10):
            for msg in ns.get_routes(family=family, table=_RT_TABLE_MAIN):
                if msg.get("RTA_TABLE", msg["table"]) != _RT_TABLE_MAIN:
                    continue
                dst = msg.get("RTA_DST") or ("0.0.0.0" if family == 2 else "::")
                gw = msg.get("RTA_GATEWAY")
                routes.append(
                    KernelRoute(
                        ipaddress.ip_network(f"{dst}/{msg['dst_len']}"),
                        msg["type"],
                        msg.get("RTA_OIF"),
                        ipaddress.ip_address(gw) if gw else None,
                        msg.get("RTA_MULTIPATH") is not None,
                    )
                )
    return KernelState(links, addresses, neighbours, routes)


def _forwardable(net: Network) -> bool:
    """Routes the router may take over: not link-local, not multicast (those go to the kernel anyway)."""
    return not (net.is_link_local or net.is_multicast)


def table_from_netns(
    netns: str | None = None,
    *,
    previous: RouterConfig | None = None,
    interfaces: Iterable[int] | None = None,
    state: KernelState | None = None,
) -> RouterConfig:
    """The table-mode config that forwards like the kernel of ``netns`` (see the module doc).

    ``interfaces``: egress ifindexes the router may use (default: all); routes out of
    others go to the kernel. ``state``: an already read :class:`KernelState`.
    """
    st = state or read_kernel(netns)
    allowed = set(st.links) if interfaces is None else set(interfaces) & set(st.links)
    local = sorted({a for _, a in st.addresses}, key=lambda a: (a.version, int(a)))
    local_set = set(local)
    wanted: dict[NextHop, None] = {}  # ordered set

    def hop(ifindex: int | None, addr: Address | None) -> NextHop | None:
        if ifindex not in allowed or addr is None:
            return None
        mac = st.neighbours.get((ifindex, addr))
        if mac is None:
            return None
        src_mac, mtu = st.links[ifindex]
        return NextHop(ifindex=ifindex, mac=mac, src_mac=src_mac, mtu=mtu)

    routes: dict[Network, NextHop | None] = {}  # None: via the kernel
    connected: list[tuple[int, Network]] = []
    for r in st.routes:
        if not _forwardable(r.dst):
            continue
        nh = None
        if r.kind == _RTN_UNICAST and not r.multipath:
            if r.gateway is not None:
                nh = hop(r.oif, r.gateway)
            elif r.oif is not None:
                connected.append((r.oif, r.dst))
        routes[r.dst] = nh
    for (ifindex, addr), _mac in sorted(st.neighbours.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        host = ipaddress.ip_network(addr)
        if addr in local_set or host in routes or not _forwardable(host):
            continue
        if any(i == ifindex and addr in net for i, net in connected):
            routes[host] = hop(ifindex, addr)
    for nh in routes.values():
        if nh is not None:
            wanted[nh] = None

    ids = _assign_ids(list(wanted), previous)
    local_hosts = {ipaddress.ip_network(a) for a in local}
    sizes = {"table_size": previous.table_size} if previous is not None else {}
    return RouterConfig(
        nexthops={ids[nh]: nh for nh in wanted},
        routes=tuple(
            {"to": net, "via": "kernel" if nh is None else ids[nh]}  # type: ignore[misc]
            for net, nh in sorted(routes.items(), key=lambda kv: (kv[0].version, kv[0]))
            if net not in local_hosts
        ),
        local=tuple(local),
        **sizes,
    )


def _assign_ids(hops: list[NextHop], previous: RouterConfig | None) -> dict[NextHop, int]:
    """Keep ``previous``'s id for an identical next hop; new ones take the smallest free ids."""
    ids: dict[NextHop, int] = {}
    if previous is not None:
        known = {nh: i for i, nh in previous.nexthops.items()}
        ids = {nh: known[nh] for nh in hops if nh in known}
    used = set(ids.values())
    free = (i for i in range(1, MAX_NEXTHOP + 1) if i not in used)
    for nh in hops:
        if nh not in ids:
            ids[nh] = next(free)
    return ids
