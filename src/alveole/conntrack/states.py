"""Conntrack states, directions and timeouts: ``alveole/conntrack.h`` in Python.

The state machine here (:func:`initial_state`, :func:`next_state`) is the
reference the kernel is checked against, rule for rule; :class:`Timeouts` is
the per-state idle timeout a VNF's config carries into the ``alv_ct_conf`` map.
"""

from __future__ import annotations

import enum

import pydantic
from pydantic import Field

__all__ = [
    "TCP_ACK",
    "TCP_FIN",
    "TCP_RST",
    "TCP_SYN",
    "Dir",
    "NatKind",
    "State",
    "Timeouts",
    "initial_state",
    "next_state",
]

TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 = 1, 6, 17, 58
STATE_SLOTS = 16  # timeout_ns[16] in struct alv_ct_conf


class State(enum.IntEnum):
    """``enum alv_ct_state`` (values checked against BTF by a test)."""

    NONE = 0
    SYN_SENT = 1
    SYN_RECV = 2
    ESTABLISHED = 3
    FIN_WAIT = 4
    CLOSE_WAIT = 5
    TIME_WAIT = 6
    CLOSE = 7
    UDP_NEW = 8
    UDP_REPLIED = 9
    ICMP_NEW = 10
    ICMP_REPLIED = 11
    OTHER_NEW = 12
    OTHER_REPLIED = 13

    @property
    def label(self) -> str:
        return self.name.lower()


class Dir(enum.IntEnum):
    """``enum alv_ct_dir``: a packet's direction in its flow."""

    ORIG = 0
    REPLY = 1


class NatKind(enum.IntEnum):
    """``enum alv_ct_nat_kind``."""

    NONE = 0
    SNAT = 1
    DNAT = 2
    LB = 3


def initial_state(proto: int, flags: int, d: Dir) -> State:
    """``alv_ct_initial``: the state a flow starts in (NONE: a RST creates nothing)."""
    if proto == IPPROTO_TCP:
        if flags & TCP_RST:
            return State.NONE
        syn_ack = flags & (TCP_SYN | TCP_ACK)
        if syn_ack == TCP_SYN:
            return State.SYN_SENT if d == Dir.ORIG else State.ESTABLISHED
        if syn_ack == TCP_SYN | TCP_ACK and d == Dir.REPLY:
            return State.SYN_RECV
        if flags & TCP_FIN:
            return State.FIN_WAIT if d == Dir.ORIG else State.CLOSE_WAIT
        return State.ESTABLISHED
    if proto == IPPROTO_UDP:
        base = State.UDP_NEW
    elif proto in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        base = State.ICMP_NEW
    else:
        base = State.OTHER_NEW
    return State(base + (d == Dir.REPLY))


def next_state(state: State, proto: int, d: Dir, flags: int, seen: list[int]) -> State:
    """``alv_ct_update``'s state change; ``seen`` (TCP flags by direction) is updated in place."""
    if proto != IPPROTO_TCP:
        if d == Dir.REPLY and state >= State.UDP_NEW and not state & 1:
            return State(state + 1)
        return state
    if flags & TCP_RST:
        seen[d] |= flags
        return State.CLOSE
    syn_ack = flags & (TCP_SYN | TCP_ACK)
    if syn_ack == TCP_SYN:
        if d == Dir.ORIG and state in (State.TIME_WAIT, State.CLOSE):
            seen[Dir.ORIG], seen[Dir.REPLY] = flags, 0
            return State.SYN_SENT
        seen[d] |= flags
        return state
    seen[d] |= flags
    if flags & TCP_SYN:  # SYN-ACK
        return State.SYN_RECV if d == Dir.REPLY and state == State.SYN_SENT else state
    if state == State.SYN_RECV and d == Dir.ORIG and flags & TCP_ACK:
        state = State.ESTABLISHED
    if State.SYN_RECV <= state <= State.CLOSE_WAIT:
        fin_o, fin_r = seen[Dir.ORIG] & TCP_FIN, seen[Dir.REPLY] & TCP_FIN
        if fin_o and fin_r:
            state = State.TIME_WAIT
        elif fin_o:
            state = State.FIN_WAIT
        elif fin_r:
            state = State.CLOSE_WAIT
    return state


class Timeouts(pydantic.BaseModel):
    """Idle timeouts by state, in seconds (0: never expires). Defaults follow Linux's conntrack."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    syn_sent: float = Field(120, ge=0)
    syn_recv: float = Field(60, ge=0)
    established: float = Field(432000, ge=0, description="5 days, as Linux")
    fin_wait: float = Field(120, ge=0)
    close_wait: float = Field(60, ge=0)
    time_wait: float = Field(120, ge=0)
    close: float = Field(10, ge=0)
    udp: float = Field(30, ge=0, description="UDP seen one way only")
    udp_replied: float = Field(120, ge=0)
    icmp: float = Field(30, ge=0, description="ICMP echo, either way")
    other: float = Field(600, ge=0, description="other IP protocols, either way")

    def seconds(self, state: State) -> float:
        """The timeout of ``state`` in seconds."""
        return {
            State.NONE: 0.0,
            State.SYN_SENT: self.syn_sent,
            State.SYN_RECV: self.syn_recv,
            State.ESTABLISHED: self.established,
            State.FIN_WAIT: self.fin_wait,
            State.CLOSE_WAIT: self.close_wait,
            State.TIME_WAIT: self.time_wait,
            State.CLOSE: self.close,
            State.UDP_NEW: self.udp,
            State.UDP_REPLIED: self.udp_replied,
            State.ICMP_NEW: self.icmp,
            State.ICMP_REPLIED: self.icmp,
            State.OTHER_NEW: self.other,
            State.OTHER_REPLIED: self.other,
        }[state]

    def ns(self) -> list[int]:
        """``timeout_ns[16]`` of ``struct alv_ct_conf``, indexed by state."""
        out = [round(self.seconds(s) * 1e9) for s in State]
        return out + [0] * (STATE_SLOTS - len(out))

    def conf_entry(self) -> dict[int, dict[str, list[int]]]:
        """The ``alv_ct_conf`` map's content (for a config's ``map_entries()``)."""
        return {0: {"timeout_ns": self.ns()}}

    @classmethod
    def from_ns(cls, values: list[int] | tuple[int, ...]) -> Timeouts:
        """Back from ``timeout_ns`` as read from a map."""
        s = {state: values[state] / 1e9 for state in State}
        return cls(
            syn_sent=s[State.SYN_SENT],
            syn_recv=s[State.SYN_RECV],
            established=s[State.ESTABLISHED],
            fin_wait=s[State.FIN_WAIT],
            close_wait=s[State.CLOSE_WAIT],
            time_wait=s[State.TIME_WAIT],
            close=s[State.CLOSE],
            udp=s[State.UDP_NEW],
            udp_replied=s[State.UDP_REPLIED],
            icmp=s[State.ICMP_NEW],
            other=s[State.OTHER_NEW],
        )
