"""Per-host background work that keeps the data plane healthy (run by ``alveole serve``).

* :mod:`.ctgc`: periodic garbage collection of every pinned conntrack table.
"""

from .ctgc import Sweep, Sweeper, collect_table, find_tables, open_table

__all__ = ["Sweep", "Sweeper", "collect_table", "find_tables", "open_table"]
