"""MANO errors: part of the one alveole hierarchy (all derive from :class:`~alveole.errors.AlveoleError`).

::

    AlveoleError
    └── ManoError                   a MANO request cannot be carried out
        ├── DescriptorError         a VNFD, NSD or request does not validate; lists (field path, problem)
        ├── NotFoundError           no such package, descriptor, NS instance, op occurrence (a LookupError)
        ├── ConflictError           the request does not fit the current state (in use, exists, wrong state)
        │   └── LcmBusyError        another operation holds this host's lifecycle lock
        └── OperationFailedError    an operation ran and failed; ``occ`` says how it ended

The REST API maps them to HTTP statuses (422, 404, 409, 409, 500).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import AlveoleError

if TYPE_CHECKING:
    from .models import OpOcc

__all__ = [
    "ConflictError",
    "DescriptorError",
    "LcmBusyError",
    "ManoError",
    "NotFoundError",
    "OperationFailedError",
]


class ManoError(AlveoleError):
    """A MANO request cannot be carried out."""


class DescriptorError(ManoError, ValueError):
    """A descriptor (or an operation request) does not validate.

    ``errors`` lists (field path, problem) pairs, the path in the descriptor's own
    terms (``vnfProfiles[0].config.table_size``); ``what`` names the document.
    """

    def __init__(self, what: str, errors: list[tuple[str, str]]) -> None:
        self.what = what
        self.errors = errors
        lines = [f"{loc}: {msg}" if loc else msg for loc, msg in errors]
        detail = lines[0] if len(lines) == 1 else "".join(f"\n  - {ln}" for ln in lines)
        super().__init__(f"invalid {what}: {detail}")


class NotFoundError(ManoError, LookupError):
    """No such package, descriptor, NS instance or operation occurrence."""

    def __init__(self, kind: str, ident: str, known: list[str] | None = None) -> None:
        self.kind = kind
        self.ident = ident
        hint = f" (have: {', '.join(known)})" if known else ""
        super().__init__(f"no {kind} {ident!r}{hint}")

    def __str__(self) -> str:  # LookupError would quote the message otherwise
        return self.args[0]


class ConflictError(ManoError):
    """The request does not fit the current state (already exists, in use, operation in progress)."""


class LcmBusyError(ConflictError):
    """Another process holds this host's lifecycle lock for longer than we wait."""


class OperationFailedError(ManoError):
    """An operation ran and failed; ``occ`` is its occurrence (ROLLED_BACK or FAILED)."""

    def __init__(self, occ: OpOcc) -> None:
        self.occ = occ
        detail = occ.error.detail if occ.error else "no detail"
        super().__init__(f"{occ.lcmOperationType} {occ.id} {occ.operationState}: {detail}")
