"""A real end-to-end self-check: compile a small VNF, load it, run packets through it in the kernel."""

from __future__ import annotations

from dataclasses import dataclass

from . import progs
from .bpf import BpfObject
from .toolchain import compile_bpf

__all__ = ["SelfCheckResult", "run_selfcheck"]


@dataclass(frozen=True)
class SelfCheckResult:
    compile_ms: float
    compile_cached: bool
    load_ms: float
    program_id: int
    program_tag: str
    verified_insns: int
    rows: list[tuple[str, str, str, int]]  # packet, expected, verdict, ns
    counters: dict[str, int]

    @property
    def ok(self) -> bool:
        return all(expected == got for _, expected, got, _ in self.rows)


def run_selfcheck(blocked_port: int = 9) -> SelfCheckResult:
    import time

    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import ARP, Ether

    compiled = compile_bpf(progs.path("selfcheck"))
    t0 = time.perf_counter()
    with BpfObject.open(compiled.path, name="selfcheck") as obj:
        obj.globals["blocked_port"] = blocked_port
        obj.load()
        load_ms = (time.perf_counter() - t0) * 1000
        prog = obj.program()
        info = prog.info()
        eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        ip = IP(src="198.18.0.1", dst="198.19.0.1")
        cases = [
            (f"UDP to port {blocked_port}", eth / ip / UDP(sport=4000, dport=blocked_port), "DROP"),
            ("UDP to port 53", eth / ip / UDP(sport=4000, dport=53), "PASS"),
            (f"TCP to port {blocked_port}", eth / ip / TCP(sport=4000, dport=blocked_port), "PASS"),
            ("ARP request", eth / ARP(psrc="198.18.0.1", pdst="198.18.0.2"), "PASS"),
            ("truncated IPv4 header", bytes(eth / ip / UDP(dport=blocked_port))[:20], "PASS"),
        ]
        rows = []
        for label, pkt, expected in cases:
            res = prog.run(bytes(pkt), repeat=1000)
            rows.append((label, expected, res.verdict.name, res.duration_ns))
        total = obj.maps["stats"][0].sum()
    return SelfCheckResult(
        compile_ms=compiled.seconds * 1000,
        compile_cached=compiled.cached,
        load_ms=load_ms,
        program_id=info.id,
        program_tag=info.tag,
        verified_insns=info.verified_insns,
        rows=rows,
        counters={"passed": total.passed, "dropped": total.dropped},
    )
