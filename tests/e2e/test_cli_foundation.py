"""doctor, selfcheck, compile and bench floor through the console script."""

from __future__ import annotations

import json
from pathlib import Path

from .cli import alveole


def test_doctor_is_green_here() -> None:
    proc = alveole("doctor", "--json")
    checks = {c["name"]: c for c in json.loads(proc.stdout)}
    for name in (
        "kernel",
        "kernel BTF",
        "privileges",
        "bpffs",
        "clang",
        "libbpf",
        "load + test_run",
        "XDP on veth",
        "live-frames test_run",
        "tcx (TC links)",
    ):
        assert checks[name]["status"] == "ok", checks[name]


def test_selfcheck_runs_packets_through_the_kernel() -> None:
    proc = alveole("selfcheck")
    assert "self-check passed" in proc.stdout
    assert "DROP" in proc.stdout and "PASS" in proc.stdout


def test_compile_error_is_reported_with_its_line(tmp_path: Path) -> None:
    src = tmp_path / "bad.bpf.c"
    src.write_text("int f(void) { return nope; }\n")
    proc = alveole("compile", str(src), check=False)
    assert proc.returncode == 1
    assert "bad.bpf.c:1:" in proc.stderr and "nope" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bench_floor_json_has_the_four_figures() -> None:
    proc = alveole("bench", "floor", "--json", "--entries", "2000", "--repeat", "10000", "--runs", "1")
    data = json.loads(proc.stdout)
    for field in ("noop_ns", "counter_ns", "hash_batch_per_s", "lpm_batch_per_s"):
        assert data[field] > 0, field
