"""Lab topology files: validation, naming, the shipped examples (no root needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from alveole.lab import Topology, ifname, load_topology, netns_name

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "labs"


def _topo(**over: object) -> dict:
    base: dict = {
        "name": "t",
        "hosts": {"a": {}, "b": {}},
        "links": [
            {
                "ends": [
                    {"host": "a", "ifname": "eth0", "addresses": ["198.18.0.1/24"]},
                    {"host": "b", "ifname": "eth0", "addresses": ["2001:db8::2/64"]},
                ]
            }
        ],
    }
    base.update(over)
    return base


def _error(data: dict) -> str:
    with pytest.raises(ValidationError) as info:
        Topology.model_validate(data)
    return "\n".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in info.value.errors())


@pytest.mark.parametrize("name", ["two-hosts", "client-router-server", "lb"])
def test_shipped_examples_validate(name: str) -> None:
    topo = load_topology(EXAMPLES / f"{name}.yaml")
    assert topo.hosts and topo.links
    for h in topo.hosts:
        assert topo.netns(h).startswith("alv-")


def test_lb_example_has_a_client_an_lb_and_three_backends_on_a_bridge() -> None:
    topo = load_topology(EXAMPLES / "lb.yaml")
    assert {"client", "lb", "backend1", "backend2", "backend3"} == set(topo.hosts)
    assert [b.name for b in topo.bridges] == ["br0"]
    assert sum(1 for link in topo.links for end in link.ends if end.bridge == "br0") == 3


def test_names_are_prefixed_with_alv() -> None:
    assert ifname("eth0") == "alveth0"
    assert ifname("alvx0") == "alvx0"
    assert netns_name("demo", "client") == "alv-demo-client"


@pytest.mark.parametrize("bad", ["10.0.0.1/24", "192.168.1.1/24", "172.16.0.1/12", "2001:db9::1/64"])
def test_addresses_outside_the_lab_ranges_are_refused_naming_the_field(bad: str) -> None:
    data = _topo()
    data["links"][0]["ends"][0]["addresses"] = [bad]
    msg = _error(data)
    assert "links.0.ends.0.addresses" in msg and "198.18.0.0/15" in msg


def test_routes_outside_the_lab_ranges_are_refused() -> None:
    msg = _error(_topo(hosts={"a": {"routes": [{"to": "10.1.0.0/16", "via": "198.18.0.2"}]}, "b": {}}))
    assert "hosts.a.routes.0.to" in msg
    msg = _error(_topo(hosts={"a": {"routes": [{"to": "default", "via": "192.0.2.1"}]}, "b": {}}))
    assert "hosts.a.routes.0.via" in msg


def test_unknown_host_and_duplicate_interface_are_named() -> None:
    data = _topo()
    data["links"][0]["ends"][1]["host"] = "c"
    assert "links[0].ends[1].host: unknown host 'c'" in _error(data)
    data = _topo()
    data["links"].append(data["links"][0])
    assert "links[1].ends[0]" in _error(data) and "already defined" in _error(data)


def test_interface_names_must_fit_the_kernel_after_prefixing() -> None:
    data = _topo()
    data["links"][0]["ends"][0]["ifname"] = "averylongname"  # alv + 13 = 16 characters
    assert "longer than 15" in _error(data)


def test_unknown_fields_are_refused() -> None:
    assert "hosts.a.colour" in _error(_topo(hosts={"a": {"colour": "red"}, "b": {}}))
    assert "Extra inputs" in _error(_topo(extra=1))


def test_route_dev_and_bridge_must_exist() -> None:
    msg = _error(_topo(hosts={"a": {"routes": [{"to": "198.19.0.0/16", "dev": "nope"}]}, "b": {}}))
    assert "hosts.a.routes[0].dev" in msg
    data = _topo()
    data["links"][0]["ends"][0]["bridge"] = "br0"
    assert "links[0].ends[0].bridge" in _error(data)
