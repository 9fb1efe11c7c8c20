"""Two generations of chain slots in one program array, switched by one map write.

Slot ``gen * CHAIN_MAX + pos`` holds the VNF at position ``pos`` of generation
``gen``; each program is loaded for its slot (``alv_next_slot``, see
<alveole/vnf.h>). The dispatcher reads the active generation once per packet. A
new chain is written into the inactive generation, then made active by a single
update of the conf map: a packet runs the old chain or the new one, never a mix
(refilling slots of a live generation one by one would not be atomic, Cilium
#28740). The old generation stays untouched until the next change, so packets
already in it finish there. A live update of one VNF replaces its slot in place:
one slot write is atomic.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..bpf import Map, Program

__all__ = ["CHAIN_MAX", "END_VERDICTS", "NO_NEXT", "ChainSlots", "next_slot"]

CHAIN_MAX = 16  # ALV_CHAIN_MAX in <alveole/vnf.h>
END_VERDICTS = {"pass": 1, "drop": 2}  # ALV_PASS, ALV_DROP
NO_NEXT = 0xFFFFFFFF  # ALV_NO_NEXT


def next_slot(gen: int, pos: int) -> int:
    """The ``alv_next_slot`` of a VNF loaded for position ``pos`` of generation ``gen``."""
    return gen * CHAIN_MAX + pos + 1 if pos + 1 < CHAIN_MAX else NO_NEXT


class ChainSlots:
    """The chain's program array (``alv_chain_xdp``/``alv_chain_tc``) and conf map."""

    def __init__(self, progs: Map, conf: Map) -> None:
        self.progs = progs
        self.conf = conf

    @property
    def active_gen(self) -> int:
        return self.conf[0].gen & 1

    @property
    def inactive_gen(self) -> int:
        return 1 - self.active_gen

    @property
    def end(self) -> str:
        code = self.conf[0].end
        return "drop" if code == END_VERDICTS["drop"] else "pass"

    def program_ids(self, gen: int | None = None) -> list[int]:
        """Program ids of a generation (the active one by default), in chain order."""
        g = self.active_gen if gen is None else gen
        ids = []
        for pos in range(CHAIN_MAX):
            pid = self.progs.get(g * CHAIN_MAX + pos)
            if pid is None:
                break
            ids.append(pid)
        return ids

    def install(self, programs: Sequence[Program], end: str | None = None) -> int:
        """Write ``programs`` (loaded for the inactive generation) there, then activate it."""
        if len(programs) > CHAIN_MAX:
            raise ValueError(f"a chain holds at most {CHAIN_MAX} VNFs, not {len(programs)}")
        end_code = END_VERDICTS[end or self.end]
        gen = 1 - self.active_gen
        base = gen * CHAIN_MAX
        for pos, prog in enumerate(programs):
            self.progs[base + pos] = prog
        for pos in range(len(programs), CHAIN_MAX):
            self.progs.pop(base + pos, None)
        self.conf[0] = {"gen": gen, "end": end_code}  # the switch: one map write
        return gen

    def set_end(self, end: str) -> None:
        self.conf[0] = {"gen": self.active_gen, "end": END_VERDICTS[end]}

    def replace(self, pos: int, new: Program, expected_id: int | None = None) -> None:
        """Point slot ``pos`` of the active generation at ``new`` (one atomic slot write).

        With ``expected_id``, refuse when the slot no longer holds that program.
        """
        slot = self.active_gen * CHAIN_MAX + pos
        if expected_id is not None and self.progs.get(slot) != expected_id:
            raise RuntimeError(f"slot {slot} no longer holds program {expected_id}")
        self.progs[slot] = new
