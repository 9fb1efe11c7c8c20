"""`alveole lab up/show/down` through the console script."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import yaml

from .cli import alveole

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "labs"


def test_lab_up_show_down(tmp_path: Path) -> None:
    name = f"e{os.getpid() % 10000}-{secrets.token_hex(2)}"
    data = yaml.safe_load((EXAMPLES / "two-hosts.yaml").read_text())
    data["name"] = name
    file = tmp_path / "lab.yaml"
    file.write_text(yaml.safe_dump(data))
    try:
        up = json.loads(alveole("lab", "up", str(file), "--json").stdout)
        assert up["namespaces"] == {"a": f"alv-{name}-a", "b": f"alv-{name}-b"}
        alveole("lab", "up", str(file))  # idempotent
        (shown,) = json.loads(alveole("lab", "show", name, "--json").stdout)
        assert shown["complete"] and shown["hosts"]["b"]["alveth0"] == ["198.18.0.2/24", "2001:db8::2/64"]
        assert name in alveole("lab", "show").stdout
    finally:
        alveole("lab", "down", name)
    assert not [n for n in os.listdir("/var/run/netns") if n.startswith(f"alv-{name}-")]
    proc = alveole("lab", "down", name, check=False)
    assert proc.returncode == 1 and "no lab" in proc.stderr


def test_invalid_topology_is_refused_naming_the_field(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(
        "name: bad\nhosts: {a: {}, b: {}}\nlinks:\n"
        "  - ends: [{host: a, ifname: e0, addresses: [10.0.0.1/24]}, {host: b, ifname: e0}]\n"
    )
    proc = alveole("lab", "up", str(file), check=False)
    assert proc.returncode == 1
    assert "links.0.ends.0.addresses" in proc.stderr and "198.18.0.0/15" in proc.stderr
