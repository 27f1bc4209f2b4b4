"""Residency: a site is allowed only if every Policy that selects the workload allows it."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from fleetyard.placement.context import BoolArray
from fleetyard.placement.framework import Context, Reason
from fleetyard.spec.models import Policy, Workload

COUNTRY_NOT_ALLOWED = "policy.country-not-allowed"
COUNTRY_DENIED = "policy.country-denied"
SITE_TYPE_NOT_ALLOWED = "policy.site-type-not-allowed"
SITE_TYPE_DENIED = "policy.site-type-denied"
SITE_NOT_ALLOWED = "policy.site-not-allowed"
SITE_DENIED = "policy.site-denied"


def _site_reasons(p: Policy, name: str, country: str, site_type: str) -> list[Reason]:
    allowed, denied, out = p.spec.allowed, p.spec.denied, []
    if allowed.countries is not None and country not in allowed.countries:
        out.append(Reason(COUNTRY_NOT_ALLOWED, f"country {country} not allowed by policy {p.name}",
                          f"country not allowed by policy {p.name}"))
    if denied.countries and country in denied.countries:
        out.append(Reason(COUNTRY_DENIED, f"country {country} denied by policy {p.name}",
                          f"country denied by policy {p.name}"))
    if allowed.site_types is not None and site_type not in allowed.site_types:
        out.append(Reason(SITE_TYPE_NOT_ALLOWED, f"site type {site_type} not allowed by policy {p.name}",
                          f"site type not allowed by policy {p.name}"))
    if denied.site_types and site_type in denied.site_types:
        out.append(Reason(SITE_TYPE_DENIED, f"site type {site_type} denied by policy {p.name}",
                          f"site type denied by policy {p.name}"))
    if allowed.sites is not None and name not in allowed.sites:
        out.append(Reason(SITE_NOT_ALLOWED, f"site {name} not in the allowed sites of policy {p.name}",
                          f"site not allowed by policy {p.name}"))
    if denied.sites and name in denied.sites:
        out.append(Reason(SITE_DENIED, f"site {name} denied by policy {p.name}",
                          f"site denied by policy {p.name}"))
    return out


class Residency:
    name: ClassVar[str] = "residency"

    def check(self, ctx: Context, w: Workload, pool: int) -> list[Reason]:
        c = ctx.compiled
        s = int(c.pool_site[pool])
        out: list[Reason] = []
        for p in c.fleet.policies_for(w):
            out.extend(_site_reasons(p, c.site_names[s], c.site_country[s], c.site_type[s]))
        return out

    def mask(self, ctx: Context, w: Workload) -> BoolArray:
        c = ctx.compiled
        policies = tuple(p.name for p in c.fleet.policies_for(w))
        key = ("residency", policies)
        cached = ctx.memo.get(key)
        if cached is None:
            ok = np.ones(c.n_sites, dtype=bool)
            for p in c.fleet.policies_for(w):
                ok &= _policy_site_mask(ctx, p)
            cached = ok[c.pool_site]
            ctx.memo[key] = cached
        return cached


def _policy_site_mask(ctx: Context, p: Policy) -> BoolArray:
    c = ctx.compiled
    allowed, denied = p.spec.allowed, p.spec.denied
    ok = np.ones(c.n_sites, dtype=bool)
    country = np.array(c.site_country)
    stype = np.array(c.site_type)
    names = np.array(c.site_names)
    if allowed.countries is not None:
        ok &= np.isin(country, allowed.countries)
    if denied.countries:
        ok &= ~np.isin(country, denied.countries)
    if allowed.site_types is not None:
        ok &= np.isin(stype, allowed.site_types)
    if denied.site_types:
        ok &= ~np.isin(stype, denied.site_types)
    if allowed.sites is not None:
        ok &= np.isin(names, allowed.sites)
    if denied.sites:
        ok &= ~np.isin(names, denied.sites)
    return ok
