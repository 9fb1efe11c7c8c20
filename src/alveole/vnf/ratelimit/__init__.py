"""ratelimit: a token-bucket rate limiter VNF.

One bucket per key (source address, or 5-tuple), in packets or bytes per second
with a burst, shared correctly by all CPUs (lock-free GCRA buckets from
``alveole/bucket.h``) in LRU tables; packets over the limit are dropped, or
continue counted (dry run). See docs/vnfs/ratelimit.md.
"""

from pathlib import Path

from ..spec import VnfSpec
from .config import BUCKET_TABLES, RatelimitConfig
from .cost import cost_rows
from .fixtures import fixtures
from .model import RatelimitModel
from .state import BucketKey, Outcome, buckets, outcome_counts
from .strategies import configs

__all__ = ["SPEC", "BucketKey", "Outcome", "RatelimitConfig", "RatelimitModel", "buckets", "outcome_counts"]

SPEC = VnfSpec(
    name="ratelimit",
    summary="token bucket per source or 5-tuple, packets or bytes per second; drops (or counts) the excess",
    source=Path(__file__).with_name("ratelimit.bpf.c"),
    entries={"xdp": "ratelimit_xdp", "tc": "ratelimit_tc"},
    config=RatelimitConfig,
    model=RatelimitModel,
    fixtures=fixtures,
    config_strategy=configs,
    cost_rows=cost_rows,
    maps=(*BUCKET_TABLES, "rl_counts", "rl_settings", "alv_vclock"),
    version="1",
    # a new table_size (or key mode) resizes the bucket tables: buckets carry over as they are
    migrations={t: "copy" for t in BUCKET_TABLES},
)
