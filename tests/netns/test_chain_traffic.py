"""Chains under real traffic: live updates lose nothing; the data plane outlives its controller."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

from alveole.datapath import Chain, ChainId, raw_resolver
from alveole.trafficgen import Generator, templates

from .chainkit import DROP, hop


def _received(chain: Chain, instance: str) -> int:
    return chain.member(instance).counters()["continue"][0]


def test_live_updates_under_traffic_lose_nothing(dp, veth) -> None:
    ns, rx, tx = veth
    chain = dp.create(
        ChainId(rx, "xdp", ns),
        [("first", hop(1, mark=0)), ("mid", hop(2, mark=0)), ("last", hop(3, mark=0))],
        end="drop",
    )
    stop = threading.Event()
    result = {}
    with Generator(tx, templates.udp(), netns=ns, flows=16) as gen:
        sender = threading.Thread(target=lambda: result.update(r=gen.send(rate=200_000, stop=stop)))
        sender.start()
        try:
            time.sleep(0.05)
            for i in range(20):
                chain.update("mid", hop(2, mark=0, version=f"2.{i}"))
        finally:
            stop.set()
            sender.join()
    sent = result["r"].sent
    time.sleep(0.05)
    assert sent > 10_000
    assert _received(chain, "first") == sent
    assert _received(chain, "last") == sent  # every frame crossed all three VNFs: none lost
    assert _received(chain, "mid") == sent  # the per-hop counters of "mid" survived 20 versions


def test_kill_9_keeps_the_data_plane_and_restart_readopts(dp, veth, tmp_path) -> None:
    ns, rx, tx = veth
    script = textwrap.dedent(f"""
        import json, sys, time
        from alveole.datapath import ChainId, Datapath, MemberSpec, raw_resolver
        from pathlib import Path
        sys.path.insert(0, {os.getcwd()!r})
        from tests.netns.chainkit import hop
        d = Datapath(raw_resolver, bpffs=Path({str(dp.bpffs)!r}), state=Path({str(dp.state)!r}))
        c = d.create(ChainId({rx!r}, "xdp", {ns!r}), [("fw", hop(1, mark=0, verdict={DROP}))], end="drop")
        print(json.dumps({{"prog": c.members[0].program.id, "link": c.link.id}}), flush=True)
        time.sleep(600)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        ids = json.loads(child.stdout.readline())
        with Generator(tx, templates.udp(), netns=ns) as gen:
            stop = threading.Event()
            result = {}
            sender = threading.Thread(target=lambda: result.update(r=gen.send(rate=100_000, stop=stop)))
            sender.start()
            time.sleep(0.1)
            child.send_signal(signal.SIGKILL)  # the controller dies under traffic
            child.wait()
            time.sleep(0.2)
            stop.set()
            sender.join()
    finally:
        if child.poll() is None:
            child.kill()
    cid = ChainId(rx, "xdp", ns)
    chain, repairs = Chain.adopt(cid, raw_resolver, dp._paths(cid))
    dp._chains[cid] = chain
    assert repairs == []
    assert (chain.members[0].program.id, chain.link.id) == (ids["prog"], ids["link"])
    # the drop policy held before, during and after the kill: every frame met it
    assert chain.member("fw").counters()["drop"][0] == result["r"].sent > 10_000
