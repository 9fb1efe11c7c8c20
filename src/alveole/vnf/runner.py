"""Run VNFs against their expectations: fixture tables, and kernel vs reference model.

* :func:`run_fixtures` plays a VNF's fixture table through the kernel
  (BPF_PROG_TEST_RUN) on each hook, checks the verdict (from the per-verdict
  counters, so CONTINUE and PASS differ), the hook's action and the output
  bytes, checks that the reference model agrees with each row, then times each
  row. ``alveole vnf test`` prints its result.
* :func:`compare` runs any frames through the kernel and the reference model
  side by side (the malformed corpus, hypothesis-generated packets) and
  reports every difference, including the model's view of the VNF's state.

Frames test_run refuses (EINVAL) are checked as refusals, not fed to the
model (whose state mirrors what the kernel saw), see :func:`refused_by_test_run`:
frames shorter than an Ethernet header never reach XDP or TC at all (drivers
drop runts); TC's test_run also refuses IPv4/IPv6 frames without a whole IP
header (net/bpf/test_run.c), although such frames do reach TC on a real
interface: the same parser code is exercised on them through XDP.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..bpf import XdpAction
from ..errors import BpfError
from .config import VnfConfig
from .instance import VnfInstance
from .parse import ParseStatus, parse
from .spec import Fixture, VnfSpec
from .verdict import Hook, Verdict, standalone_action

__all__ = [
    "ETH_HLEN",
    "Comparison",
    "FixtureResult",
    "Mismatch",
    "compare",
    "refused_by_test_run",
    "run_fixtures",
]

ETH_HLEN = 14
_IP_HEADER = {0x0800: 20, 0x86DD: 40}


def refused_by_test_run(frame: bytes, hook: Hook) -> bool:
    """Whether BPF_PROG_TEST_RUN rejects ``frame`` (EINVAL) for a program of ``hook``.

    Every hook: frames shorter than an Ethernet header. TC (skb programs): an
    outer ethertype of IPv4/IPv6 without the whole fixed IP header after it.
    """
    if len(frame) < ETH_HLEN:
        return True
    if hook == "tc":
        need = _IP_HEADER.get(int.from_bytes(frame[12:14], "big"), 0)
        return len(frame) - ETH_HLEN < need
    return False


@dataclass(frozen=True)
class FixtureResult:
    """One fixture row on one hook; ``problems`` is empty when it passed."""

    description: str
    hook: Hook
    expected: str
    got: str
    ns: int | None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def _hexdiff(want: bytes, got: bytes) -> str:
    if len(want) != len(got):
        return f"length {len(got)}, expected {len(want)}"
    first = next(i for i, (a, b) in enumerate(zip(want, got, strict=True)) if a != b)
    return f"first difference at byte {first}: {got[first]:#04x}, expected {want[first]:#04x}"


def _groups(spec: VnfSpec, rows: list[Fixture], hook: Hook) -> list[tuple[VnfConfig, list[Fixture]]]:
    """Consecutive rows with the same config (rows not for ``hook`` are left out)."""
    out: list[tuple[VnfConfig, list[Fixture]]] = []
    for row in rows:
        if row.hooks is not None and hook not in row.hooks:
            continue
        cfg = spec.validate(row.config)
        if out and out[-1][0] == cfg:
            out[-1][1].append(row)
        else:
            out.append((cfg, [row]))
    return out


def run_fixtures(
    spec: VnfSpec, *, hooks: Iterable[Hook] | None = None, timing_repeat: int = 1000
) -> list[FixtureResult]:
    """Play ``spec``'s fixture table on each hook; one result per row and hook.

    Each group of consecutive rows with the same config gets a fresh program
    and a fresh model; a model whose state disagrees with the kernel's after
    the group adds a failed "state" row. Timing runs after all checks of the
    group (``timing_repeat`` runs per row, so state changes do not disturb the
    checks).
    """
    results: list[FixtureResult] = []
    rows = spec.fixtures()
    for hook in hooks or spec.hooks:
        for cfg, group in _groups(spec, rows, hook):
            with VnfInstance.load(spec, hook, cfg) as inst:
                model = spec.model(cfg)
                checked = []
                for row in group:
                    checked.append(_check_row(inst, model, row, hook))
                diff = model.state_diff(inst)
                for row, (got, problems) in zip(group, checked, strict=True):
                    ns = (
                        None
                        if refused_by_test_run(row.frame, hook)
                        else inst.time_ns(row.frame, timing_repeat)
                    )
                    results.append(FixtureResult(row.description, hook, row.verdict.name, got, ns, problems))
                if diff:
                    results.append(
                        FixtureResult(
                            f"state after {len(group)} rows", hook, "agree", "differ", None, tuple(diff)
                        )
                    )
    return results


def _check_row(inst: VnfInstance, model: Any, row: Fixture, hook: Hook) -> tuple[str, tuple[str, ...]]:
    problems = []
    frame, want = row.frame, row.expected_output
    if refused_by_test_run(frame, hook):
        return "-", (f"test_run refuses this frame on {hook}: choose another fixture or restrict its hooks",)
    obs = inst.run(frame)
    if obs.verdict != row.verdict:
        problems.append(f"kernel verdict {obs.verdict.name}, expected {row.verdict.name}")
    action = standalone_action(obs.verdict, hook)
    if action is not None and obs.action != action:
        problems.append(f"hook action {obs.action!r} does not match verdict {obs.verdict.name}")
    if obs.data != want:
        problems.append(f"kernel output: {_hexdiff(want, obs.data)}")
    outcome = model.process(frame, hook)
    if outcome.verdict != row.verdict:
        problems.append(f"model verdict {outcome.verdict.name}, expected {row.verdict.name}")
    if outcome.data != want:
        problems.append(f"model output: {_hexdiff(want, outcome.data)}")
    return obs.verdict.name, tuple(problems)


@dataclass(frozen=True)
class Mismatch:
    """Where the kernel and the reference model disagreed."""

    index: int
    description: str
    frame: bytes
    detail: str

    def __str__(self) -> str:
        return f"#{self.index} {self.description}: {self.detail} (frame {self.frame.hex()})"


@dataclass
class Comparison:
    """The result of :func:`compare`."""

    vnf: str
    hook: Hook
    frames: int = 0
    refused: int = 0  # frames test_run refused, as it must (see refused_by_test_run)
    mismatches: list[Mismatch] = field(default_factory=list)
    state: list[str] = field(default_factory=list)  # model.state_diff() at the end
    verdicts: dict[Verdict, int] = field(default_factory=dict)
    aborted: list[Mismatch] = field(default_factory=list)  # frames that got XDP_ABORTED

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.state)

    def report(self, limit: int = 10) -> str:
        lines = [f"{self.vnf} ({self.hook}): {len(self.mismatches)} mismatches over {self.frames} frames"]
        lines += [f"  {m}" for m in self.mismatches[:limit]]
        lines += [f"  state: {s}" for s in self.state[:limit]]
        return "\n".join(lines)


def compare(
    spec: VnfSpec,
    frames: Sequence[tuple[str, bytes]],
    *,
    hook: Hook = "xdp",
    config: VnfConfig | Mapping[str, Any] | None = None,
    instance: VnfInstance | None = None,
) -> Comparison:
    """Run ``frames`` (description, bytes) in order through the kernel and the model.

    One program (``instance``, or a fresh one for ``config``) and one model
    see the same sequence, so stateful VNFs are compared too.
    """
    cfg = spec.validate(config if instance is None else instance.config)
    inst = instance or VnfInstance.load(spec, hook, cfg)
    hook = inst.hook
    result = Comparison(spec.name, hook)
    try:
        model = spec.model(cfg)
        for i, (desc, frame) in enumerate(frames):
            result.frames += 1
            if refused_by_test_run(frame, hook):
                _check_refused(inst, i, desc, frame, result)
                continue
            obs = inst.run(frame)
            want = model.process(frame, hook)
            result.verdicts[obs.verdict] = result.verdicts.get(obs.verdict, 0) + 1
            if hook == "xdp" and obs.action == XdpAction.ABORTED:
                result.aborted.append(Mismatch(i, desc, frame, "XDP_ABORTED"))
            if obs.verdict != want.verdict:
                detail = f"kernel {obs.verdict.name}, model {want.verdict.name}"
                result.mismatches.append(Mismatch(i, desc, frame, detail))
            elif obs.data != want.data:
                result.mismatches.append(Mismatch(i, desc, frame, f"output {_hexdiff(want.data, obs.data)}"))
        result.state = model.state_diff(inst)
    finally:
        if instance is None:
            inst.close()
    return result


def _check_refused(inst: VnfInstance, i: int, desc: str, frame: bytes, result: Comparison) -> None:
    if len(frame) < ETH_HLEN and parse(frame).status != ParseStatus.TRUNCATED:
        result.mismatches.append(Mismatch(i, desc, frame, "reference parser does not call a runt truncated"))
    try:
        inst.program.run(frame)
    except BpfError as e:
        if e.errno != errno.EINVAL:
            result.mismatches.append(Mismatch(i, desc, frame, f"test_run refused the frame with {e}"))
        else:
            result.refused += 1
        return
    result.mismatches.append(Mismatch(i, desc, frame, "test_run accepted a frame it is known to refuse"))
