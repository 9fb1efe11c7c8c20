"""Ring-buffer events decoded through BTF; a tracepoint sees spawned processes."""

from __future__ import annotations

import subprocess
import time

from alveole.bpf import RingBuffer
from alveole.tracers.execsnoop import ExecSnoop

from .helpers import open_test_prog


def test_ring_buffer_events_are_delivered_typed() -> None:
    with open_test_prog("ringbuf") as obj:
        obj.load()
        events = []
        with RingBuffer(obj.map("events"), events.append, "struct pkt_event") as rb:
            prog = obj.program()
            for size in (14, 60, 100):
                prog.run(bytes([0xAB]) * size)
            assert rb.poll(500) == 3
        assert [(e.len, e.seq) for e in events] == [(14, 0), (60, 1), (100, 2)]
        assert events[0].head == b"\xab" * 4


def test_callback_errors_surface_from_poll() -> None:
    with open_test_prog("ringbuf") as obj:
        obj.load()

        def boom(_event: object) -> None:
            raise RuntimeError("callback failed")

        with RingBuffer(obj.map("events"), boom, "pkt_event") as rb:
            obj.program().run(bytes(20))
            try:
                rb.poll(500)
            except RuntimeError as e:
                assert "callback failed" in str(e)
            else:
                raise AssertionError("the callback's exception was swallowed")


def test_execve_tracepoint_sees_a_spawned_process() -> None:
    seen = []
    with ExecSnoop(seen.append) as snoop:
        child = subprocess.Popen(["/bin/sh", "-c", "exit 0"])
        child.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(e.filename == "/bin/sh" for e in seen):
            snoop.poll(100)
    mine = [e for e in seen if e.filename == "/bin/sh"]
    assert mine, seen
    # the event was emitted by the child right before it became /bin/sh
    assert any(e.pid == child.pid for e in mine)


def test_biolatency_sees_direct_writes(tmp_path) -> None:
    import mmap
    import os

    from alveole.tracers.biolatency import BioLatency

    with BioLatency() as bio:
        before = bio.histograms()["write"].total
        path = "/var/tmp/alveole-biolatency-test"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
        try:
            buf = mmap.mmap(-1, 64 * 1024)  # page-aligned, as O_DIRECT wants
            for _ in range(16):
                os.write(fd, buf)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(path)
        hist = bio.histograms()["write"]
    assert hist.total - before >= 16
    assert all(low <= high for low, high, _ in hist.buckets())
