"""VNF and NS descriptors (VNFD, NSD): YAML with ETSI SOL001 names, validated by pydantic.

A **VNFD** describes one VNF version: who provides it, which program it runs (a
catalog VNF, or a ``.bpf.c`` with its entry points), the hooks it supports, its
configurable properties (schema and defaults) and how a later version takes over
its maps (``mapMigrations``). An **NSD** describes a network service: VNF profiles
(a VNFD plus a config), virtual links (the host interfaces a service touches, with
their prefixes) and forwarding paths (ordered profiles on a link's interfaces at a
hook): one chain per interface. docs/mano.md has an annotated example.

Unknown fields are errors. Every error names its field path in the descriptor's
own terms (``forwardingPaths[0].vnfProfileIds[1]``): see :class:`DescriptorError`.
Checks that need the rest of the world (which VNFDs are onboarded, what a config
must look like, which interfaces the host has) happen in :mod:`packages` and at
instantiation.
"""

from __future__ import annotations

import ipaddress
import re
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from ..datapath.layout import HOOKS
from .errors import DescriptorError

__all__ = [
    "ALLOWED_NETWORKS",
    "ConfigProperty",
    "ConfigurableProperties",
    "Descriptor",
    "ForwardingPath",
    "Hook",
    "Nsd",
    "Program",
    "StrictModel",
    "VirtualLink",
    "VnfProfile",
    "Vnfd",
    "field_path",
    "kind_of",
    "load_documents",
    "parse_model",
    "parse_nsd",
    "parse_vnfd",
    "pydantic_errors",
]

Hook = Literal["xdp", "tc-ingress", "tc-egress"]
assert set(typing.get_args(Hook)) == set(HOOKS)  # the datapath's hooks, spelled once more for the schema

# addresses this project may use anywhere (RFC 2544 benchmarking and RFC 3849 documentation ranges)
ALLOWED_NETWORKS = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:db8::/32"))


def _matching(pattern: str, what: str) -> Any:
    """A string type checked against ``pattern`` with a plain message (the pattern goes to the schema)."""
    rx = re.compile(pattern)

    def check(value: str) -> str:
        if not rx.match(value):
            raise ValueError(f"{value!r} is not a valid {what}")
        return value

    return Annotated[str, AfterValidator(check), WithJsonSchema({"type": "string", "pattern": pattern})]


# identifiers: ids may contain dots (versions); names that end up in bpffs paths may not
Id = _matching(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", "id (letters, digits, . _ -; 64 max)")
InstanceName = _matching(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$", "name (letters, digits, _ and -; 32 max)")
ProductName = _matching(r"^[a-z][a-z0-9_]{0,14}$", "product name (lowercase letters, digits, _; 15 max)")
Version = _matching(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,31}$", "version")
IfName = _matching(r"^[A-Za-z0-9_-]{1,15}$", "interface name (letters, digits, _ and -; 15 max)")
NetnsName = _matching(r"^[A-Za-z0-9_-]{1,64}$", "network namespace name")
CIdent = _matching(r"^[A-Za-z_][A-Za-z0-9_]*$", "C identifier")
# a declared map migration: copy the entries, drop them on purpose, or call module:function
MigrationRef = _matching(
    r"^(copy|drop|[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*)$",
    "migration (copy, drop, or a Python function as package.module:function)",
)


def _prefix(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as e:
        raise ValueError(f"{value!r} is not a network prefix ({e})") from None
    if not any(net.version == a.version and net.subnet_of(a) for a in ALLOWED_NETWORKS):  # type: ignore[arg-type]
        raise ValueError(f"{net} is outside 198.18.0.0/15 and 2001:db8::/32 (the only ranges alveole uses)")
    return str(net)


Prefix = Annotated[
    str,
    AfterValidator(_prefix),
    WithJsonSchema({"type": "string", "description": "a prefix in 198.18.0.0/15 or 2001:db8::/32"}),
]


def _unique(values: list[Any]) -> list[Any]:
    dup = sorted({str(v) for v in values if values.count(v) > 1})
    if dup:
        raise ValueError(f"listed twice: {', '.join(dup)}")
    return values


class StrictModel(BaseModel):
    """Descriptor models: unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- VNFD ---------------------------------------------------------------------------------------
class Program(StrictModel):
    """What the VNF runs: a catalog VNF by name, or a ``.bpf.c`` source with its entry points."""

    catalog: InstanceName | None = Field(None, description="a VNF of alveole's catalog (alveole vnfd list)")
    source: str | None = Field(
        None, description="path to a .bpf.c (relative to the descriptor's folder) built on <alveole/vnf.h>"
    )
    entries: dict[Literal["xdp", "tc"], CIdent] = Field(
        default_factory=dict,
        description="with source: the entry program per hook kind (ALV_VNF_XDP / ALV_VNF_TC names)",
    )

    @pydantic.model_validator(mode="after")
    def _one_kind(self) -> Program:
        if (self.catalog is None) == (self.source is None):
            raise ValueError("give exactly one of catalog (a VNF name) or source (a .bpf.c path)")
        if self.source is not None and not self.entries:
            raise ValueError("a source program needs entries (hook kind -> entry program name)")
        if self.catalog is not None and self.entries:
            raise ValueError("entries come from the catalog for a catalog program: remove them")
        return self


class ConfigProperty(StrictModel):
    """One configurable property of a source program: a ``const volatile`` global or a map size."""

    type: Literal["integer", "boolean"] = "integer"
    default: int | bool = Field(description="the value when a profile does not set it")
    minimum: int | None = None
    maximum: int | None = None
    description: str = ""
    global_: CIdent | None = Field(
        None, alias="global", description="the const volatile it sets (default: the property's name)"
    )
    mapSize: CIdent | None = Field(None, description="instead of a global: the map whose max_entries it sets")

    @pydantic.model_validator(mode="after")
    def _coherent(self) -> ConfigProperty:
        if self.global_ is not None and self.mapSize is not None:
            raise ValueError("a property sets a global or a map size, not both")
        if self.type == "boolean" and (self.minimum is not None or self.maximum is not None):
            raise ValueError("minimum and maximum apply to integers only")
        if self.mapSize is not None and self.type != "integer":
            raise ValueError("a map size is an integer")
        if self.type == "integer" and isinstance(self.default, bool):
            raise ValueError("default: an integer property needs an integer default")
        if self.type == "boolean" and not isinstance(self.default, bool):
            raise ValueError("default: a boolean property needs true or false")
        return self


class ConfigurableProperties(StrictModel):
    """The VNF's config: its schema (source programs) and defaults (any program)."""

    properties: dict[CIdent, ConfigProperty] = Field(
        default_factory=dict,
        description="source programs: the config schema (catalog programs bring their own)",
    )
    defaults: dict[str, Any] = Field(
        default_factory=dict, description="default values that profiles start from (validated)"
    )


class Vnfd(StrictModel):
    """A VNF descriptor (one version of one VNF product)."""

    vnfdId: Id = Field(description="unique id of this descriptor")
    vnfProvider: str = Field(min_length=1)
    vnfProductName: ProductName = Field(description="the VNF product; versions of one product share it")
    vnfSoftwareVersion: Version = Field(description="a new version is a live update (change package)")
    vnfdVersion: Version = "1.0"
    description: str = ""
    program: Program
    supportedHooks: Annotated[list[Hook], AfterValidator(_unique)] = Field(
        min_length=1, description="hooks the VNF may run on"
    )
    configurableProperties: ConfigurableProperties = Field(default_factory=ConfigurableProperties)
    mapMigrations: dict[CIdent, MigrationRef] = Field(
        default_factory=dict,
        description="map name -> copy | drop | package.module:function, applied when this version "
        "replaces a running one whose map has another definition",
    )


# --- NSD ----------------------------------------------------------------------------------------
class VnfProfile(StrictModel):
    """A VNF as the service uses it: a VNFD and its config."""

    vnfProfileId: InstanceName = Field(description="the VNF instance's name in the service and its chains")
    vnfdId: Id
    config: dict[str, Any] = Field(default_factory=dict, description="over the VNFD's defaults")
    description: str = ""


class VirtualLink(StrictModel):
    """A network the service touches: host interfaces (in the service's netns) and their prefixes."""

    virtualLinkId: Id
    interfaces: Annotated[list[IfName], AfterValidator(_unique)] = Field(
        min_length=1, description="host interfaces on this link (checked at instantiation)"
    )
    cidrs: Annotated[list[Prefix], AfterValidator(_unique)] = Field(default_factory=list)
    description: str = ""


class ForwardingPath(StrictModel):
    """An ordered chain of VNF profiles at one hook of every interface of a virtual link."""

    forwardingPathId: Id
    virtualLinkId: Id
    hook: Hook = "xdp"
    vnfProfileIds: Annotated[list[InstanceName], AfterValidator(_unique)] = Field(
        max_length=16, description="in packet order: each VNF's CONTINUE hands the packet to the next"
    )
    end: Literal["pass", "drop"] = Field("pass", description="the verdict after the last VNF")
    description: str = ""


class Nsd(StrictModel):
    """A network service descriptor."""

    nsdId: Id
    nsdName: str = ""
    version: Version = "1.0"
    designer: str = ""
    description: str = ""
    netns: NetnsName | None = Field(
        None,
        description="network namespace of the interfaces (default: the host's); instantiation may override",
    )
    vnfProfiles: list[VnfProfile] = Field(min_length=1)
    virtualLinks: list[VirtualLink] = Field(min_length=1)
    forwardingPaths: list[ForwardingPath] = Field(min_length=1)

    def profile(self, profile_id: str) -> VnfProfile:
        return next(p for p in self.vnfProfiles if p.vnfProfileId == profile_id)

    def link(self, link_id: str) -> VirtualLink:
        return next(v for v in self.virtualLinks if v.virtualLinkId == link_id)


Descriptor = Vnfd | Nsd


# --- errors in the descriptor's terms ------------------------------------------------------------
def field_path(loc: Iterable[Any]) -> str:
    """``("vnfProfiles", 0, "config", "x")`` -> ``vnfProfiles[0].config.x``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{str(part)!r}]"
    return out


def _unwrap(t: Any) -> Any:
    while True:
        origin = typing.get_origin(t)
        if origin is Annotated:
            t = typing.get_args(t)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(t) if a is not type(None)]
            t = args[0] if args else t
            if len(args) <= 1:
                continue
            return t
        else:
            return t


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    t: Any = root
    for part in loc:
        t = _unwrap(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            field = next(
                (f for n, f in t.model_fields.items() if part in (n, f.alias)),
                None,
            )
            if field is None:
                return None
            t = field.annotation
        elif typing.get_origin(t) in (list, tuple):
            t = typing.get_args(t)[0]
        elif typing.get_origin(t) is dict:
            t = typing.get_args(t)[1]
        else:
            return None
    t = _unwrap(t)
    return t if isinstance(t, type) and issubclass(t, BaseModel) else None


def _fields_of(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def pydantic_errors(
    error: pydantic.ValidationError, model: type[BaseModel] | None = None, prefix: str = ""
) -> list[tuple[str, str]]:
    """(field path, problem) pairs, in plain words, from a pydantic error."""
    out = []
    for err in error.errors(include_url=False):
        loc = tuple(
            p for p in err["loc"] if not (isinstance(p, str) and p.startswith(("function-", "union[")))
        )
        kind = err["type"]
        if kind == "extra_forbidden":
            parent = _model_at(model, loc[:-1]) if model is not None else None
            msg = "unknown field" + (f" (expected one of: {', '.join(_fields_of(parent))})" if parent else "")
        elif kind == "missing":
            msg = "required field is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            given = err.get("input")
            if kind.endswith(("_type", "_parsing", "literal_error", "enum")) and isinstance(
                given, str | int | float | bool | list | dict
            ):
                shown = repr(given)
                msg += f" (got {shown if len(shown) <= 40 else shown[:37] + '...'})"
        path = field_path(loc)
        if prefix:
            path = prefix + (path if not path or path.startswith("[") else "." + path)
        out.append((path, msg))
    return out


M = typing.TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: Any, what: str) -> M:
    """``data`` as a ``model`` instance, or a :class:`DescriptorError` naming every bad field."""
    if not isinstance(data, Mapping):
        raise DescriptorError(what, [("", f"expected a mapping of fields, got {type(data).__name__}")])
    try:
        return model.model_validate(dict(data))
    except pydantic.ValidationError as e:
        raise DescriptorError(what, pydantic_errors(e, model)) from None


def parse_vnfd(data: Any, *, base_dir: Path | None = None, what: str = "VNFD") -> Vnfd:
    """A validated VNFD; a relative ``program.source`` is resolved against ``base_dir``."""
    if isinstance(data, Mapping) and "vnfdId" in data:
        what = f"{what} {data['vnfdId']!r}" if what == "VNFD" else what
    vnfd = parse_model(Vnfd, data, what)
    errors = []
    if vnfd.program.source is not None:
        for i, hook in enumerate(vnfd.supportedHooks):
            kind = "xdp" if hook == "xdp" else "tc"
            if kind not in vnfd.program.entries:
                errors.append((f"supportedHooks[{i}]", f"{hook} needs a program.entries.{kind}"))
        if not vnfd.program.source.endswith(".bpf.c"):
            errors.append(("program.source", "must be a .bpf.c file"))
    elif vnfd.configurableProperties.properties:
        errors.append(("configurableProperties.properties", "a catalog program brings its own config schema"))
    if errors:
        raise DescriptorError(what, errors)
    src = vnfd.program.source
    if src is not None:
        path = Path(src).expanduser()
        if not path.is_absolute():
            path = (base_dir or Path.cwd()) / path
        path = path.resolve()
        if not path.is_file():
            raise DescriptorError(what, [("program.source", f"no such file: {path}")])
        vnfd = vnfd.model_copy(update={"program": vnfd.program.model_copy(update={"source": str(path)})})
    return vnfd


def parse_nsd(data: Any, *, what: str = "NSD") -> Nsd:
    """A validated NSD, its internal references checked (profiles, links, hooks in use)."""
    if isinstance(data, Mapping) and "nsdId" in data:
        what = f"{what} {data['nsdId']!r}" if what == "NSD" else what
    nsd = parse_model(Nsd, data, what)
    errors: list[tuple[str, str]] = []
    for kind, items, key in (
        ("vnfProfiles", nsd.vnfProfiles, "vnfProfileId"),
        ("virtualLinks", nsd.virtualLinks, "virtualLinkId"),
        ("forwardingPaths", nsd.forwardingPaths, "forwardingPathId"),
    ):
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            ident = getattr(item, key)
            if ident in seen:
                errors.append((f"{kind}[{i}].{key}", f"{ident!r} is already used by {kind}[{seen[ident]}]"))
            seen.setdefault(ident, i)
    profiles = [p.vnfProfileId for p in nsd.vnfProfiles]
    links = [v.virtualLinkId for v in nsd.virtualLinks]
    used: dict[tuple[str, str], int] = {}
    for i, fp in enumerate(nsd.forwardingPaths):
        for j, pid in enumerate(fp.vnfProfileIds):
            if pid not in profiles:
                errors.append(
                    (
                        f"forwardingPaths[{i}].vnfProfileIds[{j}]",
                        f"no VNF profile {pid!r} (have: {', '.join(profiles)})",
                    )
                )
        if fp.virtualLinkId not in links:
            errors.append(
                (
                    f"forwardingPaths[{i}].virtualLinkId",
                    f"no virtual link {fp.virtualLinkId!r} (have: {', '.join(links)})",
                )
            )
            continue
        for ifname in nsd.link(fp.virtualLinkId).interfaces:
            other = used.setdefault((ifname, fp.hook), i)
            if other != i:
                errors.append(
                    (
                        f"forwardingPaths[{i}].hook",
                        f"interface {ifname} already has a {fp.hook} chain from forwardingPaths[{other}]",
                    )
                )
    unused = sorted(set(profiles) - {p for fp in nsd.forwardingPaths for p in fp.vnfProfileIds})
    for pid in unused:
        errors.append((f"vnfProfiles[{profiles.index(pid)}]", f"profile {pid!r} is on no forwarding path"))
    if errors:
        raise DescriptorError(what, errors)
    return nsd


def load_documents(path: str | Path) -> list[dict[str, Any]]:
    """The YAML documents of a descriptor file (several may be separated by ``---``)."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise DescriptorError(str(p), [("", f"cannot read: {e.strerror or e}")]) from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise DescriptorError(str(p), [(where, f"not valid YAML: {getattr(e, 'problem', e)}")]) from None
    if not docs:
        raise DescriptorError(str(p), [("", "no document in the file")])
    for i, d in enumerate(docs):
        if not isinstance(d, dict):
            raise DescriptorError(str(p), [(f"document {i + 1}", "expected a mapping of fields")])
    return docs


def kind_of(doc: Mapping[str, Any]) -> Literal["vnfd", "nsd"]:
    """Which descriptor a document is, from its id field."""
    if "vnfdId" in doc and "nsdId" not in doc:
        return "vnfd"
    if "nsdId" in doc and "vnfdId" not in doc:
        return "nsd"
    raise DescriptorError(
        "descriptor", [("", "a document needs exactly one of vnfdId (a VNFD) or nsdId (an NSD)")]
    )
