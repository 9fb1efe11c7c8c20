"""biolatency: block I/O latency histograms (the storage layer's view), per operation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..bpf import BpfObject, Link
from ..toolchain import open_source

__all__ = ["BioLatency", "Histogram"]

SOURCE = Path(__file__).with_name("biolatency.bpf.c")
MAX_SLOTS = 32
OPS = ("read", "write", "other")


@dataclass(frozen=True)
class Histogram:
    """Counts per log2 bucket of latency in microseconds: bucket i holds [2^i, 2^(i+1)) us."""

    op: str
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)

    def buckets(self) -> list[tuple[int, int, int]]:
        """(low_us, high_us, count) for the non-empty range of buckets."""
        used = [i for i, c in enumerate(self.counts) if c]
        if not used:
            return []
        return [
            (0 if i == 0 else 1 << i, (1 << (i + 1)) - 1, self.counts[i])
            for i in range(used[0], used[-1] + 1)
        ]


class BioLatency:
    """Attach the two block tracepoints; :meth:`histograms` reads the per-CPU buckets summed."""

    def __init__(self) -> None:
        self.obj: BpfObject = open_source(SOURCE)
        self.links: list[Link] = []
        try:
            self.obj.load()
            self.links = [self.obj.program(n).attach() for n in ("rq_issue", "rq_complete")]
        except BaseException:
            self.close()
            raise

    def histograms(self) -> dict[str, Histogram]:
        values = dict(self.obj.map("latency_us_log2").items())
        return {
            op: Histogram(op, tuple(values[i * MAX_SLOTS + s].sum() for s in range(MAX_SLOTS)))
            for i, op in enumerate(OPS)
        }

    def close(self) -> None:
        for link in self.links:
            link.close()
        self.links = []
        self.obj.close()

    def __enter__(self) -> BioLatency:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
