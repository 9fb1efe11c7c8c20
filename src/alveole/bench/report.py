"""``alveole bench all``: every benchmark, written to ``benchmarks/results/<date>/``.

``results.json`` (everything, machine facts included), ``results.md`` (the tables) and
PNG plots. The per-packet cost benchmark (``bench pktcost``, another module) is run
through the CLI when it is registered, and reported as skipped otherwise.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .dut import BenchError
from .render import markdown_report, plot_all

__all__ = ["DOCS_BEGIN", "DOCS_END", "PARTS", "machine_facts", "plan_steps", "run_all", "update_docs"]

DOCS_BEGIN = "<!-- bench-results:begin -->"
DOCS_END = "<!-- bench-results:end -->"

Step = Callable[[str], None]  # called with a description before each step
PARTS = ("floor", "throughput", "scaling", "startup", "pktcost")


def machine_facts() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        stats = Path("/proc/sys/kernel/bpf_stats_enabled").read_text().strip()
    except OSError:
        stats = "?"
    return {
        "kernel": platform.release(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "bpf_stats_enabled": stats,
        "loadavg": os.getloadavg()[0],
    }


def _pktcost(quick: bool) -> dict[str, Any]:
    """Run ``alveole bench pktcost --json`` if that command exists (it is another module's)."""
    from ..cli import bench as cli_bench

    for cmd in cli_bench.app.registered_commands:
        name = cmd.name or (cmd.callback.__name__ if cmd.callback else "")
        if name == "pktcost" and cmd.callback is not None:
            args = [sys.executable, "-m", "alveole.cli.main", "bench", "pktcost", "--json"]
            params = inspect.signature(cmd.callback).parameters
            if quick and "quick" in params:
                args.append("--quick")
            elif quick:  # small counts through whatever knobs the command has
                args += ["--packets", "65536"] if "packets" in params else []
                args += ["--runs", "1"] if "runs" in params else []
            proc = subprocess.run(args, capture_output=True, text=True, timeout=1800)
            if proc.returncode != 0:
                why = proc.stderr.strip()[-300:] or f"exit status {proc.returncode}"
                return {"error": f"bench pktcost failed: {why}"}
            return json.loads(proc.stdout)
    return {"error": "bench pktcost is not available in this build"}


def plan_steps(quick: bool) -> int:
    from .scaling import PENDING_SERIES, QUICK_RULE_COUNTS, RULE_COUNTS, SERIES
    from .throughput import PENDING, ROWS

    counts = QUICK_RULE_COUNTS if quick else RULE_COUNTS
    return 1 + len(ROWS) + len(PENDING) + (len(SERIES) + len(PENDING_SERIES)) * len(counts) + 2


def run_all(
    root: str | Path = "benchmarks/results",
    *,
    quick: bool = False,
    step: Step | None = None,
    startup_samples: int | None = None,
    skip: Iterable[str] = (),
) -> Path:
    """Run every benchmark (but those in ``skip``); returns the directory of the results."""
    from .floor import measure_floor
    from .scaling import QUICK_RULE_COUNTS, RULE_COUNTS, measure_scaling
    from .startup import measure_startup
    from .throughput import Settings, measure_throughput

    def say(text: str) -> None:
        if step:
            step(text)

    now = _dt.datetime.now()
    outdir = Path(root) / now.strftime("%Y-%m-%d")
    settings = Settings.quick() if quick else Settings()
    results: dict[str, Any] = {
        "date": now.isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine_facts(),
    }

    skipped = set(skip)
    unknown = skipped - set(PARTS)
    if unknown:
        raise BenchError(f"unknown benchmark(s) {', '.join(sorted(unknown))} (have: {', '.join(PARTS)})")
    for part in PARTS:
        if part in skipped:
            results[part] = {"error": "skipped (--skip)"}

    if "floor" not in skipped:
        say("floor")
        results["floor"] = measure_floor(
            entries=10_000 if quick else 100_000, repeat=1 << 16 if quick else 1 << 20, runs=1 if quick else 5
        )
    if "throughput" not in skipped:
        results["throughput"] = measure_throughput(
            settings=settings, on_row=lambda name, r, reason: say(f"throughput {name}")
        )
    if "scaling" not in skipped:
        results["scaling"] = measure_scaling(
            counts=QUICK_RULE_COUNTS if quick else RULE_COUNTS,
            settings=settings,
            on_point=lambda name, n, mpps, reason: say(f"scaling {name} {n}"),
        )
    if "startup" not in skipped:
        say("startup")
        results["startup"] = measure_startup(samples=startup_samples or (3 if quick else 20))
    if "pktcost" not in skipped:
        say("pktcost")
        results["pktcost"] = _pktcost(quick)

    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (outdir / "results.md").write_text(markdown_report(results))
    results["plots"] = [p.name for p in plot_all(results, outdir)]
    (outdir / "results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    return outdir


def update_docs(doc: str | Path, results_dir: Path) -> bool:
    """Replace the results section of ``doc`` (between the markers) with ``results.md``."""
    path = Path(doc)
    if not path.exists():
        return False
    text = path.read_text()
    if DOCS_BEGIN not in text or DOCS_END not in text:
        return False
    head, _, rest = text.partition(DOCS_BEGIN)
    _, _, tail = rest.partition(DOCS_END)
    table = (results_dir / "results.md").read_text().split("\n", 2)[-1].strip()  # without the title
    table = "\n".join("#" + line if line.startswith("## ") else line for line in table.splitlines())
    rel = os.path.relpath(results_dir, path.parent)
    body = f"{DOCS_BEGIN}\nLatest full run: [`{results_dir}`]({rel}/results.json).\n\n{table}\n{DOCS_END}"
    path.write_text(head + body + tail)
    return True
