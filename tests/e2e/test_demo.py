"""``alveole demo`` end to end (what ``make demo`` runs), in private state and bpffs folders."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from alveole.system import netns

from .cli import ALVEOLE


def test_demo_runs_and_leaves_nothing(tmp_path: Path) -> None:
    bpffs = Path(f"/sys/fs/bpf/alvdemotest-{os.getpid()}")
    env = {
        **os.environ,
        "ALVEOLE_BPFFS_ROOT": str(bpffs),
        "ALVEOLE_STATE_DIR": str(tmp_path / "state"),
        "ALVEOLE_RUN_DIR": str(tmp_path / "run"),
    }
    try:
        cmd = [ALVEOLE, "demo", "--json", "--rate", "100000"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = proc.stdout
        result = json.loads(out[out.rindex("\n{") :])
        fig = result["figures"]
        assert fig["update_sent"] > 100_000 and fig["update_lost"] == 0  # live update under traffic
        assert fig["update_server_frames"] >= fig["update_sent"]  # forwarded by the XDP router
        assert fig["guard_drops"]["blocklist"] >= 20_000 and fig["guard_drops"]["syn-flood"] > 10_000
        assert fig["http_blocked"] == 3 and fig["http_restored"] == 3  # the live rule change took effect
        assert fig["metrics_series"] >= 4  # every hop has non-zero counters on /metrics
        steps = (
            "lab",
            "deploy",
            "traffic",
            "attacks",
            "live rule change",
            "live update",
            "metrics",
            "teardown",
        )
        for step in steps:
            assert step in out
        assert "left behind: 0 namespaces, no pins" in out
        assert not [h for h in ("client", "node", "server") if netns.exists(f"alv-demo-{h}")]
        assert not (bpffs / "chains").exists() or not list((bpffs / "chains").iterdir())
    finally:
        subprocess.run([ALVEOLE, "demo", "--down"], capture_output=True, env=env, timeout=60)
        shutil.rmtree(bpffs, ignore_errors=True)
