"""The lab most real-traffic tests need: client -- node (forwarding) -- server, IPv4 and IPv6."""

from __future__ import annotations

from alveole import lab

Pair = tuple[str, str]  # (IPv4 address, IPv6 address): in a /24 and a /64


def client_node_server(
    name: str,
    description: str,
    node: str,
    *,
    client: Pair,
    node_in: Pair,
    node_out: Pair,
    server: Pair,
    server_routes: bool = True,
) -> lab.Topology:
    """Interfaces: client ``eth0``, node ``in0`` and ``out0``, server ``eth0`` (``alv`` prefixed).

    The client's default routes go through ``node_in``; the server's through ``node_out``
    unless ``server_routes`` is false (a NAT's outside has no route to the inside).
    """

    def end(host: str, ifname: str, pair: Pair) -> dict[str, object]:
        return {"host": host, "ifname": ifname, "addresses": [f"{pair[0]}/24", f"{pair[1]}/64"]}

    def via(pair: Pair) -> dict[str, object]:
        return {"routes": [{"to": "default", "via": pair[0]}, {"to": "default", "via": pair[1]}]}

    return lab.Topology.model_validate(
        {
            "name": name,
            "description": description,
            "hosts": {
                "client": via(node_in),
                node: {"forwarding": True},
                "server": via(node_out) if server_routes else {},
            },
            "links": [
                {"ends": [end("client", "eth0", client), end(node, "in0", node_in)]},
                {"ends": [end(node, "out0", node_out), end("server", "eth0", server)]},
            ],
        }
    )
