"""Writing a firewall config into the kernel's tables, and reading the hit counters back.

Double buffering: ``fw_conf[0].active`` names the half of every classifier table
(``fw_rules``, ``fw_slots``, ``fw_leaves``, and the header ``fw_conf[1 + half]``) that
packets use. :func:`write_config` compiles the config, writes the **inactive** half
(only the entries that differ from what that half holds),
its header, and then flips ``active`` with one map write: a packet sees the old
classifier or the new one, never a mix. The half packets left is rewritten by the next
update only, long after the packets in flight at the flip are gone.

Hit counters: ``fw_hits`` (per CPU) is indexed by a rule's *slot*; ``fw_ids`` maps a
rule's identity (explicit ``id``, else match + action; see :meth:`Rule.identity`) to its
slot. A rule that stays keeps its slot, so its counter survives any update; a new rule
takes a free slot, zeroed before the flip (never a slot freed by the same update, which
packets still in the old half may count into). Slot 0 counts the default policy.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import struct
from collections.abc import Mapping, Set
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ...bpf import Map
from ...bpf._libbpf import BpfMapBatchOpts, lib
from ...errors import BpfError, VnfError
from ..verdict import Verdict
from .classifier import EMPTY, LEAF_BLOCK, LEAF_INLINE, LEAF_PAD, PROTO_CLASSES, TREES_MAX, Classifier, Slot

if TYPE_CHECKING:
    from .config import FirewallConfig, Rule

__all__ = [
    "CLASSIFIER_MAPS",
    "COUNTER_FLOOR",
    "MAPS",
    "OTHER_REASONS",
    "RuleHits",
    "default_hits",
    "other_counts",
    "rule_hits",
    "table_sizes",
    "top_rules",
    "write_config",
]

CLASSIFIER_MAPS = ("fw_rules", "fw_leaves", "fw_slots", "fw_conf")
MAPS = (*CLASSIFIER_MAPS, "fw_hits", "fw_ids", "fw_other")
NO_RULE = 0xFFFFFFFF
LEAF_FIELD = 0xFF  # FW_LEAF_FIELD: fw_slot.field of a leaf
_RULE_FLOOR, _SLOT_FLOOR, _LEAF_FLOOR = 1024, 32768, 1024  # fw_leaves: blocks of LEAF_BLOCK
COUNTER_FLOOR = 16384
_VERDICT = {"accept": int(Verdict.CONTINUE), "drop": int(Verdict.DROP)}
# fw_other by enum fw_other_reason: frames the rules never saw (the last two: stateful mode)
OTHER_REASONS = ("not_ip", "unparsed", "established", "related")
_M32 = 0xFFFFFFFF


def _pow2(n: int) -> int:
    return 1 << max(0, (n - 1).bit_length())


def _size(n: int, floor: int) -> int:
    """At least ``n`` and ``floor``: a power of two, or 3/4 of one (size classes ~35% apart)."""
    n = max(n, floor)
    p = _pow2(n)
    return p * 3 // 4 if p * 3 // 4 >= n else p


def table_sizes(cfg: FirewallConfig) -> dict[str, int]:
    """``max_entries`` of every sized table (two halves each for the classifier).

    Classifier tables: size classes with floors proportional to the rule count, so that
    rule sets of similar size never need a reload (the compiled classifier may ask for
    more); a reload rebuilds them from the config (their migration is DROP). Counters
    (``fw_hits``, ``fw_ids``): ``capacity`` rules, by default at least COUNTER_FLOOR, so
    that they keep their size (and their content, by COPY on a reload) in most updates.
    """
    c = cfg.classifier
    rules = _size(len(cfg.rules), _RULE_FLOOR)
    counters = cfg.capacity or max(COUNTER_FLOOR, _pow2(len(cfg.rules)))
    return {
        "fw_rules": 2 * rules,
        "fw_slots": 2 * _size(len(c.slots), max(_SLOT_FLOOR, 16 * rules)),
        "fw_leaves": 2 * _size(_blocks(c), max(_LEAF_FLOOR, rules // 2)),
        "fw_hits": counters + 1,
        "fw_ids": 2 * counters,  # an update adds the new ids before it removes the old ones
    }


def _blocks(c: Classifier) -> int:
    """fw_leaves entries the classifier's leaf lists take."""
    return -(-len(c.leaves) // LEAF_BLOCK)


def config_tag(cfg: FirewallConfig) -> int:
    """A non-zero 64-bit digest of what the classifier half holds for ``cfg``."""
    text = cfg.model_dump_json(include={"rules", "default", "non_ip"})
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") | 1


# --- raw array ranges -------------------------------------------------------------------------


def _read_range(m: Map, start: int, count: int) -> bytes:
    """Values ``start`` .. ``start + count - 1`` of array ``m``, as the kernel stores them."""
    vs = m.value_size
    out = bytearray()
    chunk = 8192
    kbuf = ctypes.create_string_buffer(4 * chunk)
    vbuf = ctypes.create_string_buffer(vs * chunk)
    in_tok = ctypes.c_uint32(start)
    out_tok = ctypes.c_uint32(0)
    opts = BpfMapBatchOpts(sz=ctypes.sizeof(BpfMapBatchOpts))
    while len(out) < count * vs:
        n = ctypes.c_uint32(min(chunk, count - len(out) // vs))
        ret = lib.bpf_map_lookup_batch(
            m.fd, ctypes.byref(in_tok), ctypes.byref(out_tok), kbuf, vbuf, ctypes.byref(n), ctypes.byref(opts)
        )
        if ret < 0 and -ret != errno.ENOENT:
            raise BpfError(f"batch lookup on map {m.name!r} failed", -ret)
        out += vbuf.raw[: n.value * vs]
        if ret < 0 or n.value == 0:
            break
        in_tok.value = out_tok.value
    return bytes(out[: count * vs])


def _write_diff(m: Map, start: int, new: bytes) -> int:
    """Write ``new`` (whole values) at ``start`` of array ``m`` where it differs; returns the count."""
    vs = m.value_size
    count = len(new) // vs
    if not count:
        return 0
    old = _read_range(m, start, count)
    block = 256 * vs
    changed: list[int] = []
    for b in range(0, len(new), block):
        if new[b : b + block] == old[b : b + block]:
            continue
        for off in range(b, min(b + block, len(new)), vs):
            if new[off : off + vs] != old[off : off + vs]:
                changed.append(off // vs)
    if changed:
        keys = struct.pack(f"<{len(changed)}I", *(start + i for i in changed))
        values = b"".join(new[i * vs : (i + 1) * vs] for i in changed)
        m.update_batch(keys, values)
    return len(changed)


# --- encoding a half ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Half:
    """Where half ``h`` of each table starts."""

    rules: int
    slots: int
    leaves: int

    @classmethod
    def of(cls, maps: Mapping[str, Map], h: int) -> _Half:
        return cls(*(h * (maps[n].max_entries // 2) for n in ("fw_rules", "fw_slots", "fw_leaves")))


def _words(v: int) -> tuple[int, int, int, int]:
    return (v >> 96) & _M32, (v >> 64) & _M32, (v >> 32) & _M32, v & _M32


def _encode_rules(m: Map, cfg: FirewallConfig, slots: list[int], finals: list[int]) -> bytes:
    make = m.value_codec.type
    full = (1 << 128) - 1
    values = []
    for rank, (match, slot, final) in enumerate(zip(cfg.matches, slots, finals, strict=True)):
        rule = cfg.rules[cfg.ordered[rank]]
        (s_lo, s_hi), (d_lo, d_hi) = match.src, match.dst
        values.append(
            make(
                src=_words(s_lo),
                src_mask=_words(~(s_hi - s_lo) & full),
                dst=_words(d_lo),
                dst_mask=_words(~(d_hi - d_lo) & full),
                dportx_lo=match.dportx[0],
                dportx_hi=match.dportx[1],
                sport_lo=match.sport[0],
                sport_hi=match.sport[1],
                proto_lo=match.proto[0],
                proto_hi=match.proto[1],
                verdict=_VERDICT[rule.action],
                final=final,
                slot=slot,
            )
        )
    return bytes(m.value_codec.encode_many(values))


def _slot(make: Any, s: Slot, half: _Half, leaves: list[int]) -> Any:
    if s.leaf:
        # its first rules also in the record (cmask, cvalue, cmask2, cvalue2): no fw_leaves lookup
        first = [r + half.rules for r in leaves[s.base : s.base + min(s.kmask, LEAF_INLINE)]]
        first += [0] * (LEAF_INLINE - len(first))
        return make(*first, base=s.base // LEAF_BLOCK + half.leaves, kmask=s.kmask, field=LEAF_FIELD)
    return make(
        cmask=s.cmask,
        cvalue=s.cvalue,
        cmask2=s.cmask2,
        cvalue2=s.cvalue2,
        base=s.base + half.slots,
        kmask=s.kmask,
        kmask2=s.kmask2,
        field=s.field,
        shift=s.shift,
        field2=s.field2,
        shift2=s.shift2,
        bits2=s.bits2,
        empty=s.empty,
    )


def _root(slot_type: Any, s: Slot, half: _Half, leaves: list[int]) -> dict[str, Any]:
    return dict(
        s=_slot(slot_type, s, half, leaves),
        cmask3=s.cmask3,
        cvalue3=s.cvalue3,
        bits3=s.bits3,
        miss3=s.miss3 + half.slots if s.miss3 else 0,
        kmask3=s.kmask3,
        field3=s.field3,
        shift3=s.shift3,
    )


def _encode_slots(m: Map, c: Classifier, half: _Half) -> bytes:
    make = m.value_codec.type
    return bytes(m.value_codec.encode_many(_slot(make, s, half, c.leaves) for s in c.slots))


def _encode_head(m: Map, slot_type: Any, cfg: FirewallConfig, half: _Half, tag: int) -> Any:
    c = cfg.classifier
    empty = _root(slot_type, EMPTY, half, c.leaves)
    roots, best = [], []
    for family in (4, 6):
        fam_roots, fam_best = [], []
        for cls in range(PROTO_CLASSES):
            trees = c.roots.get((family, cls), [])
            pad = TREES_MAX - len(trees)
            fam_roots.append(tuple(_root(slot_type, r, half, c.leaves) for r, _ in trees) + (empty,) * pad)
            fam_best.append(tuple(b + half.rules for _, b in trees) + (NO_RULE,) * pad)
        roots.append(tuple(fam_roots))
        best.append(tuple(fam_best))
    return m.value_codec.type(
        active=0,
        default_verdict=_VERDICT[cfg.default],
        non_ip_verdict=_VERDICT[cfg.non_ip],
        tag=tag,
        best=tuple(best),
        root=tuple(roots),
    )


# --- the update --------------------------------------------------------------------------------


def _check_fits(cfg: FirewallConfig, maps: Mapping[str, Map]) -> None:
    c = cfg.classifier
    used = {
        "fw_rules": 2 * len(c.rules),
        "fw_slots": 2 * len(c.slots),
        "fw_leaves": 2 * _blocks(c),
        "fw_hits": len(c.rules) + 1,
    }
    small = [f"{n} ({maps[n].max_entries} < {used[n]})" for n in used if maps[n].max_entries < used[n]]
    if small:
        raise VnfError(
            f"firewall tables too small for this rule set: {', '.join(small)}; reload with {table_sizes(cfg)}"
        )


def _assign_slots(
    cfg: FirewallConfig, maps: Mapping[str, Map]
) -> tuple[list[int], dict[bytes, int], list[bytes]]:
    """(slot per rank, new identities -> slot, identities gone) keeping the slots of rules that stay."""
    ids_map = maps["fw_ids"]
    current = {bytes(k.digest): int(v) for k, v in ids_map.items()}
    wanted = cfg.identities()
    used = set(current.values())
    cap = maps["fw_hits"].max_entries - 1
    free = (s for s in range(1, cap + 1) if s not in used)
    gone = [d for d in current.keys() - set(wanted)]
    spare = iter(sorted(current[d] for d in gone))  # only when nothing else is free
    slots, new = [], {}
    for d in wanted:
        slot = current.get(d)
        if slot is None:
            slot = next(free, None) or next(spare, None)
            if slot is None:
                raise VnfError(f"firewall hit counters full ({cap} slots): reload with a larger capacity")
            new[d] = slot
        slots.append(slot)
    return slots, new, gone


def write_config(
    cfg: FirewallConfig, maps: Mapping[str, Map], only: Set[str] | None = None
) -> dict[str, tuple[int, int, int]]:
    """Bring the tables to ``cfg`` (see the module doc); returns (added, changed, removed) per map.

    ``only``: the maps the caller just created; the write happens when it names any of the
    firewall's maps (a full, idempotent diff), and not at all otherwise.
    """
    if only is not None and not set(only) & set(MAPS):
        return {}
    _check_fits(cfg, maps)
    conf = maps["fw_conf"]
    active = conf[0].active & 1
    tag = config_tag(cfg)
    slots, new_ids, gone = _assign_slots(cfg, maps)
    if conf[1 + active].tag == tag and not new_ids and not gone:
        return {n: (0, 0, 0) for n in (*CLASSIFIER_MAPS, "fw_ids")}  # the active half holds it already
    inactive = 1 - active
    half = _Half.of(maps, inactive)
    c = cfg.classifier
    hits, ids = maps["fw_hits"], maps["fw_ids"]
    # new rules: zeroed counters and their identities, before any packet can reach them
    if new_ids:
        fresh = list(new_ids.values())
        hits.update_batch(fresh, [hits.value_codec.zero] * len(fresh))
        ids.update_batch([(d,) for d in new_ids], list(new_ids.values()))
    ranks = c.leaves + [LEAF_PAD] * (_blocks(c) * LEAF_BLOCK - len(c.leaves))
    leaves = struct.pack(f"<{len(ranks)}I", *(NO_RULE if r == LEAF_PAD else r + half.rules for r in ranks))
    changed = {
        "fw_rules": _write_diff(
            maps["fw_rules"], half.rules, _encode_rules(maps["fw_rules"], cfg, slots, c.final)
        ),
        "fw_leaves": _write_diff(maps["fw_leaves"], half.leaves, leaves),
        "fw_slots": _write_diff(maps["fw_slots"], half.slots, _encode_slots(maps["fw_slots"], c, half)),
    }
    conf[1 + inactive] = _encode_head(conf, maps["fw_slots"].value_codec.type, cfg, half, tag)
    conf[0] = conf.value_codec.type(active=inactive)  # the flip: one map write
    if gone:
        ids.delete_batch([(d,) for d in gone])
    out = {n: (0, k, 0) for n, k in changed.items()}
    out["fw_conf"] = (0, 2, 0)
    out["fw_ids"] = (len(new_ids), 0, len(gone))
    return out


# --- reading counters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleHits:
    """Packets and bytes one rule decided (summed over CPUs)."""

    index: int  # position in config.rules
    rule: Rule
    packets: int
    bytes: int


def _maps_of(source: Any) -> Mapping[str, Map]:
    return source.maps if hasattr(source, "maps") else source


def rule_hits(source: Any, cfg: FirewallConfig) -> list[RuleHits]:
    """Every rule's hits, in config order; ``source``: a VnfInstance, a chain member, or its maps."""
    maps = _maps_of(source)
    slot_of = {bytes(k.digest): int(v) for k, v in maps["fw_ids"].items()}
    totals = {int(k): v.sum() for k, v in maps["fw_hits"].items()}
    digests = dict(zip(cfg.ordered, cfg.identities(), strict=True))
    out = []
    for i, rule in enumerate(cfg.rules):
        slot = slot_of.get(digests[i])
        total = totals.get(slot) if slot is not None else None
        out.append(RuleHits(i, rule, total.packets if total else 0, total.bytes if total else 0))
    return out


def default_hits(source: Any) -> tuple[int, int]:
    """(packets, bytes) no rule matched (the default policy decided)."""
    total = _maps_of(source)["fw_hits"][0].sum()
    return total.packets, total.bytes


def other_counts(source: Any) -> dict[str, tuple[int, int]]:
    """(packets, bytes) the rules never saw: ``not_ip``, ``unparsed`` (dropped), and in stateful
    mode ``established`` (packets of tracked flows) and ``related`` (ICMP errors about them),
    both accepted."""
    m = _maps_of(source)["fw_other"]
    return {name: tuple(m[i].sum()) for i, name in enumerate(OTHER_REASONS)}  # type: ignore[misc]


def top_rules(
    hits: list[RuleHits], n: int = 10, by: Literal["packets", "bytes"] = "packets"
) -> list[RuleHits]:
    """The ``n`` rules with the most hits (ties: config order); rules never hit are left out."""
    ranked = sorted((h for h in hits if getattr(h, by)), key=lambda h: (-getattr(h, by), h.index))
    return ranked[:n]
