"""Hardware attestation light (issue 14, item 5): the GPUs a site has against the GPUs it declares.

An agent lists the GPUs it finds (`nvidia-smi`, `rocm-smi`, or a probe file; agent/inventory.py)
by product name, memory and UUID. `identify` maps a product name to a catalog SKU (or to a
custom SKU the site declares); `count_found` counts them per SKU; `compare` says where the
counts differ from the Site's `spec.gpus`; `attested_fleet` plans with min(declared, found)
GPUs per SKU at the sites whose agent reported an inventory (`fleetyard server
--attested-capacity`, docs/attestation.md).

Product names as the tools print them: "NVIDIA H100 80GB HBM3" (SXM5), "NVIDIA H100 PCIe",
"NVIDIA H100 NVL" (94 GB, not in the catalog), "NVIDIA A100-SXM4-80GB", "NVIDIA A100 80GB PCIe",
"NVIDIA L40S", "NVIDIA L4", "NVIDIA A10G", "NVIDIA H200", "NVIDIA B200", "AMD Instinct MI300X".
A name no rule knows stays unrecognized: it is counted under its own name, so it shows as
hardware the site does not declare rather than silently as some catalog SKU.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from fleetyard.spec.fleet import Fleet
from fleetyard.spec.models import GpuPool, Site

__all__ = ["AttestedPool", "FoundGpu", "GpuDrift", "attested_cuts", "attested_fleet", "compare", "count_found",
           "cut_fleet", "declared_counts", "identify"]

# (pattern over the upper-cased name with '-', '_' and '/' as spaces, SKU or None: known not to be one)
_RULES: tuple[tuple[re.Pattern[str], str | None], ...] = tuple((re.compile(p), sku) for p, sku in (
    (r"\bH100\b.*\bNVL\b", None),  # 94 GB, two boards bridged: not the catalog's H100-PCIE
    (r"\bH100\b.*\bPCIE\b", "H100-PCIE"),
    (r"\bH100\b", "H100-SXM"),  # "H100 80GB HBM3" is how an SXM5 board names itself
    (r"\bGH200\b", None),
    (r"\bH200\b", "H200"),
    (r"\bB200\b", "B200"),
    (r"\bA100\b.*\b80\s?GB\b", "A100-80GB"),
    (r"\bL40S\b", "L40S"),
    (r"\bL4\b", "L4"),
    (r"\bA10G\b", "A10G"),
    (r"\bMI300X\b", "MI300X"),
))
A100_80GB_MIB = 70_000  # an A100 whose name lacks its size: 80 GB boards report ~81,920 MiB, 40 GB ~40,960


@dataclass(frozen=True)
class FoundGpu:
    """One GPU as a probe lists it (memory in MiB, None where the tool printed [N/A])."""

    name: str
    uuid: str
    memory_mib: float | None = None


def _norm(text: str) -> str:
    return re.sub(r"[-_/]", " ", text.upper())


def identify(name: str, memory_mib: float | None = None, declared: Iterable[str] = ()) -> str | None:
    """The SKU of a GPU named `name`: a catalog SKU by the rules above, else a `declared`
    SKU whose letters and digits the name contains ("RTX-4090" in "NVIDIA GeForce RTX 4090"),
    else None (unrecognized)."""
    text = _norm(name)
    for pattern, sku in _RULES:
        if pattern.search(text):
            return sku
    if re.search(r"\bA100\b", text) and memory_mib is not None and memory_mib >= A100_80GB_MIB:
        return "A100-80GB"
    squeezed = re.sub(r"[^A-Z0-9]", "", text)
    for sku in sorted(declared, key=len, reverse=True):  # the longest (most specific) first
        key = re.sub(r"[^A-Z0-9]", "", sku.upper())
        if key and key in squeezed:
            return sku
    return None


def count_found(gpus: Iterable[FoundGpu], declared: Iterable[str] = ()) -> dict[str, int]:
    """GPUs per SKU; an unrecognized GPU counts under its product name."""
    skus = list(declared)
    out: dict[str, int] = {}
    for g in gpus:
        key = identify(g.name, g.memory_mib, skus) or g.name.strip()
        out[key] = out.get(key, 0) + 1
    return dict(sorted(out.items()))


def declared_counts(site: Site) -> dict[str, int]:
    """The Site's `spec.gpus` as GPUs per SKU (pools of one SKU added up)."""
    out: dict[str, int] = {}
    for pool in site.spec.gpus:
        out[pool.sku] = out.get(pool.sku, 0) + pool.count
    return out


@dataclass(frozen=True)
class GpuDrift:
    """One SKU whose count found differs from the count declared."""

    sku: str
    declared: int
    found: int

    def describe(self) -> str:
        if self.declared == 0:
            return f"{self.sku}: {self.found} found, none declared"
        return f"{self.sku}: declared {self.declared}, found {self.found}"


def compare(declared: Mapping[str, int], found: Mapping[str, int]) -> list[GpuDrift]:
    """Every SKU whose counts differ, in SKU order (empty: the hardware is as declared)."""
    return [GpuDrift(sku, declared.get(sku, 0), found.get(sku, 0)) for sku in sorted(set(declared) | set(found))
            if declared.get(sku, 0) != found.get(sku, 0)]


@dataclass(frozen=True)
class AttestedPool:
    """A SKU at a site planned with fewer GPUs than declared, because its agent found fewer."""

    site: str
    sku: str
    declared: int
    found: int

    @property
    def planned(self) -> int:
        return min(self.declared, self.found)


def attested_cuts(sites: Mapping[str, Site], found: Mapping[str, Mapping[str, int]]) -> list[AttestedPool]:
    """Each SKU of each site in `found` (site -> GPUs per SKU its agent found) with fewer GPUs
    found than declared, in site and SKU order. Found GPUs beyond the declared ones add
    nothing: a site plans only with hardware it declares (price, power) and has."""
    cuts: list[AttestedPool] = []
    for name in sorted(found):
        site = sites.get(name)
        if site is None:
            continue
        have = found[name]
        cuts += [AttestedPool(name, sku, n, have.get(sku, 0)) for sku, n in sorted(declared_counts(site).items())
                 if have.get(sku, 0) < n]
    return cuts


def _cut_pools(site: Site, keep: Mapping[str, int]) -> list[GpuPool]:
    """The site's pools with each SKU in `keep` cut to that many GPUs (pools filled in order,
    a pool left with none dropped)."""
    left = dict(keep)
    pools: list[GpuPool] = []
    for pool in site.spec.gpus:
        take = min(pool.count, left.get(pool.sku, pool.count))
        if pool.sku in left:
            left[pool.sku] -= take
        if take:
            pools.append(pool if take == pool.count else pool.model_copy(update={"count": take}))
    return pools


def cut_fleet(fleet: Fleet, cuts: Iterable[AttestedPool]) -> Fleet:
    """`fleet` with every cut SKU offering its `planned` GPUs; a site left with none offers no
    capacity at all (it leaves the planned fleet, as a site that is down does)."""
    by_site: dict[str, dict[str, int]] = {}
    for c in cuts:
        by_site.setdefault(c.site, {})[c.sku] = c.planned
    if not by_site:
        return fleet
    sites = dict(fleet.sites)
    for name, keep in by_site.items():
        site = sites.get(name)
        if site is None:
            continue
        pools = _cut_pools(site, keep)
        if pools:
            sites[name] = site.model_copy(update={"spec": site.spec.model_copy(update={"gpus": pools})})
        else:
            del sites[name]
    return replace(fleet, sites=sites)


def attested_fleet(fleet: Fleet, found: Mapping[str, Mapping[str, int]]) -> tuple[Fleet, list[AttestedPool]]:
    """`fleet` planned with min(declared, found) GPUs per SKU at each site in `found`; sites not
    in it keep what they declare. Also the cuts made."""
    cuts = attested_cuts(fleet.sites, found)
    return cut_fleet(fleet, cuts), cuts
