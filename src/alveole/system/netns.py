"""Entering network namespaces from Python (pyroute2), keeping the root mount namespace.

``ip netns exec`` also remounts /sys, which hides the root bpffs; entering only
the network namespace of the current thread keeps pins visible.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from pyroute2 import IPRoute, NetNS
from pyroute2 import netns as _pr_netns

__all__ = [
    "add_veth",
    "create",
    "enter",
    "exists",
    "ifindex",
    "link_stats",
    "netns_path",
    "remove",
    "scratch",
    "unique_name",
]


def netns_path(name: str) -> str:
    return name if name.startswith("/") else os.path.join("/var/run/netns", name)


@contextmanager
def enter(name: str | None) -> Iterator[None]:
    """Run the block with this thread in network namespace ``name`` (None: stay)."""
    if name is None:
        yield
        return
    path = netns_path(name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no network namespace {name!r} ({path})")
    saved = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _pr_netns.setns(path, flags=0)
        try:
            yield
        finally:
            _pr_netns.setns(saved, flags=0)
    finally:
        os.close(saved)


def ifindex(interface: str | int, netns: str | None = None) -> int:
    """The ifindex of ``interface`` in ``netns`` (ints are returned as they are)."""
    if isinstance(interface, int):
        return interface
    with enter(netns):
        try:
            return socket.if_nametoindex(interface)
        except OSError as e:
            raise _no_interface(interface, netns) from e


def _no_interface(interface: str | int, netns: str | None) -> LookupError:
    where = f" in netns {netns!r}" if netns else ""
    return LookupError(f"no interface {interface!r}{where}")


def link_stats(interface: str, netns: str | None = None) -> dict[str, int]:
    """The kernel's 64-bit counters of ``interface`` in ``netns`` (rx_packets, tx_dropped, ...)."""
    with enter(netns), IPRoute() as ipr:  # the socket belongs to the namespace it is opened in
        links = ipr.get_links(ifname=interface)
        if not links:
            raise _no_interface(interface, netns)
        stats = links[0].get_attr("IFLA_STATS64")
    return {name: int(value) for name, value in stats.items() if name != "header"} if stats else {}


def exists(name: str) -> bool:
    return os.path.exists(netns_path(name))


def create(name: str) -> str:
    """Create network namespace ``name`` (idempotent); bring its loopback up."""
    if not name.startswith("alv"):
        raise ValueError(f"alveole only creates namespaces named alv*, not {name!r}")
    if not exists(name):
        _pr_netns.create(name)
    with NetNS(name) as ns:
        lo = ns.link_lookup(ifname="lo")
        if lo:
            ns.link("set", index=lo[0], state="up")
    return name


def remove(name: str) -> None:
    """Delete network namespace ``name`` (and with it the interfaces that live there)."""
    if exists(name):
        _pr_netns.remove(name)


def unique_name(prefix: str = "alv") -> str:
    return f"{prefix}-{os.getpid()}-{secrets.token_hex(3)}"


@contextmanager
def scratch(prefix: str = "alv") -> Iterator[str]:
    """A fresh namespace for the block, removed afterwards (also on error)."""
    name = create(unique_name(prefix))
    try:
        yield name
    finally:
        remove(name)


def set_sysctl(netns: str | None, key: str, value: str | int) -> None:
    """Write a per-namespace sysctl (``net.ipv6.conf.alv0.disable_ipv6``) inside ``netns``."""
    with enter(netns), open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(str(value))


def add_veth(
    netns: str, name: str, peer: str, *, peer_netns: str | None = None, ipv6: bool = True
) -> tuple[int, int]:
    """Create a veth pair in ``netns`` (the peer end moved to ``peer_netns`` if given), both up.

    ``ipv6=False`` disables IPv6 on both ends before they come up, so the kernel sends
    no neighbour discovery or MLD frames: tests that count packets get exact counts.
    Returns the two ifindexes, each in its own namespace.
    """
    for ifname in (name, peer):
        if not ifname.startswith("alv") or len(ifname) > 15:
            raise ValueError(f"interface names must start with alv and fit 15 chars: {ifname!r}")
    peer_ns = peer_netns or netns
    with NetNS(netns) as ns:
        peer_spec: dict[str, object] = {"ifname": peer}
        if peer_ns != netns:
            peer_spec["net_ns_fd"] = peer_ns
        ns.link("add", ifname=name, kind="veth", peer=peer_spec)
        idx = ns.link_lookup(ifname=name)[0]
    if not ipv6:
        set_sysctl(netns, f"net.ipv6.conf.{name}.disable_ipv6", 1)
        set_sysctl(peer_ns, f"net.ipv6.conf.{peer}.disable_ipv6", 1)
    with NetNS(netns) as ns:
        ns.link("set", index=idx, state="up")
    with NetNS(peer_ns) as ns:
        pidx = ns.link_lookup(ifname=peer)[0]
        ns.link("set", index=pidx, state="up")
    return idx, pidx
