"""Run the installed ``alveole`` console script."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ALVEOLE = str(Path(sys.executable).parent / "alveole")


def alveole(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([ALVEOLE, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"alveole {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc
