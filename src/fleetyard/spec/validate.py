"""Rules that relate fields or resources to each other, checked on a loaded fleet.

Each rule reports a `Problem` at the exact field (file, line, path). Errors stop
planning; warnings (a policy that selects nothing) are shown and planning goes on.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fleetyard.spec.catalog import CATALOG, suggest
from fleetyard.spec.errors import Problem, Severity, format_path
from fleetyard.spec.flag import flag_problems
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.models import Policy, Site, Workload
from fleetyard.spec.secret import env_warnings, reference_problems, value_problems
from fleetyard.spec.yamlsource import Loc

UNNAMED = ""  # in `also_known`: a document of that kind failed before its name could be read


class _Report:
    def __init__(self, fleet: Fleet, also_known: Mapping[str, set[str]]) -> None:
        self.fleet = fleet
        self.problems: list[Problem] = []
        self.regions = set(fleet.regions) | set(also_known.get("Region", ()))
        self.sites = set(fleet.sites) | set(also_known.get("Site", ()))
        # When a document failed before its name could be read, any unknown name may be
        # that one: references of its kind are not reported, to avoid false alarms.
        self.any_region = UNNAMED in self.regions
        self.any_site = UNNAMED in self.sites
        self.workloads_failed = bool(also_known.get("Workload"))
        self.secrets_failed = set(also_known.get("Secret", ()))  # Secrets that failed their own checks
        self.all_secrets = False

    def unknown_region(self, name: str) -> bool:
        return not self.any_region and name not in self.regions

    def unknown_site(self, name: str) -> bool:
        return not self.any_site and name not in self.sites

    def add(self, kind: str, name: str, loc: Loc, message: str, severity: Severity = "error") -> None:
        origin = self.fleet.origin(kind, name)
        file = origin.file if origin else f"<{kind} {name}>"
        line = origin.line_of(loc) if origin else None
        self.problems.append(Problem(file, line, format_path(loc), message, severity))


def _valid_timezone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a folder ('Europe'), a too-long name
        return False
    return True


def _did_you_mean(value: str, choices: list[str]) -> str:
    hint = difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
    return f" (did you mean '{hint[0]}'?)" if hint else ""


def check_fleet(fleet: Fleet, also_known: Mapping[str, set[str]] | None = None,
                complete: bool = True, *, all_secrets: bool = False) -> list[Problem]:
    """Check cross-field and cross-resource rules. `also_known` names resources that
    exist in the input but failed their own validation (so they are not 'unknown');
    `complete` is False when files could not be read, and then the fleet-wide
    checks (at least one site) are skipped. `all_secrets`: the fleet holds every Secret
    there is (on the server), so a reference to another is an error (spec/secret.py)."""
    report = _Report(fleet, also_known or {})
    report.all_secrets = all_secrets
    if complete and not report.sites:
        report.problems.append(Problem("<fleet>", None, "", "no Site resources found: a fleet needs at least one site"))
    for site in fleet.sites.values():
        _check_site(report, site)
    for workload in fleet.workloads.values():
        _check_workload(report, workload)
    for policy in fleet.policies.values():
        _check_policy(report, policy)
    for secret in fleet.secrets.values():
        for loc, message in value_problems(secret.spec):
            report.add("Secret", secret.name, loc, message)
    _check_burst(report)
    _check_cost_model(report)
    for flag in fleet.flags.values():
        for loc, message, severity in flag_problems(flag.spec, lambda n: not report.unknown_site(n),
                                                    lambda n: not report.unknown_region(n),
                                                    report.sites, report.regions):
            report.add("Flag", flag.name, loc, message, severity)
    return report.problems


def _check_site(report: _Report, site: Site) -> None:
    spec = site.spec
    seen: dict[str, int] = {}
    for i, pool in enumerate(spec.gpus):
        loc: Loc = ("spec", "gpus", i)
        if pool.sku in seen:
            report.add("Site", site.name, (*loc, "sku"),
                       f"SKU '{pool.sku}' listed twice (also at spec.gpus[{seen[pool.sku]}]); "
                       "give one entry with the total count")
        seen.setdefault(pool.sku, i)
        if pool.sku not in CATALOG and (pool.memory_gb is None or pool.tdp_w is None):
            hints = suggest(pool.sku)
            hint = f" (did you mean {' or '.join(hints)}?)" if hints else ""
            report.add("Site", site.name, (*loc, "sku"),
                       f"unknown SKU '{pool.sku}'{hint}; known SKUs: {', '.join(CATALOG)}; "
                       "for a custom SKU give memory_gb and tdp_w")
        _check_fabric(report, site, i)
    if not _valid_timezone(spec.timezone):
        report.add("Site", site.name, ("spec", "timezone"),
                   f"expected an IANA time zone such as Europe/Berlin or UTC, got '{spec.timezone}'")
    for i, window in enumerate(spec.sync_windows):
        start, end = window.split("-")
        if start == end:
            report.add("Site", site.name, ("spec", "sync_windows", i),
                       f"an empty window ({window}); use 00:00-24:00 for the whole day")
    for region in spec.latency_ms:
        if report.unknown_region(region):
            report.add("Site", site.name, ("spec", "latency_ms", region),
                       f"unknown region '{region}'{_did_you_mean(region, sorted(report.regions))}")


def _check_fabric(report: _Report, site: Site, i: int) -> None:
    fabric = site.spec.gpus[i].fabric
    if fabric is None:
        return
    loc: Loc = ("spec", "gpus", i, "fabric")
    if fabric.type == "none":
        for key in ("gbps", "domain_servers"):
            if getattr(fabric, key) is not None:
                report.add("Site", site.name, (*loc, key), "has no meaning for a fabric of type none; "
                           "give the type (ethernet, roce or infiniband) or drop it")
    elif fabric.gbps is None:
        report.add("Site", site.name, (*loc, "gbps"),
                   f"required for a fabric of type {fabric.type}: the scale-out Gb/s of one server "
                   "(all its NICs, e.g. 8 x 400 = 3200)")


def _check_workload(report: _Report, w: Workload) -> None:
    fleet, spec, name = report.fleet, w.spec, w.name
    if spec.replicas.max is not None and spec.replicas.min > spec.replicas.max:
        report.add("Workload", name, ("spec", "replicas", "min"),
                   f"must be <= replicas.max ({spec.replicas.max}), got {spec.replicas.min}")
    if spec.is_job and spec.replicas.min < 1:
        report.add("Workload", name, ("spec", "replicas", "min"),
                   f"a {spec.type} job needs at least 1 replica, got {spec.replicas.min}")
    if spec.spread is not None:
        if spec.spread.max_sites is not None and spec.spread.min_sites > spec.spread.max_sites:
            report.add("Workload", name, ("spec", "spread", "min_sites"),
                       f"must be <= spread.max_sites ({spec.spread.max_sites}), got {spec.spread.min_sites}")
        if spec.replicas.max is not None and spec.spread.min_sites > spec.replicas.max:
            report.add("Workload", name, ("spec", "spread", "min_sites"),
                       f"must be <= replicas.max ({spec.replicas.max}) since each site runs a replica, "
                       f"got {spec.spread.min_sites}")
    if spec.schedule is not None and spec.type == "inference":
        report.add("Workload", name, ("spec", "schedule"),
                   "a schedule is only for batch, fine-tune and training work; inference is always on")
    if spec.demand and spec.type != "inference":
        report.add("Workload", name, ("spec", "demand"),
                   f"demand (requests/s) is only for inference workloads, this one is {spec.type}")
    if spec.demand and spec.rps_per_replica is None:
        report.add("Workload", name, ("spec", "rps_per_replica"),
                   "required when demand is given: requests/s that one replica serves")
    if spec.latency_slo_ms is not None and not spec.demand:
        report.add("Workload", name, ("spec", "latency_slo_ms"),
                   "has no effect without demand: the SLO bounds routes from user regions", "warning")
    for region in spec.demand:
        if report.unknown_region(region):
            report.add("Workload", name, ("spec", "demand", region),
                       f"unknown region '{region}'{_did_you_mean(region, sorted(report.regions))}")
    for i, source in enumerate(spec.data):
        if report.unknown_site(source.site):
            report.add("Workload", name, ("spec", "data", i, "site"),
                       f"unknown site '{source.site}'{_did_you_mean(source.site, sorted(report.sites))}")
    _check_secret_env(report, w)
    need = spec.interconnect
    if need is not None and need.min_gbps is not None and need.between_servers == "none":
        report.add("Workload", name, ("spec", "interconnect", "min_gbps"),
                   "has no effect with between_servers: none (the replica or gang stays within one server)")
    known = fleet.known_skus()
    for i, sku in enumerate(spec.replica.gpu_skus or []):
        if sku not in known:
            hints = suggest(sku, sorted(known))
            hint = f" (did you mean {' or '.join(hints)}?)" if hints else ""
            report.add("Workload", name, ("spec", "replica", "gpu_skus", i), f"unknown SKU '{sku}'{hint}")


def _check_secret_env(report: _Report, w: Workload) -> None:
    """`env` values that look like credentials (warnings); `secret_env` references (spec/secret.py)."""
    for loc, message in env_warnings(w.spec.env):
        report.add("Workload", w.name, loc, message, "warning")
    secrets = {name: s.spec for name, s in report.fleet.secrets.items()}
    for loc, message, severity in reference_problems(w.spec.secret_env, w.spec.env, secrets,
                                                     all_secrets=report.all_secrets, failed=report.secrets_failed):
        report.add("Workload", w.name, loc, message, "warning" if severity == "warning" else "error")


def _check_policy(report: _Report, p: Policy) -> None:
    fleet = report.fleet
    for side in ("allowed", "denied"):
        rule = getattr(p.spec, side)
        for i, site in enumerate(rule.sites or []):
            if report.unknown_site(site):
                report.add("Policy", p.name, ("spec", side, "sites", i),
                           f"unknown site '{site}'{_did_you_mean(site, sorted(report.sites))}")
    if fleet.workloads and not report.workloads_failed and not any(p.matches(w) for w in fleet.workloads.values()):
        selector = ", ".join(f"{k}={v}" for k, v in p.spec.selector.items()) or "(empty)"
        report.add("Policy", p.name, ("spec", "selector"),
                   f"matches no workload (selector {selector}); the policy has no effect", "warning")


def _check_burst(report: _Report) -> None:
    objective = report.fleet.objective
    burst = objective.spec.burst
    if burst is None:
        return
    seen: dict[str, int] = {}
    for i, site_type in enumerate(burst.prefer):
        if site_type in seen:
            report.add("Objective", objective.name, ("spec", "burst", "prefer", i),
                       f"site type '{site_type}' listed twice (also at spec.burst.prefer[{seen[site_type]}])")
        seen.setdefault(site_type, i)
    fleet = report.fleet
    if not fleet.workloads or report.workloads_failed:
        return
    teams = {w.labels["team"] for w in fleet.workloads.values() if "team" in w.labels}
    for team in burst.per_team:
        if team not in teams:
            known = f"; teams in the fleet: {', '.join(sorted(teams))}" if teams else ""
            report.add("Objective", objective.name, ("spec", "burst", "per_team", team),
                       f"no workload has the label team={team}; the cap has no effect"
                       f"{_did_you_mean(team, sorted(teams))}{known}", "warning")


def _check_cost_model(report: _Report) -> None:
    """A CostModel's prices by SKU name SKUs that exist; a commitment never costs more than on demand."""
    model = report.fleet.cost_model
    spec = model.spec
    known = report.fleet.known_skus()
    tables = (("hardware", "capex_per_gpu"), ("hyperscaler", "on_demand_per_gpu_hour"),
              ("hyperscaler", "committed_per_gpu_hour"))
    for section, key in tables:
        for sku in getattr(getattr(spec, section), key):
            if sku not in known:
                hints = suggest(sku, sorted(known))
                hint = f" (did you mean {' or '.join(hints)}?)" if hints else ""
                report.add("CostModel", model.name, ("spec", section, key, sku),
                           f"unknown SKU '{sku}'{hint}; expected a catalog SKU or one of the fleet's pools")
    for sku, price in spec.hyperscaler.committed_per_gpu_hour.items():
        if price > spec.on_demand(sku):
            report.add("CostModel", model.name, ("spec", "hyperscaler", "committed_per_gpu_hour", sku),
                       f"a committed price above the on-demand one ({spec.on_demand(sku):g}) is never chosen, "
                       f"got {price:g}", "warning")
