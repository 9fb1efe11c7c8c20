"""The per-host data plane: service chains on XDP and TC hooks, live update, pins, re-adoption."""

from .chain import Chain, ChainError, Repair, UpdateReport
from .compat import COPY, DROP, IncompatibleMapError
from .layout import HOOKS, ChainId, ChainPaths
from .manager import Datapath, raw_resolver
from .member import Member, MemberSpec, ProbeFailedError

__all__ = [
    "COPY",
    "DROP",
    "HOOKS",
    "Chain",
    "ChainError",
    "ChainId",
    "ChainPaths",
    "Datapath",
    "IncompatibleMapError",
    "Member",
    "MemberSpec",
    "ProbeFailedError",
    "Repair",
    "UpdateReport",
    "raw_resolver",
]
