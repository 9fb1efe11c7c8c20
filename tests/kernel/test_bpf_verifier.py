"""A verifier rejection is a typed error with the verifier's reason, and leaves nothing behind."""

from __future__ import annotations

import pytest

from alveole.bpf import BpfObject
from alveole.errors import VerifierError
from alveole.toolchain import compile_bpf

from .helpers import PROGS, bpf_fd_kinds, open_fds


def _map_ids() -> set[int]:
    import ctypes

    from alveole.bpf._libbpf import lib

    ids, cur = set(), ctypes.c_uint32(0)
    while lib.bpf_map_get_next_id(cur.value, ctypes.byref(cur)) == 0:
        ids.add(cur.value)
    return ids


def test_unchecked_packet_read_is_rejected_with_the_reason() -> None:
    path = compile_bpf(PROGS / "bad_read.bpf.c").path
    fds_before, bpf_before, maps_before = open_fds(), bpf_fd_kinds(), _map_ids()
    obj = BpfObject.open(path, name="bad_read")
    with pytest.raises(VerifierError) as info:
        obj.load()
    err = info.value
    assert err.program == "xdp_unchecked"
    assert "outside of the packet" in err.reason or "invalid access to packet" in err.reason
    assert "invalid access to packet" in err.log
    assert err.errno in (13, 22)  # EACCES from the verifier
    # the failed load closed the object: no program, map or fd left behind
    assert obj.closed
    assert bpf_fd_kinds() == bpf_before
    assert open_fds() == fds_before
    assert _map_ids() <= maps_before


def test_the_message_does_not_reach_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    path = compile_bpf(PROGS / "bad_read.bpf.c").path
    with pytest.raises(VerifierError):
        BpfObject.open(path, name="bad_read").load()
    out, err = capfd.readouterr()
    assert "libbpf" not in err and "libbpf" not in out
