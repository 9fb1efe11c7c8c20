"""The load balancer's control plane: ordered map diffs, health checks, node setup.

The data path is the ``lb`` VNF (:mod:`alveole.vnf.lb`). Here:

* :class:`LoadBalancer`: the config a loaded LB should run, minus the backends the
  health checker took out, written as ordered diffs (only the ring slots that move);
* :class:`HealthChecker`: TCP or HTTP probes from the LB node's namespace;
* :func:`prepare_lb_node`, :func:`prepare_dsr_backend`: sysctls, VIPs on lo, the
  backend's XDP decapsulator;
* :mod:`alveole.lb.echo_http`: a tiny HTTP backend answering its own name.

See docs/vnfs/lb.md.
"""

from .controller import ApplyReport, BackendStatus, LoadBalancer, VipStatus, effective_config
from .health import BackendHealth, HealthChecker, Target, probe_http, probe_tcp
from .node import DsrBackend, prepare_dsr_backend, prepare_lb_node

__all__ = [
    "ApplyReport",
    "BackendHealth",
    "BackendStatus",
    "DsrBackend",
    "HealthChecker",
    "LoadBalancer",
    "Target",
    "VipStatus",
    "effective_config",
    "prepare_dsr_backend",
    "prepare_lb_node",
    "probe_http",
    "probe_tcp",
]
