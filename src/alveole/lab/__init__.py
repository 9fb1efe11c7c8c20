"""Lab topologies: network namespaces joined by veth pairs (and bridges), declared in YAML.

Usage::

    from alveole import lab

    topo = lab.load_topology("examples/labs/two-hosts.yaml")
    lab.up(topo)  # idempotent; every step recorded before it runs
    lab.down(topo.name)  # removes what the record lists, also after a crash
"""

from .apply import LabStatus, down, pin_dir, status, up
from .model import (
    ALLOWED_NETWORKS,
    Bridge,
    Endpoint,
    Host,
    Link,
    Neighbor,
    Route,
    Topology,
    check_allowed,
    ifname,
    load_topology,
    netns_name,
)
from .state import LabError, LabRecord, Resource, labs_dir, list_records

__all__ = [
    "ALLOWED_NETWORKS",
    "Bridge",
    "Endpoint",
    "Host",
    "LabError",
    "LabRecord",
    "LabStatus",
    "Link",
    "Neighbor",
    "Resource",
    "Route",
    "Topology",
    "check_allowed",
    "down",
    "ifname",
    "labs_dir",
    "list_records",
    "load_topology",
    "netns_name",
    "pin_dir",
    "status",
    "up",
]
