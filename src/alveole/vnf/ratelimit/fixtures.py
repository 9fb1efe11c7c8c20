"""The rate limiter's fixture table: bucket sequences on the virtual clock, by key mode and unit.

Groups run on ``clock="virtual"``: each keyed packet advances time by
``clock_step_ns``, so every verdict below follows by hand from the bucket rule
(``alveole/bucket.h``): a packet conforms when ``max(tat, now) + cost - now <=
burst_ns``. With 1000 packets/s a packet costs 1 ms; with 1 MB/s a byte costs
1 us.
"""

from __future__ import annotations

from ..spec import Fixture
from ..verdict import Verdict

__all__ = ["fixtures"]

MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"
A, B, X = "198.18.0.1", "198.18.0.2", "198.19.0.80"
A6, X6 = "2001:db8::1", "2001:db8:ffff::80"

C, D = Verdict.CONTINUE, Verdict.DROP


def fixtures() -> list[Fixture]:
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Ether

    eth = Ether(src=MAC_A, dst=MAC_B)

    def ip(src: str, dst: str | None = None, **kw: object) -> object:
        if ":" in src:
            return eth / IPv6(src=src, dst=dst or X6, **kw)
        return eth / IP(src=src, dst=dst or X, **kw)

    def udp(src: str, sport: int = 1000, size: int | None = None, dst: str | None = None) -> bytes:
        frame = bytes(ip(src, dst) / UDP(sport=sport, dport=53))
        if size is None:
            return frame
        return bytes(ip(src, dst) / UDP(sport=sport, dport=53) / bytes(size - len(frame)))

    def rows(config: dict | None, *table: tuple[str, object, Verdict]) -> list[Fixture]:
        return [Fixture(desc, pkt, verdict, config=config) for desc, pkt, verdict in table]

    default = rows(
        None,
        ("default: UDP/IPv4 within 1000/s, continues", udp(A), C),
        ("default: TCP/IPv6 continues", ip(A6) / TCP(sport=1, dport=443, flags="A"), C),
        ("default: ARP has no key, continues", eth / ARP(psrc=A, pdst=B), C),
    )

    packets = {"rate": 1000, "burst": 3, "clock": "virtual", "clock_step_ns": 250_000}
    by_source = rows(
        packets,
        ("src: A UDP at 0.25 ms, full bucket (owes 1 ms)", udp(A), C),
        ("src: A TCP at 0.5 ms, same bucket, owes 1.75 ms", ip(A) / TCP(sport=1, dport=80, flags="A"), C),
        ("src: A ICMP at 0.75 ms, owes 2.5 ms", ip(A) / ICMP(), C),
        ("src: A at 1 ms would owe 3.25 ms > 3: dropped", udp(A, 2000), D),
        ("src: B at 1.25 ms has its own bucket", udp(B), C),
        ("src: A at 1.5 ms owes 2.75 ms", udp(A), C),
        ("src: A at 1.75 ms would owe 3.5 ms: dropped", udp(A), D),
        ("src: ARP has no key, no clock", eth / ARP(psrc=A, pdst=B), C),
        (
            "src: A, TCP header cut (IP length 26), keyed all the same, dropped",
            ip(A, len=26, proto=6) / bytes(6),
            D,
        ),
        ("src: A later fragment at 2.25 ms owes exactly 3 ms", ip(A, frag=5, proto=17) / bytes(16), C),
    )

    flow = {"key": "5tuple", "rate": 1000, "burst": 1, "clock": "virtual"}
    by_flow = rows(
        flow,
        ("5tuple: A:1000 -> X:53 UDP conforms", udp(A, 1000), C),
        ("5tuple: the same flow 1 us later: over", udp(A, 1000), D),
        ("5tuple: A:1001 -> X:53 is another flow", udp(A, 1001), C),
        ("5tuple: A:1000 -> X:53 over TCP is another flow", ip(A) / TCP(sport=1000, dport=53, flags="S"), C),
        ("5tuple: A -> another destination is another flow", udp(A, 1000, dst=B), C),
        ("5tuple: ICMP A -> X (ports 0)", ip(A) / ICMP(type=8), C),
        ("5tuple: ICMP A -> X of another type: same key, over", ip(A) / ICMP(type=13), D),
        ("5tuple: UDP/IPv6 flow", udp(A6, 1000), C),
        ("5tuple: the same IPv6 flow: over", udp(A6, 1000), D),
    )

    nbytes = {"unit": "bytes", "rate": 1_000_000, "burst": 300, "clock": "virtual", "clock_step_ns": 50_000}
    by_bytes = rows(
        nbytes,
        ("bytes: 100-byte frame at 50 us, full bucket (owes 100 us)", udp(A, size=100), C),
        ("bytes: 100-byte frame at 100 us, owes 150 us", udp(A, size=100), C),
        ("bytes: 200-byte frame at 150 us, owes exactly 300 us", udp(A, size=200), C),
        ("bytes: 100-byte frame at 200 us would owe 350 us: dropped", udp(A, size=100), D),
        ("bytes: 60-byte frame at 250 us owes 260 us: fits where 100 bytes did not", udp(A, size=60), C),
        ("bytes: 100-byte frame at 300 us would owe 310 us: dropped", udp(A, size=100), D),
    )

    dry = rows(
        {"over_limit": "continue", "rate": 1000, "burst": 1, "clock": "virtual"},
        ("dry run: A conforms", udp(A), C),
        ("dry run: A over the limit continues, counted as exceeded", udp(A), C),
    )

    per64 = rows(
        {"src_prefix_v6": 64, "rate": 1000, "burst": 1, "clock": "virtual"},
        ("src_prefix_v6=64: 2001:db8::1 conforms", udp("2001:db8::1"), C),
        ("src_prefix_v6=64: 2001:db8::2 shares its /64's bucket: over", udp("2001:db8::2"), D),
        ("src_prefix_v6=64: 2001:db8:0:1::1, another /64, conforms", udp("2001:db8:0:1::1"), C),
    )
    return default + by_source + by_flow + by_bytes + dry + per64
