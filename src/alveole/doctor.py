"""``alveole doctor``: is this host able to run alveole? Each check says what to do when it is not."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from . import progs
from .errors import AlveoleError

__all__ = ["Check", "run_checks"]


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn", "fail"
    detail: str
    fix: str = ""
    required: bool = True


def _kernel_version() -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", platform.release())
    return (int(m[1]), int(m[2])) if m else (0, 0)


def check_kernel() -> Check:
    v = _kernel_version()
    detail = f"Linux {platform.release()}"
    if v >= (6, 6):
        return Check("kernel", "ok", detail)
    if v >= (5, 18):
        return Check(
            "kernel", "warn", detail + " (no tcx links: TC hooks unavailable)", "use a kernel >= 6.6"
        )
    return Check("kernel", "fail", detail + " (live-frames test_run needs >= 5.18)", "use a kernel >= 6.6")


def check_btf() -> Check:
    path = "/sys/kernel/btf/vmlinux"
    if os.path.exists(path):
        return Check("kernel BTF", "ok", f"{path} ({os.path.getsize(path) // 1024} KiB)")
    return Check("kernel BTF", "fail", "missing", "a kernel built with CONFIG_DEBUG_INFO_BTF=y")


def check_privileges() -> Check:
    caps = {"CAP_NET_ADMIN": 12, "CAP_SYS_ADMIN": 21, "CAP_PERFMON": 38, "CAP_BPF": 39}
    eff = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                eff = int(line.split()[1], 16)
    have = [n for n, bit in caps.items() if eff >> bit & 1]
    missing = [n for n in caps if n not in have and n != "CAP_SYS_ADMIN"]
    if not missing or "CAP_SYS_ADMIN" in have:
        return Check("privileges", "ok", f"euid {os.geteuid()}, " + ", ".join(have))
    return Check("privileges", "fail", "missing " + ", ".join(missing), "run as root (sudo)")


def check_bpffs() -> Check:
    from .system.mounts import BPFFS, ensure_bpffs

    try:
        ensure_bpffs()
    except (AlveoleError, OSError) as e:
        return Check("bpffs", "fail", str(e), f"mount -t bpf bpf {BPFFS}")
    return Check("bpffs", "ok", f"mounted at {BPFFS}")


def check_tracefs() -> Check:
    from .system.mounts import TRACEFS, ensure_tracefs

    try:
        ensure_tracefs()
    except (AlveoleError, OSError) as e:
        return Check("tracefs", "fail", str(e), f"mount -t tracefs tracefs {TRACEFS}", required=False)
    return Check("tracefs", "ok", f"mounted at {TRACEFS}", required=False)


def _tool_version(cmd: list[str], pattern: str) -> str | None:
    if not shutil.which(cmd[0]):
        return None
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    m = re.search(pattern, out)
    return m[1] if m else out.strip().splitlines()[0] if out.strip() else "?"


def check_clang() -> Check:
    v = _tool_version(["clang", "--version"], r"clang version (\S+)")
    if v is None:
        return Check("clang", "fail", "not found", "apt install clang llvm")
    major = int(v.split(".")[0]) if v.split(".")[0].isdigit() else 0
    if major < 11:
        return Check("clang", "fail", f"{v} (BTF-defined maps need >= 11)", "apt install clang")
    return Check("clang", "ok", v)


def check_bpftool() -> Check:
    v = _tool_version(["bpftool", "version"], r"v(\S+)")
    if v is None:
        return Check(
            "bpftool", "fail", "not found (needed for vmlinux.h)", "apt install bpftool", required=False
        )
    return Check("bpftool", "ok", v, required=False)


def check_libbpf() -> Check:
    try:
        from .bpf._libbpf import lib
    except OSError as e:
        return Check("libbpf", "fail", str(e), "apt install libbpf1")
    return Check(
        "libbpf", "ok", f"{lib.libbpf_major_version()}.{lib.libbpf_minor_version()} (system libbpf1)"
    )


def _read_sysctl(path: str, default: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def check_jit() -> Check:
    jit = _read_sysctl("/proc/sys/net/core/bpf_jit_enable", "?")
    stats = _read_sysctl("/proc/sys/kernel/bpf_stats_enabled", "0")
    if jit != "1":
        return Check(
            "BPF JIT", "warn", f"bpf_jit_enable={jit}", "sysctl net.core.bpf_jit_enable=1", required=False
        )
    if stats != "0":
        return Check(
            "BPF JIT",
            "warn",
            "kernel.bpf_stats_enabled=1 (halves XDP throughput)",
            "sysctl kernel.bpf_stats_enabled=0",
            required=False,
        )
    return Check("BPF JIT", "ok", "enabled, run-time stats off", required=False)


def check_load_and_run() -> Check:
    from .toolchain import open_source

    try:
        with open_source(progs.path("noop")) as obj:
            obj.load()
            res = obj.program("xdp_noop").run(bytes(64), repeat=1000)
    except (AlveoleError, OSError) as e:
        return Check("load + test_run", "fail", str(e), "see the error above")
    return Check("load + test_run", "ok", f"XDP no-op verdict {res.verdict.name}, {res.duration_ns} ns/run")


def check_xdp_tc_live_frames() -> list[Check]:
    """Attach XDP and tcx to a veth in a scratch namespace, then send live frames through it."""
    from .bpf import BPF_F_TEST_XDP_LIVE_FRAMES
    from .system import netns
    from .toolchain import open_source

    out: list[Check] = []
    try:
        with netns.scratch("alvdoc") as ns:
            tx_idx, _rx_idx = netns.add_veth(ns, "alvdoc0", "alvdoc1", ipv6=False)
            with (
                open_source(progs.path("counter")) as rx,
                open_source(progs.path("noop")) as noop,
                open_source(progs.path("redirect")) as gen,
            ):
                rx.globals["action"] = 1  # XDP_DROP: count, then drop
                rx.load()
                noop.load()
                gen.globals["target_ifindex"] = tx_idx
                gen.load()
                # the sending veth needs an XDP program too for redirected frames to be accepted
                with (
                    noop.program("xdp_noop").attach_xdp("alvdoc0", netns=ns),
                    rx.program().attach_xdp("alvdoc1", mode="native", netns=ns) as link,
                ):
                    out.append(Check("XDP on veth", "ok", f"native XDP link id {link.id}"))
                    with netns.enter(ns):
                        gen.program().run(bytes(_udp_frame()), repeat=1000, flags=BPF_F_TEST_XDP_LIVE_FRAMES)
                    got = rx.maps["counters"][0].sum().packets
                    status = "ok" if got == 1000 else "fail"
                    out.append(
                        Check(
                            "live-frames test_run",
                            status,
                            f"sent 1000 frames, {got} arrived",
                            "kernel >= 5.18 with veth XDP",
                        )
                    )
                try:
                    with noop.program("tc_noop").attach_tc("alvdoc1", direction="ingress", netns=ns) as tc:
                        out.append(Check("tcx (TC links)", "ok", f"tcx link id {tc.id}"))
                except AlveoleError as e:
                    out.append(Check("tcx (TC links)", "fail", str(e), "kernel >= 6.6"))
    except (AlveoleError, OSError) as e:
        out.append(Check("XDP on veth", "fail", str(e), "needs root, veth and native XDP"))
    return out


def _udp_frame() -> bytes:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    pkt = (
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / IP(src="198.18.0.1", dst="198.18.0.2")
        / UDP(sport=1024, dport=9)
    )
    return bytes(pkt / bytes(max(0, 60 - len(pkt))))


CHECKS: list[Callable[[], Check | list[Check]]] = [
    check_kernel,
    check_btf,
    check_privileges,
    check_bpffs,
    check_tracefs,
    check_clang,
    check_bpftool,
    check_libbpf,
    check_jit,
    check_load_and_run,
    check_xdp_tc_live_frames,
]


def run_checks() -> list[Check]:
    results: list[Check] = []
    for fn in CHECKS:
        r = fn()
        results.extend(r if isinstance(r, list) else [r])
    return results
