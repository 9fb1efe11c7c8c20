"""The NAT's config and reference model without the kernel: the fixture table, ports, round trips."""

from __future__ import annotations

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from alveole.errors import VnfConfigError
from alveole.vnf import Verdict, get
from alveole.vnf.nat import NatModel, port_hash
from alveole.vnf.nat.fixtures import CONFIG4, hashed_port

SPEC = get("nat")
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def test_the_model_passes_the_fixture_table() -> None:
    """Each row, in order per hook and config, as the kernel test plays them."""
    for hook in ("xdp", "tc"):
        model, cfg = None, None
        for row in SPEC.fixtures():
            if row.hooks is not None and hook not in row.hooks:
                continue
            this = SPEC.validate(row.config)
            if this != cfg:
                model, cfg = NatModel(this), this
            assert model is not None
            out = model.process(row.frame, hook)
            assert (out.verdict, out.data) == (row.verdict, row.expected_output), row.description


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"snat": ["198.18.0.0/16"]}, "snat.0"),
        ({"address6": "2001:db8::1", "forward": [{"port": 80, "to": "198.18.0.1"}]}, "forward.0.to"),
        ({"address": "198.19.0.1", "forward": [{"port": 20001, "to": "198.18.0.1"}]}, "forward.0.port"),
        ({"address": "198.19.0.1", "forward": [{"port": 80, "to": "198.18.0.1"}] * 2}, "forward.1"),
        ({"ports": (30000, 20000)}, "ports"),
        ({"table_size": 8}, "table_size"),
        ({"snat": ["198.18.0.0/16", "198.18.0.0/16"], "address": "198.19.0.1"}, "snat"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_config_errors_name_the_field(config: dict, field: str) -> None:
    with pytest.raises(VnfConfigError) as e:
        SPEC.validate(config)
    assert field in str(e.value)


def test_config_reaches_the_maps_as_entries() -> None:
    cfg = SPEC.validate({**CONFIG4, "address6": "2001:db8:ffff::1", "seed": 7})
    entries = cfg.map_entries()
    assert list(entries) == ["nat_snat", "nat_dnat", "nat_conf", "alv_ct_conf"]
    conf = entries["nat_conf"][0]
    assert (conf["families"], conf["port_min"], conf["port_max"], conf["seed"], conf["snat_count"]) == (
        3,
        20000,
        20009,
        7,
        1,
    )
    assert entries["nat_dnat"][(8080, 6, 4)]["port"] == 80
    assert cfg.map_sizes() == dict.fromkeys(("alv_ct4", "alv_ct6", "nat_rev4", "nat_rev6"), 65536)
    assert cfg.rodata() == {}


def test_port_hash_is_deterministic_and_spread() -> None:
    ports = {
        hashed_port("198.18.0.2", 40000 + i, "198.19.5.5", 80, 6, (20000, 29999), set()) for i in range(200)
    }
    assert len(ports) > 150 and all(20000 <= p <= 29999 for p in ports)
    assert port_hash(bytes(40), 0) == port_hash(bytes(40), 0) != port_hash(bytes(40), 1)
    # a port in the range is kept
    assert hashed_port("198.18.0.2", 20005, "198.19.5.5", 80, 6, (20000, 29999), set()) == 20005


def test_model_round_trip_and_exhaustion() -> None:
    model = NatModel(SPEC.validate({**CONFIG4, "ports": (20000, 20000)}))
    syn = bytes(ETH / IP(src="198.18.0.2", dst="198.19.5.5") / TCP(sport=40000, dport=80, flags="S"))
    out = model.process_dir(syn, inbound=False)
    assert out.verdict == Verdict.CONTINUE and Ether(out.data)[TCP].sport == 20000
    reply = bytes(ETH / IP(src="198.19.5.5", dst="198.19.0.1") / TCP(sport=80, dport=20000, flags="SA"))
    back = Ether(model.process_dir(reply, inbound=True).data)
    assert (back[IP].dst, back[TCP].dport) == ("198.18.0.2", 40000)
    other = bytes(ETH / IP(src="198.18.0.3", dst="198.19.5.5") / TCP(sport=40000, dport=80, flags="S"))
    assert model.process_dir(other, inbound=False).verdict == Verdict.DROP
    assert model.stats["exhausted"] == 1 and model.stats["snat_new"] == 1
