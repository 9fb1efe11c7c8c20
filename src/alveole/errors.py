"""The exception hierarchy of alveole.

Every error alveole raises on purpose derives from :class:`AlveoleError`, so a
caller can catch the whole family in one place while still telling the cases
apart::

    AlveoleError
    ├── CompileError              clang rejected a .bpf.c (diagnostics with file and line)
    ├── BpfError                  a BPF operation failed (carries errno and libbpf's messages)
    │   ├── LoadError             an object or program could not be loaded
    │   │   └── VerifierError     the kernel verifier rejected a program (full log, final reason)
    │   ├── MissingPrivilegeError the operation needs a capability the process lacks
    │   ├── MissingKernelFeatureError  the running kernel does not offer a needed feature
    │   ├── MapKeyError           a map key does not exist (also a KeyError)
    │   ├── AttachError           a program could not be attached to a hook
    │   └── BpfStateError         the operation does not fit the object's phase (opened vs loaded)
    ├── ValueCodecError           a Python value does not fit a BTF type (also a ValueError)
    ├── VnfError                  a VNF cannot be found, configured or run as asked
    │   ├── UnknownVnfError       no VNF of that name in the catalog (also a LookupError)
    │   ├── VnfConfigError        a VNF config does not validate; names the fields (also a ValueError)
    │   ├── ReloadRequiredError   a new config changes load-time settings: reload, not map diffs
    │   ├── VnfContractError      a VNF program broke the contract of alveole/vnf.h
    │   ├── ClassifierError       a firewall rule set the classifier cannot represent within its bounds
    │   └── TableFullError        no room left in the router's tables for a change (reload, larger table_size)
    ├── ChainError                a chain operation was refused; the chain is unchanged (alveole.datapath)
    ├── IncompatibleMapError      a map changed definition and the new version declares no migration
    ├── ProbeFailedError          a new VNF version failed its fixture-table probe; nothing was swapped
    ├── LbDeploymentError         a load balancer deployment cannot be created, found or changed
    ├── LabError                  a lab could not be read, created or removed (alveole.lab)
    ├── GenError                  the traffic generator cannot be configured or run as asked
    ├── BenchError                a benchmark could not set up or measure what it was asked to
    └── ManoError                 a MANO request cannot be carried out (alveole.mano.errors)
        ├── DescriptorError       a VNFD, NSD or request does not validate (also a ValueError)
        ├── NotFoundError         no such package, descriptor, NS instance or occurrence (also a LookupError)
        ├── ConflictError         the request does not fit the current state (exists, in use, wrong state)
        │   └── LcmBusyError      another process holds this host's lifecycle lock
        └── OperationFailedError  an operation ran and failed; ``occ`` says how it ended

This module defines AlveoleError, CompileError, the BpfError family, ValueCodecError,
VnfError and its first four subclasses. The others are defined where they are raised:
ClassifierError in ``alveole.vnf.firewall.classifier``, TableFullError in
``alveole.vnf.router.update``, ChainError, IncompatibleMapError and ProbeFailedError in
``alveole.datapath`` (chain, compat, member), LbDeploymentError in ``alveole.lb.deploy``,
LabError in ``alveole.lab``, GenError in ``alveole.trafficgen``, BenchError in
``alveole.bench.dut``, and the ManoError family in ``alveole.mano.errors``.
"""

from __future__ import annotations

import errno as _errno
import os
from dataclasses import dataclass

__all__ = [
    "NO_REASON",
    "AlveoleError",
    "AttachError",
    "BpfError",
    "BpfStateError",
    "CompileError",
    "Diagnostic",
    "LoadError",
    "MapKeyError",
    "MissingKernelFeatureError",
    "MissingPrivilegeError",
    "ReloadRequiredError",
    "UnknownVnfError",
    "ValueCodecError",
    "VerifierError",
    "VnfConfigError",
    "VnfContractError",
    "VnfError",
    "verifier_reason",
]


class AlveoleError(Exception):
    """Base class of every error raised by alveole on purpose."""


@dataclass(frozen=True)
class Diagnostic:
    """One clang diagnostic: where it is and what it says."""

    file: str
    line: int
    column: int
    severity: str  # "error", "warning", "note", "fatal error"
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"


class CompileError(AlveoleError):
    """clang could not compile a BPF C source."""

    def __init__(self, source: str, diagnostics: list[Diagnostic], output: str) -> None:
        self.source = source
        self.diagnostics = diagnostics
        self.output = output
        errors = [d for d in diagnostics if d.severity in ("error", "fatal error")]
        if errors:
            head = str(errors[0])
        else:  # e.g. a backend error without a location: the first line that says "error"
            lines = [ln for ln in output.splitlines() if "error" in ln] or output.strip().splitlines()
            head = lines[0] if lines else "clang failed"
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        super().__init__(f"cannot compile {source}: {head}{more}")

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity in ("error", "fatal error")]


class BpfError(AlveoleError):
    """A BPF operation failed. ``errno`` is the kernel's or libbpf's error number."""

    def __init__(self, message: str, errno: int = 0, libbpf_log: str = "") -> None:
        self.errno = errno
        self.libbpf_log = libbpf_log
        detail = f" [{_errno.errorcode.get(errno, errno)}: {os.strerror(errno)}]" if errno else ""
        super().__init__(f"{message}{detail}")


class LoadError(BpfError):
    """A BPF object or program could not be loaded into the kernel."""


class VerifierError(LoadError):
    """The kernel verifier rejected a program.

    ``log`` is the verifier's whole log; ``reason`` is its final diagnostic line
    (the line a human reads first, e.g. ``R1 offset is outside of the packet``).
    """

    def __init__(self, program: str, log: str, errno: int, libbpf_log: str = "") -> None:
        self.program = program
        self.log = log
        self.reason = verifier_reason(log)
        super().__init__(f"verifier rejected program {program!r}: {self.reason}", errno, libbpf_log)


class MissingPrivilegeError(BpfError):
    """The process lacks a capability the operation needs (``capability`` names it)."""

    def __init__(self, operation: str, capability: str, errno: int = _errno.EPERM) -> None:
        self.operation = operation
        self.capability = capability
        super().__init__(f"{operation} needs {capability} (run as root or grant {capability})", errno)


class MissingKernelFeatureError(BpfError):
    """The running kernel lacks a feature (``feature`` names it)."""

    def __init__(self, feature: str, hint: str = "", errno: int = 0) -> None:
        self.feature = feature
        self.hint = hint
        super().__init__(f"kernel feature missing: {feature}" + (f" ({hint})" if hint else ""), errno)


class MapKeyError(BpfError, KeyError):
    """A key is not present in a BPF map."""

    def __init__(self, map_name: str, key: object) -> None:
        self.map_name = map_name
        self.key = key
        BpfError.__init__(self, f"key {key!r} not in map {map_name!r}", _errno.ENOENT)

    def __str__(self) -> str:  # KeyError would quote the message otherwise
        return self.args[0]


class AttachError(BpfError):
    """A program could not be attached to (or detached from) a hook."""


class BpfStateError(BpfError):
    """The operation needs the object in another phase (e.g. set a global after load)."""


class ValueCodecError(AlveoleError, ValueError):
    """A Python value cannot be encoded into (or decoded from) a BTF type."""


class VnfError(AlveoleError):
    """A VNF cannot be found, configured or run as asked."""


class UnknownVnfError(VnfError, LookupError):
    """No VNF of that name in the catalog."""

    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        super().__init__(f"no VNF named {name!r} (catalog: {', '.join(known) or 'empty'})")

    def __str__(self) -> str:  # LookupError would quote the message otherwise
        return self.args[0]


class VnfConfigError(VnfError, ValueError):
    """A VNF config does not validate. ``errors`` lists (field path, message) pairs."""

    def __init__(self, vnf: str, errors: list[tuple[str, str]]) -> None:
        self.vnf = vnf
        self.errors = errors
        detail = "; ".join(f"{loc}: {msg}" if loc else msg for loc, msg in errors)
        super().__init__(f"invalid {vnf} config: {detail}")


class ReloadRequiredError(VnfError):
    """A new config changes what is fixed at load (``const volatile`` globals, map sizes).

    Such a change needs a new program (a live update), not map diffs; ``changes``
    names what differs.
    """

    def __init__(self, vnf: str, changes: list[str]) -> None:
        self.vnf = vnf
        self.changes = changes
        super().__init__(f"{vnf}: the new config changes load-time settings ({', '.join(changes)}): reload")


class VnfContractError(VnfError):
    """A VNF program broke the contract of ``alveole/vnf.h`` (e.g. counted no verdict)."""


NO_REASON = "no verifier diagnostic"

_TRAILER_PREFIXES = (
    "processed ",
    "verification time",
    "stack depth",
    "max_states_per_insn",
    "-- END PROG LOAD LOG --",
)


def verifier_reason(log: str) -> str:
    """The verifier's final diagnostic: the last line that is not a statistics trailer."""
    for line in reversed(log.splitlines()):
        text = line.strip()
        if text and not text.startswith(_TRAILER_PREFIXES):
            return text
    return NO_REASON
