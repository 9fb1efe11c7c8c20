"""Devices under test: set up on the receiving side of a bed, count what they processed.

A :class:`Dut` is configured in the bed's DUT namespace by :meth:`Dut.setup`, reports a
monotonic count of the measured frames it processed with :meth:`Dut.processed`, and
undoes what the namespace's removal would not (pins, global state) in
:meth:`Dut.teardown`. Forwarding DUTs are counted at the bed's sink instead
(``counts_at_sink``): what came out of the DUT is what it processed.

iptables and nftables run through ``ip netns exec`` (they need no bpffs); xdp-filter
runs through ``nsenter --net=`` because it pins in the root bpffs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import progs
from ..bpf import BpfObject, Link, XdpAction
from ..errors import AlveoleError
from ..system import netns as _netns
from ..system.mounts import BPFFS
from ..toolchain import open_source
from . import policy as pol
from .bed import Bed

if TYPE_CHECKING:
    from ..vnf.instance import VnfInstance

__all__ = [
    "BenchError",
    "Dut",
    "IptablesDut",
    "LinuxForwardDut",
    "NftablesDut",
    "VnfAttached",
    "XdpDropDut",
    "XdpFilterDut",
    "tool_version",
]


class BenchError(AlveoleError):
    """A benchmark could not set up or measure what it was asked to."""


def _run(argv: list[str], *, stdin: str | None = None, timeout: float = 600) -> str:
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise BenchError(f"{argv[0]} is not installed") from e
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"{' '.join(argv[:6])} took more than {timeout:.0f} s") from e
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv[:6])} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def _in_netns(netns: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv]


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return "not installed"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


class Dut:
    """A device under test. Subclasses set ``counts_at_sink`` when they forward."""

    counts_at_sink = False

    def setup(self, bed: Bed) -> None:
        """Configure the DUT in ``bed.dut_ns``."""

    def processed(self) -> int:
        """Frames of the measured traffic processed so far (monotonic)."""
        raise BenchError(f"{type(self).__name__} is counted at the sink")

    def arrivals(self) -> int:
        """A cheap monotonic count that stops moving when the DUT is idle (to wait for the
        end of a run before the possibly slow :meth:`processed`)."""
        return self.processed()

    def teardown(self) -> None:
        """Undo what removing the DUT namespace would not."""

    def details(self) -> dict[str, Any]:
        """Facts worth reporting with the figure (versions, rule counts, program names)."""
        return {}


class _XdpAttached:
    """Holds an XDP program attached to an interface for the DUT's lifetime."""

    def __init__(self) -> None:
        self._obj: BpfObject | None = None
        self._link: Link | None = None

    def attach(self, obj: BpfObject, program: str | None, bed: Bed, interface: str | None = None) -> None:
        self._obj = obj
        self._link = obj.program(program).attach_xdp(interface or bed.dut_in, netns=bed.dut_ns)

    @property
    def obj(self) -> BpfObject:
        if self._obj is None:
            raise BenchError("DUT is not set up")
        return self._obj

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None
        if self._obj is not None:
            self._obj.close()
            self._obj = None


def _pass_through(bed: Bed, keep: _XdpAttached) -> None:
    """Count and pass in XDP on the DUT's ingress: the veth accepts redirected frames, the
    stack gets them, and the count says when a run's frames have all arrived."""
    obj = open_source(progs.path("counter"), name="dut_pass")
    try:
        obj.globals["action"] = int(XdpAction.PASS)
        obj.load()
        keep.attach(obj, None, bed)
    except BaseException:
        obj.close()
        raise


def _xdp_count(keep: _XdpAttached) -> int:
    return int(keep.obj.map("counters")[0].sum().packets)


class XdpDropDut(Dut):
    """``xdp-drop``: count and drop in XDP, the floor of the XDP path."""

    def __init__(self) -> None:
        self._xdp = _XdpAttached()

    def setup(self, bed: Bed) -> None:
        obj = open_source(progs.path("counter"), name="dut_drop")
        try:
            obj.globals["action"] = int(XdpAction.DROP)
            obj.load()
            self._xdp.attach(obj, None, bed)
        except BaseException:
            obj.close()
            raise

    def processed(self) -> int:
        return _xdp_count(self._xdp)

    def teardown(self) -> None:
        self._xdp.close()


class VnfAttached:
    """A catalog VNF instance and the link that attaches it, held for a DUT's lifetime
    (the VNF rows' DUTs in ``vnf/<name>/dut.py`` keep one)."""

    def __init__(self) -> None:
        self.inst: VnfInstance | None = None
        self._link: Link | None = None

    def hold(self, inst: VnfInstance, attach: Callable[[VnfInstance], Link]) -> None:
        self.inst = inst  # held first: close() releases it even when attaching fails
        self._link = attach(inst)

    def hold_xdp(self, inst: VnfInstance, bed: Bed) -> None:
        """Hold ``inst`` attached in XDP native mode to the DUT's ingress."""
        self.hold(inst, lambda i: i.program.attach_xdp(bed.dut_in, mode="native", netns=bed.dut_ns))

    def packets(self) -> int:
        """Packets the VNF counted, all verdicts (its ``alv_stats``)."""
        if self.inst is None:
            raise BenchError("DUT is not set up")
        return sum(c.packets for c in self.inst.counters().values())

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None
        if self.inst is not None:
            self.inst.close()
            self.inst = None


class IptablesDut(Dut):
    """``iptables-N``: the policy as linear INPUT rules, the drop counted in its own chain."""

    def __init__(self, policy: pol.Policy) -> None:
        self.policy = policy
        self._xdp = _XdpAttached()
        self._ns = ""

    def setup(self, bed: Bed) -> None:
        self._ns = bed.dut_ns
        _pass_through(bed, self._xdp)
        _run(_in_netns(bed.dut_ns, ["iptables-restore"]), stdin=pol.iptables_restore(self.policy))

    def processed(self) -> int:
        out = _run(_in_netns(self._ns, ["iptables", "-L", pol.iptables_counter_chain(), "-v", "-x", "-n"]))
        for line in out.splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[2] == "DROP":
                return int(fields[0])
        raise BenchError(f"no DROP rule counter in iptables chain {pol.iptables_counter_chain()}")

    def arrivals(self) -> int:
        return _xdp_count(self._xdp)  # the INPUT hook runs in the same NAPI poll as this

    def teardown(self) -> None:
        self._xdp.close()

    def details(self) -> dict[str, Any]:
        return {"rules": len(self.policy), "version": tool_version(["iptables", "--version"])}


class NftablesDut(Dut):
    """``nftables-N`` (linear rules) and ``nftables-set-N`` (one concatenated set lookup)."""

    def __init__(self, policy: pol.Policy, form: str = "linear") -> None:
        if form not in ("linear", "set"):
            raise ValueError("form is 'linear' or 'set'")
        self.policy = policy
        self.form = form
        self._xdp = _XdpAttached()
        self._ns = ""

    def setup(self, bed: Bed) -> None:
        self._ns = bed.dut_ns
        _pass_through(bed, self._xdp)
        text = pol.nft_linear(self.policy) if self.form == "linear" else pol.nft_set(self.policy)
        _run(_in_netns(bed.dut_ns, ["nft", "-f", "-"]), stdin=text)

    def processed(self) -> int:
        out = _run(_in_netns(self._ns, ["nft", "-j", "list", "counter", "ip", pol.TABLE, pol.FINAL_COUNTER]))
        for item in json.loads(out).get("nftables", []):
            if "counter" in item:
                return int(item["counter"]["packets"])
        raise BenchError(f"no nftables counter {pol.FINAL_COUNTER}")

    def arrivals(self) -> int:
        return _xdp_count(self._xdp)  # reading an nftables counter costs seconds at 100k rules

    def teardown(self) -> None:
        self._xdp.close()

    def details(self) -> dict[str, Any]:
        return {"rules": len(self.policy), "form": self.form, "version": tool_version(["nft", "--version"])}


class XdpFilterDut(Dut):
    """``xdp-filter``: Debian's xdp-tools filter in deny mode with an allow list (see policy)."""

    PIN_DIR = os.path.join(BPFFS, "xdp-filter")
    LIBXDP_DIR = os.path.join(BPFFS, "xdp")  # libxdp's lock/dispatcher directory

    def __init__(self, policy: pol.XdpfPolicy, mode: str = "native") -> None:
        self.policy = policy
        self.mode = mode
        self._ns = ""
        self._iface = ""
        self._program = ""
        self._libxdp_dir_existed = True

    def _xf(self, *args: str) -> str:
        return _run(["nsenter", f"--net={_netns.netns_path(self._ns)}", "xdp-filter", *args])

    def setup(self, bed: Bed) -> None:
        if not shutil.which("xdp-filter"):
            raise BenchError("xdp-filter is not installed (apt install xdp-tools)")
        if os.path.exists(self.PIN_DIR):
            # its maps are global (pinned in the root bpffs): do not disturb another user
            raise BenchError(f"xdp-filter is already in use on this host ({self.PIN_DIR} exists)")
        self._ns, self._iface = bed.dut_ns, bed.dut_in
        self._libxdp_dir_existed = os.path.exists(self.LIBXDP_DIR)
        self._xf("load", "--policy", "deny", "--mode", self.mode, bed.dut_in)
        for port in self.policy.ports:
            self._xf("port", str(port))
        for addr in self.policy.sources:
            self._xf("ip", "--mode", "src", str(addr))
        status = self._xf("status")
        m = re.search(r"^(xdpfilt_\w+)", status, re.M)
        self._program = m.group(1) if m else "?"

    def processed(self) -> int:
        status = self._xf("status")
        m = re.search(r"XDP_DROP\s+(\d+)\s+pkts", status)
        if not m:
            raise BenchError("cannot read xdp-filter's XDP_DROP counter")
        return int(m.group(1))

    def teardown(self) -> None:
        if self._ns:
            try:
                self._xf("unload", self._iface)
            except BenchError:
                pass
            finally:
                self._ns = ""
            if not self._libxdp_dir_existed:  # ours, and empty once unloaded (rmdir refuses otherwise)
                with contextlib.suppress(OSError):
                    os.rmdir(self.LIBXDP_DIR)

    def details(self) -> dict[str, Any]:
        return {
            "program": self._program,
            "mode": self.mode,
            "allowed_ports": len(self.policy.ports),
            "allowed_sources": len(self.policy.sources),
            "version": tool_version(["xdp-filter", "load", "--version"]),
        }


class LinuxForwardDut(Dut):
    """``linux-fwd``: Linux IP forwarding with the bed's routes (XDP_PASS on the ingress)."""

    counts_at_sink = True

    def __init__(self) -> None:
        self._xdp = _XdpAttached()

    def setup(self, bed: Bed) -> None:
        _pass_through(bed, self._xdp)

    def teardown(self) -> None:
        self._xdp.close()

    def details(self) -> dict[str, Any]:
        return {"routes": 1}
