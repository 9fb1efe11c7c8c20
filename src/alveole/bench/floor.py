"""``alveole bench floor``: what the kernel and libbpf cost before any VNF logic.

* ``noop_ns``: kernel-timed ns per packet of an XDP program that returns XDP_PASS;
* ``counter_ns``: the same plus a per-CPU counter update (the cheapest useful VNF);
* ``hash_batch_per_s`` / ``lpm_batch_per_s``: entries per second inserted into a
  hash map and an LPM trie with BPF_MAP_UPDATE_BATCH (100k entries, pre-encoded);
  the ``*_encoded_per_s`` variants include encoding from Python values.
"""

from __future__ import annotations

import ipaddress
import statistics
import time
from typing import Any

from .. import progs
from ..toolchain import open_source

__all__ = ["measure_floor", "test_run_ns"]

_FRAME = bytes.fromhex("020000000002020000000001080045000020000100004011" + "00" * 2) + bytes(40)


def test_run_ns(program: Any, data: bytes = _FRAME, repeat: int = 1 << 20, runs: int = 5) -> float:
    """Median over ``runs`` of the kernel-timed ns per run of ``program`` on ``data``."""
    return float(statistics.median(program.run(data, repeat=repeat).duration_ns for _ in range(runs)))


def _rate(fn: Any, n: int) -> float:
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def measure_floor(entries: int = 100_000, repeat: int = 1 << 20, runs: int = 5) -> dict[str, float | int]:
    with open_source(progs.path("noop")) as noop, open_source(progs.path("counter")) as counter:
        noop.load()
        counter.load()
        noop_ns = test_run_ns(noop.program("xdp_noop"), repeat=repeat, runs=runs)
        counter_ns = test_run_ns(counter.program(), repeat=repeat, runs=runs)

    with open_source(progs.path("floor_maps")) as maps:
        maps.map("floor_hash").set_max_entries(max(entries, 1))
        maps.map("floor_lpm").set_max_entries(max(entries, 1))
        maps.load()
        h, lpm = maps.map("floor_hash"), maps.map("floor_lpm")
        keys = list(range(entries))
        hash_raw = h.key_codec.encode_many(keys), h.value_codec.encode_many(keys)
        hash_rate = _rate(lambda: h.update_batch(*hash_raw), entries)
        h.clear()
        hash_enc_rate = _rate(lambda: h.update_batch(keys, keys), entries)

        # distinct host prefixes inside 198.18.0.0/15 (131072 addresses)
        base = int(ipaddress.IPv4Address("198.18.0.0"))
        nets = [ipaddress.IPv4Network((base + i % (1 << 17), 32)) for i in range(min(entries, 1 << 17))]
        lpm_raw = lpm.key_codec.encode_many(nets), lpm.value_codec.encode_many(range(len(nets)))
        lpm_rate = _rate(lambda: lpm.update_batch(*lpm_raw), len(nets))
        lpm.clear()
        lpm_enc_rate = _rate(lambda: lpm.update_batch(nets, list(range(len(nets)))), len(nets))

    return {
        "noop_ns": noop_ns,
        "counter_ns": counter_ns,
        "hash_batch_per_s": round(hash_rate),
        "lpm_batch_per_s": round(lpm_rate),
        "hash_batch_encoded_per_s": round(hash_enc_rate),
        "lpm_batch_encoded_per_s": round(lpm_enc_rate),
        "entries": entries,
        "repeat": repeat,
        "runs": runs,
    }
