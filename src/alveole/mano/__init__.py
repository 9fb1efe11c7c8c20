"""MANO: VNF and NS descriptors, a lifecycle manager with operation occurrences, a REST API, metrics.

    >>> from alveole.mano import Lcm, load_documents
    >>> lcm = Lcm.open()                                   # SQLite store + the kernel; recovers crashes
    >>> ns, occ = lcm.deploy(load_documents("examples/ns/monitor.yaml"), netns="alv-demo")
    >>> lcm.modify_config(ns.id, {"mon": {"ignore": ["198.18.9.0/24"]}})   # map diffs, live
    >>> [c.as_dict() for c in lcm.chains(ns.id)]          # per-hop counters
    >>> lcm.terminate(ns.id)

See docs/mano.md.
"""

from .descriptors import Nsd, Vnfd, load_documents, parse_nsd, parse_vnfd
from .driver import ChainView, DatapathDriver, FakeDriver, KernelDriver, MemberView
from .errors import (
    ConflictError,
    DescriptorError,
    LcmBusyError,
    ManoError,
    NotFoundError,
    OperationFailedError,
)
from .lcm import CRASH_ENV, Lcm
from .models import NsInstance, NsState, Operation, OpOcc, OpState, VnfInstance
from .reports import ChainReport, VnfPackage
from .store import SqliteStore, Store, default_db_path

__all__ = [
    "CRASH_ENV",
    "ChainReport",
    "ChainView",
    "ConflictError",
    "DatapathDriver",
    "DescriptorError",
    "FakeDriver",
    "KernelDriver",
    "Lcm",
    "LcmBusyError",
    "ManoError",
    "MemberView",
    "NotFoundError",
    "NsInstance",
    "NsState",
    "Nsd",
    "OpOcc",
    "OpState",
    "Operation",
    "OperationFailedError",
    "SqliteStore",
    "Store",
    "VnfInstance",
    "VnfPackage",
    "Vnfd",
    "default_db_path",
    "load_documents",
    "parse_nsd",
    "parse_vnfd",
]
