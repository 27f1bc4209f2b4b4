"""The interconnect rule: can a pool's servers and fabric hold a replica or a one-site gang?

One rule, stated on plain figures so that the placement filter (`placement/filters/
fabric.py`) and the plan checker (`placement/check.py`) read it the same way:

- `within_server` other than `any`: each replica fits one server (GPUs per replica <=
  `gpus_per_server`) whose GPUs have that link; replicas are packed whole into servers
  (`gpus_per_server // gpus` per server, the partial last server holds what fits).
- servers needed: with `within_server` set, ceil(replicas / replicas per server); else
  ceil(replicas x GPUs / gpus_per_server) (replicas may span servers).
- more than one server needed: `between_servers: none` forbids it; `ethernet`, `rdma`,
  `roce`, `infiniband` (or `any` with `min_gbps`) need a fabric of a matching type, of at
  least `min_gbps` per server, whose domain (`domain_servers`) holds every needed server.
- one server needed: no fabric is needed at all.

The verdict depends on the fleet only, never on free capacity: how many GPUs are left is
the `fit` filter's question.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fleetyard.spec.catalog import INFINITY_FABRIC, NVLINK
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.models import GpuPool, Interconnect

# the pool links each `within_server` value accepts
LINKS_FOR: dict[str, frozenset[str]] = {
    "nvlink": frozenset({NVLINK}),
    "infinity-fabric": frozenset({INFINITY_FABRIC}),
    "gpu-link": frozenset({NVLINK, INFINITY_FABRIC}),
}
# the pool fabrics each `between_servers` value accepts
FABRICS_FOR: dict[str, frozenset[str]] = {
    "ethernet": frozenset({"ethernet", "roce", "infiniband"}),
    "rdma": frozenset({"roce", "infiniband"}),
    "roce": frozenset({"roce"}),
    "infiniband": frozenset({"infiniband"}),
}

SERVER_TOO_SMALL = "fabric.server-too-small"
LINK_MISMATCH = "fabric.link"
TOO_FEW_SERVERS = "fabric.servers"
MUST_FIT_ONE_SERVER = "fabric.one-server"
FABRIC_TYPE = "fabric.type"
FABRIC_BANDWIDTH = "fabric.bandwidth"
DOMAIN_TOO_SMALL = "fabric.domain"


@dataclass(frozen=True)
class PoolShape:
    """A pool's servers and fabric, as the rule sees them."""

    sku: str
    count: int
    gpus_per_server: int
    link: str  # nvlink | infinity-fabric | pcie
    link_name: str  # "NVLink 4", for messages
    fabric: str  # none | ethernet | roce | infiniband
    gbps: float  # per server; 0 without a fabric
    domain_servers: int | None  # None: every server of the pool

    @property
    def servers(self) -> int:
        return math.ceil(self.count / self.gpus_per_server)


def pool_shape(fleet: Fleet, pool: GpuPool) -> PoolShape:
    model = fleet.gpu_model(pool)
    fabric = pool.fabric_or_none
    return PoolShape(pool.sku, pool.count, model.gpus_per_server, model.interconnect.kind,
                     model.interconnect.generation, fabric.type, float(fabric.gbps or 0.0),
                     fabric.domain_servers)


@dataclass(frozen=True)
class Shortfall:
    code: str
    message: str
    summary: str


def wanted_fabric(need: Interconnect) -> str | None:
    """The `between_servers` value that is checked (`any` with `min_gbps` is `ethernet`)."""
    if need.between_servers == "any":
        return "ethernet" if need.min_gbps is not None else None
    return need.between_servers


def fits_within_server(need: Interconnect, gpus: int, gpus_per_server: int) -> bool:
    return need.within_server != "any" and gpus <= gpus_per_server


def servers_needed(need: Interconnect, replicas: int, gpus: int, gpus_per_server: int) -> int:
    if fits_within_server(need, gpus, gpus_per_server):
        return math.ceil(replicas / (gpus_per_server // gpus))
    return math.ceil(replicas * gpus / gpus_per_server)


def whole_server_replicas(count: int, gpus: int, gpus_per_server: int) -> int:
    """Replicas of `gpus` GPUs that fit `count` GPUs without any replica spanning servers."""
    return (count // gpus_per_server) * (gpus_per_server // gpus) + (count % gpus_per_server) // gpus


def what(replicas: int, gpus: int) -> str:
    return f"gang of {replicas} x {gpus} GPUs" if replicas > 1 else f"replica of {gpus} GPUs"


def shortfalls(need: Interconnect | None, replicas: int, gpus: int, pool: PoolShape) -> list[Shortfall]:
    """Every reason `replicas` replicas of `gpus` GPUs, placed together, cannot use `pool`."""
    if need is None:
        return []
    out: list[Shortfall] = []
    gps, unit = pool.gpus_per_server, what(replicas, gpus)
    if need.within_server != "any":
        if gpus > gps:
            out.append(Shortfall(SERVER_TOO_SMALL, f"fabric: a replica of {gpus} GPUs does not fit one "
                                 f"{pool.sku} server of {gps}", f"replica larger than one server of {gps} GPUs"))
        if pool.link not in LINKS_FOR[need.within_server]:
            out.append(Shortfall(LINK_MISMATCH, f"fabric: {pool.sku} links the GPUs of a server by "
                                 f"{pool.link_name}, not {need.within_server}", f"no {need.within_server} inside "
                                 "a server"))
        held = whole_server_replicas(pool.count, gpus, gps) if gpus <= gps else replicas
        # lost to packing only; with too few GPUs in all, fit gives the reason
        if held < replicas and replicas * gpus <= pool.count:
            out.append(Shortfall(TOO_FEW_SERVERS, f"fabric: {pool.count} {pool.sku} in servers of {gps} hold "
                                 f"{held} replicas of {gpus} GPUs within one server < {replicas} needed",
                                 f"too few whole servers for the {unit}"))
    servers = servers_needed(need, replicas, gpus, gps)
    if servers <= 1:
        return out
    if need.between_servers == "none":
        out.append(Shortfall(MUST_FIT_ONE_SERVER, f"fabric: the {unit} needs {servers} {pool.sku} servers of "
                             f"{gps}, but must stay within one (between_servers: none)",
                             f"{unit} does not fit one server"))
        return out
    fabric = wanted_fabric(need)
    if fabric is None:
        return out
    on = f"on one {fabric} domain" + (f" of >= {need.min_gbps:g} Gb/s" if need.min_gbps else "")
    if pool.fabric not in FABRICS_FOR[fabric]:
        out.append(Shortfall(FABRIC_TYPE, f"fabric: the {unit} needs {servers} servers {on}; {pool.sku} has "
                             f"{'no fabric' if pool.fabric == 'none' else pool.fabric}",
                             f"no {fabric} fabric for the {unit}"))
        return out
    if need.min_gbps is not None and pool.gbps < need.min_gbps:
        out.append(Shortfall(FABRIC_BANDWIDTH, f"fabric: {pool.sku} {pool.fabric} has {pool.gbps:g} Gb/s per "
                             f"server < {need.min_gbps:g} Gb/s needed", f"fabric slower than {need.min_gbps:g} Gb/s"))
    if pool.domain_servers is not None and pool.domain_servers < servers:
        out.append(Shortfall(DOMAIN_TOO_SMALL, f"fabric: the {unit} needs {servers} servers {on}; {pool.sku} "
                             f"has {pool.fabric}, {pool.domain_servers} servers per domain",
                             f"fabric domain smaller than {servers} servers"))
    return out
