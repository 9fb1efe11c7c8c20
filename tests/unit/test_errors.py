from alveole.errors import NO_REASON, MapKeyError, VerifierError, verifier_reason

LOG = """0: R1=ctx() R10=fp0
0: (61) r1 = *(u32 *)(r1 +0)          ; R1=pkt(r=0)
1: (71) r0 = *(u8 *)(r1 +12)
invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)
R1 offset is outside of the packet
processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
"""


def test_verifier_reason_is_the_last_diagnostic_line() -> None:
    assert verifier_reason(LOG) == "R1 offset is outside of the packet"
    assert verifier_reason("processed 39 insns (limit 1000000)\n") == NO_REASON


def test_verifier_error_message() -> None:
    e = VerifierError("xdp_bad", LOG, 13)
    assert e.reason == "R1 offset is outside of the packet"
    assert "xdp_bad" in str(e) and e.log == LOG


def test_map_key_error_is_a_key_error() -> None:
    e = MapKeyError("flows", 7)
    assert isinstance(e, KeyError)
    assert str(e) == "key 7 not in map 'flows' [ENOENT: No such file or directory]"
