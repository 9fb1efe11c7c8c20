"""A typed layer over the system libbpf.

Open and load compiled objects, run programs through BPF_PROG_TEST_RUN, read
and write maps with types taken from BTF, attach programs to XDP, TC (tcx) and
tracepoints, consume ring buffers. Errors are the :mod:`alveole.errors` family.

    >>> from alveole.bpf import BpfObject
    >>> with BpfObject.open("fw.bpf.o") as obj:
    ...     obj.globals["default_drop"] = True      # const volatile, before load
    ...     obj.load()
    ...     res = obj.program("fw").run(packet)     # verdict, data, duration_ns
"""

from .btf import Btf, BtfKind
from .codec import Codec
from .kinds import AttachType, LinkType, MapType, ProgType, TcAction, XdpAction
from .link import Link, LinkInfo, attach_tc, attach_tracepoint, attach_xdp
from .map import BPF_ANY, BPF_EXIST, BPF_NOEXIST, Map, PerCpu, num_possible_cpus
from .object import BpfObject, Globals, ObjectMap, ObjectProgram
from .program import BPF_F_TEST_RUN_ON_CPU, BPF_F_TEST_XDP_LIVE_FRAMES, ProgInfo, Program, RunResult, xdp_md
from .ringbuf import RingBuffer

__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_F_TEST_RUN_ON_CPU",
    "BPF_F_TEST_XDP_LIVE_FRAMES",
    "BPF_NOEXIST",
    "AttachType",
    "BpfObject",
    "Btf",
    "BtfKind",
    "Codec",
    "Globals",
    "Link",
    "LinkInfo",
    "LinkType",
    "Map",
    "MapType",
    "ObjectMap",
    "ObjectProgram",
    "PerCpu",
    "ProgInfo",
    "ProgType",
    "Program",
    "RingBuffer",
    "RunResult",
    "TcAction",
    "XdpAction",
    "attach_tc",
    "attach_tracepoint",
    "attach_xdp",
    "num_possible_cpus",
    "xdp_md",
]
