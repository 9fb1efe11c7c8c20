"""Descriptors: what is refused names its field and the problem, and a refusal changes nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from alveole.mano import DescriptorError, FakeDriver, Lcm, SqliteStore, load_documents, parse_nsd, parse_vnfd
from alveole.mano.packages import merge_patch
from alveole.mano.schema import nsd_schema, vnfd_schema

ROOT = Path(__file__).resolve().parents[2]
HOP = ROOT / "tests" / "kernel" / "progs" / "hop.bpf.c"
EXAMPLES = sorted((ROOT / "examples" / "ns").glob("*.yaml"))

VNFD = {
    "vnfdId": "hop-1",
    "vnfProvider": "tests",
    "vnfProductName": "hop",
    "vnfSoftwareVersion": "1.0",
    "program": {"source": str(HOP), "entries": {"xdp": "hop_xdp", "tc": "hop_tc"}},
    "supportedHooks": ["xdp", "tc-ingress"],
    "configurableProperties": {
        "properties": {
            "tag": {"default": 1, "minimum": 1, "maximum": 255},
            "verdict": {"default": 0},
            "mark": {"default": 0},
        }
    },
}
NSD = {
    "nsdId": "pair",
    "vnfProfiles": [{"vnfProfileId": "a", "vnfdId": "hop-1", "config": {"tag": 2}}],
    "virtualLinks": [{"virtualLinkId": "lan", "interfaces": ["alvt0", "alvt1"], "cidrs": ["198.18.0.0/24"]}],
    "forwardingPaths": [{"forwardingPathId": "in", "virtualLinkId": "lan", "vnfProfileIds": ["a"]}],
}


def _with(doc: dict, path: str, value: object) -> dict:
    """A copy of ``doc`` with ``value`` at ``a.b[0].c`` (None: removed)."""
    out = copy.deepcopy(doc)
    parts = path.replace("[", ".[").split(".")
    node = out
    for p in parts[:-1]:
        node = node[int(p[1:-1])] if p.startswith("[") else node[p]
    last = parts[-1]
    key = int(last[1:-1]) if last.startswith("[") else last
    if value is None:
        del node[key]
    else:
        node[key] = value
    return out


def _errors(fn, *args, **kw) -> list[tuple[str, str]]:
    with pytest.raises(DescriptorError) as e:
        fn(*args, **kw)
    return e.value.errors


@pytest.fixture
def lcm(tmp_path: Path) -> Lcm:
    return Lcm(SqliteStore(tmp_path / "mano.db"), FakeDriver({None: ["alvt0", "alvt1"]}))


def _snapshot(lcm: Lcm) -> tuple:
    s = lcm.store
    return (s.list_vnfds(), s.list_nsds(), s.list_ns(), s.list_ops())


def test_valid_descriptors_parse() -> None:
    vnfd = parse_vnfd(VNFD)
    assert vnfd.program.source == str(HOP)
    nsd = parse_nsd(NSD)
    assert nsd.forwardingPaths[0].hook == "xdp" and nsd.forwardingPaths[0].end == "pass"


@pytest.mark.parametrize(
    ("doc", "path", "value", "field", "words"),
    [
        ("vnfd", "colour", "blue", "colour", "unknown field"),
        (
            "vnfd",
            "program.sources",
            "x",
            "program.sources",
            "unknown field (expected one of: catalog, source",
        ),
        (
            "vnfd",
            "configurableProperties.properties.tag.maximum",
            "lots",
            "configurableProperties.properties.tag.maximum",
            "valid integer",
        ),
        ("vnfd", "supportedHooks", ["xdp", "tc"], "supportedHooks[1]", "'xdp', 'tc-ingress' or 'tc-egress'"),
        ("vnfd", "vnfProvider", None, "vnfProvider", "required field is missing"),
        (
            "vnfd",
            "program",
            {"source": "nowhere.bpf.c", "entries": {"xdp": "x", "tc": "y"}},
            "program.source",
            "no such file",
        ),
        ("vnfd", "program", {"entries": {"xdp": "x"}}, "program", "exactly one of catalog"),
        (
            "vnfd",
            "program.entries",
            {"xdp": "hop_xdp"},
            "supportedHooks[1]",
            "tc-ingress needs a program.entries.tc",
        ),
        ("vnfd", "mapMigrations", {"flows": "rename"}, "mapMigrations.flows", "not a valid migration"),
        ("nsd", "vnfProfiles[0].confg", {}, "vnfProfiles[0].confg", "unknown field"),
        ("nsd", "forwardingPaths[0].end", "reject", "forwardingPaths[0].end", "'pass' or 'drop'"),
        ("nsd", "forwardingPaths[0].vnfProfileIds", "a", "forwardingPaths[0].vnfProfileIds", "valid list"),
        (
            "nsd",
            "virtualLinks[0].cidrs",
            ["203.0.113.0/24"],
            "virtualLinks[0].cidrs[0]",
            "outside 198.18.0.0/15",
        ),
        ("nsd", "virtualLinks[0].cidrs", ["198.18.0.1/24"], "virtualLinks[0].cidrs[0]", "host bits set"),
        ("nsd", "virtualLinks[0].cidrs", ["2001:db9::/32"], "virtualLinks[0].cidrs[0]", "outside"),
        (
            "nsd",
            "virtualLinks[0].cidrs",
            ["not-a-prefix"],
            "virtualLinks[0].cidrs[0]",
            "not a network prefix",
        ),
        (
            "nsd",
            "virtualLinks[0].interfaces",
            ["alvt0", "alvt0"],
            "virtualLinks[0].interfaces",
            "listed twice",
        ),
        ("nsd", "virtualLinks[0].interfaces", ["alv.0"], "virtualLinks[0].interfaces[0]", "interface name"),
        (
            "nsd",
            "forwardingPaths[0].vnfProfileIds",
            ["a", "b"],
            "forwardingPaths[0].vnfProfileIds[1]",
            "no VNF profile 'b'",
        ),
        (
            "nsd",
            "forwardingPaths[0].virtualLinkId",
            "wan",
            "forwardingPaths[0].virtualLinkId",
            "no virtual link 'wan'",
        ),
    ],
)
def test_refusals_name_the_field_and_the_problem(doc, path, value, field, words) -> None:
    parse = parse_vnfd if doc == "vnfd" else parse_nsd
    errors = _errors(parse, _with(VNFD if doc == "vnfd" else NSD, path, value))
    assert any(loc == field and words in msg for loc, msg in errors), errors


def test_every_problem_is_reported_at_once() -> None:
    bad = _with(_with(NSD, "nsdName", 5), "forwardingPaths[0].hook", "ingress")
    fields = [loc for loc, _ in _errors(parse_nsd, bad)]
    assert fields == ["nsdName", "forwardingPaths[0].hook"]


def test_two_paths_on_one_hook_of_an_interface_are_refused() -> None:
    nsd = copy.deepcopy(NSD)
    nsd["forwardingPaths"].append(
        {"forwardingPathId": "again", "virtualLinkId": "lan", "vnfProfileIds": ["a"]}
    )
    errors = _errors(parse_nsd, nsd)
    assert (
        "forwardingPaths[1].hook",
        "interface alvt0 already has a xdp chain from forwardingPaths[0]",
    ) in errors


def test_program_is_checked_when_onboarding(lcm: Lcm) -> None:
    before = _snapshot(lcm)
    assert (
        _errors(lcm.onboard_vnfd, _with(VNFD, "program.entries.xdp", "nope"))[0][0] == "program.entries.xdp"
    )
    errors = _errors(
        lcm.onboard_vnfd, _with(VNFD, "configurableProperties.properties.colour", {"default": 1})
    )
    assert errors == [
        ("configurableProperties.properties.colour", "no global 'colour' in the object (const volatile)")
    ]
    errors = _errors(parse_vnfd, _with(VNFD, "program", {"catalog": "flowmon"}))
    assert errors == [("configurableProperties.properties", "a catalog program brings its own config schema")]
    catalog = _with(_with(VNFD, "program", {"catalog": "nosuchvnf"}), "configurableProperties", {})
    errors = _errors(lcm.onboard_vnfd, catalog)
    assert errors[0][0] == "program.catalog" and "nosuchvnf" in errors[0][1]
    errors = _errors(lcm.onboard_vnfd, _with(VNFD, "configurableProperties.defaults", {"tag": 0}))
    assert errors == [("configurableProperties.defaults.tag", "Input should be greater than or equal to 1")]
    assert _snapshot(lcm) == before


def test_profile_configs_are_validated_against_the_vnf(lcm: Lcm) -> None:
    lcm.onboard_vnfd(VNFD)
    nsd = _with(NSD, "vnfProfiles[0].config", {"tag": "two", "shade": 1})
    errors = _errors(lcm.onboard_nsd, nsd)
    assert [loc for loc, _ in errors] == ["vnfProfiles[0].config.tag", "vnfProfiles[0].config.shade"]
    errors = _errors(lcm.onboard_nsd, _with(NSD, "vnfProfiles[0].vnfdId", "hop-9"))
    assert errors[0][0] == "vnfProfiles[0].vnfdId" and "no VNFD 'hop-9'" in errors[0][1]
    errors = _errors(lcm.onboard_nsd, _with(NSD, "forwardingPaths[0].hook", "tc-egress"))
    assert errors == [
        (
            "forwardingPaths[0].hook",
            "VNF profile 'a' (hop-1) does not support tc-egress (supports: xdp, tc-ingress)",
        )
    ]


def test_catalog_config_errors_name_the_field(lcm: Lcm) -> None:
    nsd = _with(
        _with(NSD, "vnfProfiles[0].vnfdId", "flowmon"), "vnfProfiles[0].config", {"table_size": "big"}
    )
    errors = _errors(lcm.onboard_nsd, nsd)
    assert errors[0][0] == "vnfProfiles[0].config.table_size", errors


def test_a_refused_deployment_changes_nothing(lcm: Lcm) -> None:
    before = _snapshot(lcm)
    # a valid VNFD next to a bad NSD: the VNFD is not onboarded either
    errors = _errors(lcm.deploy, [VNFD, _with(NSD, "forwardingPaths[0].vnfProfileIds", ["a", "ghost"])])
    assert errors[0][0] == "forwardingPaths[0].vnfProfileIds[1]"
    # an interface the host does not have is found at instantiation, still before anything is written
    errors = _errors(lcm.deploy, [VNFD, _with(NSD, "virtualLinks[0].interfaces", ["alvt0", "alvt9"])])
    assert errors == [("virtualLinks[0].interfaces[1]", "no interface 'alvt9'")]
    errors = _errors(lcm.deploy, [VNFD, NSD], netns="alvnowhere")
    assert errors == [("netns", "no network namespace 'alvnowhere'")]
    assert _snapshot(lcm) == before
    assert lcm.driver.chains == {}


def test_yaml_errors_say_where(tmp_path: Path) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text("nsdId: x\nvnfProfiles: [a\n")
    errors = _errors(load_documents, f)
    assert errors[0][0].startswith("line ") and "not valid YAML" in errors[0][1]


def test_examples_deploy(lcm: Lcm) -> None:
    assert EXAMPLES, "examples/ns/*.yaml"
    lcm.driver.interfaces["alv-two-hosts-b"] = {"alveth0"}
    for path in EXAMPLES:
        docs = load_documents(path)
        if not any("nsdId" in d for d in docs):
            for d in docs:
                lcm.onboard_vnfd(d, base_dir=path.parent)
            continue
        ns, occ = lcm.deploy(docs, base_dir=path.parent)
        assert occ.operationState == "COMPLETED"
        lcm.terminate(ns.id)


def test_schema_files_are_up_to_date() -> None:
    for name, schema in (("vnfd", vnfd_schema()), ("nsd", nsd_schema())):
        path = ROOT / "docs" / "schemas" / f"{name}.schema.json"
        assert json.loads(path.read_text()) == schema, (
            f"regenerate {path} (alveole.mano.schema.write_schemas)"
        )
    assert vnfd_schema()["additionalProperties"] is False


def test_merge_patch_is_rfc7396() -> None:
    assert merge_patch({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": None, "e": 4}, "f": [1]}) == {
        "a": 1,
        "b": {"d": 3, "e": 4},
        "f": [1],
    }
    assert merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
