"""Setting up the hosts around the load balancer: the LB node and DSR backends.

Only inside ``alv…`` network namespaces (never the machine's own): these helpers
write per-namespace sysctls, add VIPs to a namespace's loopback and attach XDP.

LB node (:func:`prepare_lb_node`): the LB hands rewritten packets to the node's
kernel (``egress: stack``, and the fib egress's fallback), which forwards them, so:

* forwarding on (IPv4 and IPv6);
* ``rp_filter`` 0: a translated packet comes in on an interface its new source
  address is not routed through;
* ``accept_local`` 1: a full-NAT packet's new source is the node's own SNAT address,
  a DSR packet's outer source its tunnel address, a DSR reply's source a VIP that may
  be local: Linux drops packets from its own addresses as martians unless told.

DSR backend (:func:`prepare_dsr_backend`): the VIPs on ``lo`` (the backend answers
from them), ``arp_ignore`` 1 / ``arp_announce`` 2 (it never answers ARP for them,
nor uses them as ARP sources: the VIP lives on the LB's side of the segment),
``rp_filter`` 0 (the client's address comes in wrapped), and the XDP decapsulator on
its interface for its own address.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable

from pyroute2 import NetNS

from ..bpf import Link
from ..system import netns as _netns
from ..vnf.lb.decap import Decapsulator

__all__ = ["DsrBackend", "prepare_dsr_backend", "prepare_lb_node"]


def _check(netns: str) -> None:
    if not netns or not netns.startswith("alv"):
        raise ValueError(f"only alv… network namespaces are set up here, not {netns!r}")


def _interfaces(netns: str) -> list[str]:
    with NetNS(netns, flags=0) as ns:
        return [link.get_attr("IFLA_IFNAME") for link in ns.get_links()]


def prepare_lb_node(netns: str) -> None:
    """Forwarding on, rp_filter off, accept_local on, in the LB node's namespace."""
    _check(netns)
    set_ = _netns.set_sysctl
    set_(netns, "net.ipv4.ip_forward", 1)
    set_(netns, "net.ipv4.conf.all.rp_filter", 0)
    set_(netns, "net.ipv4.conf.default.rp_filter", 0)
    set_(netns, "net.ipv4.conf.all.accept_local", 1)
    set_(netns, "net.ipv4.conf.default.accept_local", 1)
    for name in _interfaces(netns):
        set_(netns, f"net.ipv4.conf.{name}.rp_filter", 0)
        set_(netns, f"net.ipv4.conf.{name}.accept_local", 1)
    with contextlib.suppress(FileNotFoundError):  # IPv6 disabled in this namespace
        set_(netns, "net.ipv6.conf.all.forwarding", 1)


class DsrBackend:
    """A DSR backend set up by :func:`prepare_dsr_backend`; :meth:`close` detaches the decapsulator."""

    def __init__(self, decap: Decapsulator, link: Link) -> None:
        self.decap = decap
        self.link = link

    def close(self) -> None:
        self.link.close()
        self.decap.close()

    def __enter__(self) -> DsrBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def prepare_dsr_backend(
    netns: str, interface: str, vips: Iterable[str], tunnel_addresses: Iterable[str]
) -> DsrBackend:
    """VIPs on lo, ARP and rp_filter settings, and the decapsulator on ``interface``."""
    _check(netns)
    with NetNS(netns, flags=0) as ns:
        lo = ns.link_lookup(ifname="lo")[0]
        have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ns.get_addr(index=lo)}
        for vip in vips:
            addr = ipaddress.ip_address(vip)
            plen = 32 if addr.version == 4 else 128
            if (str(addr), plen) not in have:
                ns.addr("add", index=lo, address=str(addr), prefixlen=plen)
    set_ = _netns.set_sysctl
    for scope in ("all", interface):
        set_(netns, f"net.ipv4.conf.{scope}.arp_ignore", 1)
        set_(netns, f"net.ipv4.conf.{scope}.arp_announce", 2)
        set_(netns, f"net.ipv4.conf.{scope}.rp_filter", 0)
    set_(netns, "net.ipv4.conf.default.rp_filter", 0)
    decap = Decapsulator(tunnel_addresses)
    try:
        link = decap.attach(interface, netns=netns)
    except BaseException:
        decap.close()
        raise
    return DsrBackend(decap, link)
