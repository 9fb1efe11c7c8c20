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

from pyroute2 import NetNS
from pyroute2 import netns as _pr_netns

__all__ = [
    "add_veth",
    "create",
    "enter",
    "exists",
    "ifindex",
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
            where = f" in netns {netns!r}" if netns else ""
            raise LookupError(f"no interface {interface!r}{where}") from e


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


def add_veth(netns: str, name: str, peer: str, *, peer_netns: str | None = None) -> tuple[int, int]:
    """Create a veth pair in ``netns`` (the peer end moved to ``peer_netns`` if given), both up.

    Returns the two ifindexes, each in its own namespace.
    """
    for ifname in (name, peer):
        if not ifname.startswith("alv") or len(ifname) > 15:
            raise ValueError(f"interface names must start with alv and fit 15 chars: {ifname!r}")
    with NetNS(netns) as ns:
        peer_spec: dict[str, object] = {"ifname": peer}
        if peer_netns and peer_netns != netns:
            peer_spec["net_ns_fd"] = peer_netns
        ns.link("add", ifname=name, kind="veth", peer=peer_spec)
        idx = ns.link_lookup(ifname=name)[0]
        ns.link("set", index=idx, state="up")
    with NetNS(peer_netns or netns) as ns:
        pidx = ns.link_lookup(ifname=peer)[0]
        ns.link("set", index=pidx, state="up")
    return idx, pidx
