"""Typed map round trips, per-CPU values, LPM tries, program arrays, batches, pins."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import textwrap

import pytest

from alveole.bpf import Map, MapType, PerCpu, XdpAction, num_possible_cpus
from alveole.errors import MapKeyError

from .helpers import open_test_prog


@pytest.fixture
def maps():
    obj = open_test_prog("maps").load()
    yield obj
    obj.close()


def _key(i: int) -> dict:
    return {
        "saddr": 0xC6120000 + i,
        "daddr": ipaddress.IPv4Address("198.19.0.1"),
        "sport": i & 0xFFFF,
        "dport": 443,
        "proto": 6,
    }


def test_hash_round_trip_and_missing_keys(maps) -> None:
    flows = maps.map("flows")
    flows[_key(1)] = {"packets": 1, "bytes": 60, "color": "GREEN", "name": b"web"}
    v = flows[_key(1)]
    assert (v.packets, v.bytes, v.color.name, v.name.rstrip(b"\0")) == (1, 60, "GREEN", b"web")
    assert _key(1) in flows and _key(2) not in flows
    with pytest.raises(MapKeyError):
        flows[_key(2)]
    with pytest.raises(KeyError):
        del flows[_key(2)]
    assert flows.get(_key(2), "absent") == "absent"
    flows.update(_key(1), {"packets": 2}, exist=True)
    with pytest.raises(KeyError, match="already"):
        flows.update(_key(1), {"packets": 3}, exist=False)
    assert flows[_key(1)].packets == 2
    keys = flows.keys()
    assert [k.sport for k in keys] == [1]
    del flows[_key(1)]
    assert len(flows) == 0


def test_array(maps) -> None:
    arr = maps.map("arr")
    assert arr.type == MapType.ARRAY and len(arr) == 8
    arr[3] = 2**40
    assert arr[3] == 2**40
    assert dict(arr.items())[3] == 2**40
    arr.clear()
    assert arr[3] == 0


def test_percpu_values_one_per_cpu_and_sum(maps) -> None:
    pcpu = maps.map("pcpu")
    n = num_possible_cpus()
    pcpu[7] = {"packets": 2, "bytes": 10}  # one value: written on every CPU
    got = pcpu[7]
    assert isinstance(got, PerCpu) and len(got) == n
    assert got.sum().packets == 2 * n and got.sum().bytes == 10 * n
    pcpu[8] = [{"packets": i} for i in range(n)]  # or one per CPU
    assert [v.packets for v in pcpu[8]] == list(range(n))
    assert pcpu[8].sum().packets == sum(range(n))


def test_lpm_trie_longest_prefix_match(maps) -> None:
    routes = maps.map("routes6")
    routes[ipaddress.ip_network("2001:db8::/32")] = 1
    routes[ipaddress.ip_network("2001:db8:1::/48")] = 2
    assert routes[ipaddress.ip_network("2001:db8:1::5/128")] == 2
    assert routes[ipaddress.ip_network("2001:db8:2::5/128")] == 1
    with pytest.raises(MapKeyError):
        routes[ipaddress.ip_network("2001:db9::1/128")]
    assert len(routes) == 2


def test_prog_array_takes_programs_and_returns_ids(maps) -> None:
    jump, target, entry = maps.map("jump"), maps.program("xdp_jump_target"), maps.program("xdp_entry")
    assert entry.run(bytes(64)).verdict == XdpAction.PASS  # empty slot: the tail call falls through
    jump[0] = target
    assert jump[0] == target.id
    assert entry.run(bytes(64)).verdict == XdpAction.DROP  # tail-called into the target
    del jump[0]
    assert entry.run(bytes(64)).verdict == XdpAction.PASS


def test_devmap_takes_ifindexes(maps) -> None:
    ports = maps.map("ports")
    ports[1] = {"ifindex": 1}  # lo
    assert ports[1].ifindex == 1


def test_batch_ops_on_100k_entries(maps) -> None:
    flows = maps.map("flows")
    n = 100_000
    keys = [_key(i) for i in range(n)]
    values = [{"packets": i, "bytes": 2 * i} for i in range(n)]
    assert flows.update_batch(keys, values) == n
    items = flows.items()
    assert len(items) == n
    by_saddr = {k.saddr - 0xC6120000: v for k, v in items}
    assert all(by_saddr[i].packets == i and by_saddr[i].bytes == 2 * i for i in range(0, n, 997))
    assert flows.delete_batch(keys[: n // 2]) == n // 2
    assert len(flows) == n - n // 2


def test_sync_to_writes_only_the_difference(maps) -> None:
    flows = maps.map("flows")
    flows.update_batch([_key(i) for i in range(4)], [{"packets": i} for i in range(4)])
    wanted = {
        flows.key_codec.type(**_key(0)): {"packets": 0},  # unchanged
        flows.key_codec.type(**_key(1)): {"packets": 100},  # changed
        flows.key_codec.type(**_key(9)): {"packets": 9},  # added
    }
    assert flows.sync_to({k: flows.value_codec.type(**v) for k, v in wanted.items()}) == (1, 1, 2)
    assert sorted(k.saddr - 0xC6120000 for k in flows) == [0, 1, 9]
    assert flows[_key(1)].packets == 100


def test_pin_in_one_process_reopen_in_another(maps, tmp_path) -> None:
    from alveole.system.mounts import ensure_bpffs

    ensure_bpffs()
    pin = f"/sys/fs/bpf/alveole-test-{os.getpid()}/flows"
    flows = maps.map("flows")
    flows[_key(5)] = {"packets": 55, "color": "RED"}
    flows.pin(pin)
    try:
        child = textwrap.dedent(f"""
            from alveole.bpf import Map
            with Map.from_pin({pin!r}) as m:
                v = next(iter(m.values()))
                print(m.name, v.packets, v.color.name, m.key_codec.fields[0])
                m[{ {**_key(6), "daddr": 0xC6130001}!r}] = {{"packets": 66}}
        """)
        out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True).stdout
        assert out.split() == ["flows", "55", "RED", "saddr"]
        assert flows[_key(6)].packets == 66  # written by the other process into the same map
        with Map.from_pin(pin) as again:
            assert again.id == flows.id
    finally:
        os.unlink(pin)
        os.rmdir(os.path.dirname(pin))
