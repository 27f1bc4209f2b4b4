"""Showback as a FinOps FOCUS 1.0 dataset (FinOps Open Cost and Usage Specification).

One charge row per (workload, site, SKU, UTC day, cost component): GPU rent (GPU-Hours),
facility energy (kWh), carbon at the Objective's carbon price (kg CO2e) and egress (GB).
Daily, not hourly: a month of a 100-site fleet stays a file a spreadsheet opens, and
the hourly detail is in `fleetyard cost --format json|csv` by any key. A day cut by the
period's start or end is charged over the part inside it.

Every charge is internal showback, so BilledCost = EffectiveCost = ListCost =
ContractedCost (no discounts, no commitments: the Commitment* columns are null); the
provider, publisher and invoice issuer are fleetyard; the sub-account is the team; the
region is the site; the resource is the workload at that site and SKU; `Tags` is the
JSON of the workload's labels. The column names are FOCUS 1.0's (ProviderName,
PublisherName, InvoiceIssuerName, ResourceId); the `focus-validator` 1.0.0 still checks
the 1.0-preview names (Provider, Publisher, InvoiceIssuer, ResourceID, and ChargeType for
ChargeCategory), so those are written too, with the same values. Columns of our own carry
the `x_` prefix FOCUS asks for.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TextIO

import numpy as np

from fleetyard.energy.pricing import Priced
from fleetyard.energy.usage import HOUR_S
from fleetyard.spec.fleet import Fleet
from fleetyard.spec.trace import epoch, format_time

__all__ = ["FOCUS_COLUMNS", "focus_rows", "write_focus"]

FOCUS_COLUMNS = (
    "AvailabilityZone", "BilledCost", "BillingAccountId", "BillingAccountName", "BillingCurrency",
    "BillingPeriodEnd", "BillingPeriodStart", "ChargeCategory", "ChargeClass", "ChargeDescription",
    "ChargeFrequency", "ChargePeriodEnd", "ChargePeriodStart", "CommitmentDiscountCategory",
    "CommitmentDiscountId", "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType",
    "ConsumedQuantity", "ConsumedUnit", "ContractedCost", "ContractedUnitPrice", "EffectiveCost",
    "InvoiceIssuerName", "ListCost", "ListUnitPrice", "PricingCategory", "PricingQuantity", "PricingUnit",
    "ProviderName", "PublisherName", "RegionId", "RegionName", "ResourceId", "ResourceName", "ResourceType",
    "ServiceCategory", "ServiceName", "SkuId", "SkuPriceId", "SubAccountId", "SubAccountName", "Tags",
    # the names focus-validator 1.0.0 checks (FOCUS 1.0-preview), same values
    "ChargeType", "Provider", "Publisher", "InvoiceIssuer", "ResourceID",
    # ours
    "x_Site", "x_Workload", "x_GpuSku", "x_CarbonKg",
)
DAY_S = 86_400
ISSUER = "fleetyard"
_COMPONENTS = (
    # cost attribute, quantity attribute, unit, SKU id, service category, service name
    ("gpu_rent", "gpu_hours", "GPU-Hours", None, "AI and Machine Learning", "GPU compute"),
    ("energy_cost", "kwh", "kWh", "facility-energy", "Other", "Facility energy"),
    ("carbon_cost", "carbon_kg", "kg CO2e", "carbon", "Other", "Carbon (internal price)"),
    ("egress_cost", "egress_gb", "GB", "egress", "Networking", "Data transfer"),
)


def _num(v: float) -> str:
    return f"{v:.10g}"


def focus_rows(fleet: Fleet, priced: Priced) -> Iterator[dict[str, str]]:
    """The FOCUS charge rows of priced usage, in (day, workload, site, SKU, component) order."""
    u = priced.usage
    if len(u) == 0:
        return
    start_s, end_s = epoch(u.start), epoch(u.end)
    day0 = start_s - start_s % DAY_S
    day = (u.hour_s - day0) // DAY_S
    n_s, n_k = len(u.sites), len(u.skus)
    code = ((day * len(u.workloads) + u.workload) * n_s + u.site) * n_k + u.sku
    groups, inverse = np.unique(code, return_inverse=True)
    columns = {"gpu_hours": u.gpu_hours, "kwh": priced.kwh, "carbon_kg": priced.carbon_kg,
               "egress_gb": priced.egress_gb, "gpu_rent": priced.gpu_rent, "energy_cost": priced.energy_cost,
               "carbon_cost": priced.carbon_cost, "egress_cost": priced.egress_cost}
    sums = {k: np.bincount(inverse, weights=v, minlength=groups.size) for k, v in columns.items()}
    billing = {"BillingPeriodStart": format_time(u.start), "BillingPeriodEnd": format_time(u.end)}
    for g, c in enumerate(groups.tolist()):
        k = c % n_k
        s = (c // n_k) % n_s
        w = (c // (n_k * n_s)) % len(u.workloads)
        d = c // (n_k * n_s * len(u.workloads))
        yield from _charges(fleet, priced, u.workloads[w], u.sites[s], u.skus[k],
                            max(start_s, day0 + d * DAY_S), min(end_s, day0 + (d + 1) * DAY_S),
                            {key: float(v[g]) for key, v in sums.items()}, billing)


def _charges(fleet: Fleet, priced: Priced, workload: str, site: str, sku: str, t0: int, t1: int,
             amounts: dict[str, float], billing: dict[str, str]) -> Iterator[dict[str, str]]:
    w = fleet.workloads.get(workload)
    labels = dict(w.labels) if w is not None else {}
    team = labels.get("team", "")
    spec = fleet.sites.get(site)
    region = f"{site} ({spec.spec.country}, {spec.spec.type})" if spec is not None else site
    resource = f"{site}/{workload}/{sku}"
    start = format_time(datetime.fromtimestamp(t0, tz=UTC))
    end = format_time(datetime.fromtimestamp(t1, tz=UTC))
    hours = (t1 - t0) / HOUR_S
    for cost_key, qty_key, unit, sku_id, category, service in _COMPONENTS:
        cost, qty = amounts[cost_key], amounts[qty_key]
        if cost == 0.0 and qty == 0.0:
            continue
        sku_id = sku_id or sku
        unit_price = _num(cost / qty) if qty > 0 else ""
        dynamic = cost_key in ("energy_cost", "carbon_cost") and site in priced.traced_sites
        desc = (f"{service}: {workload} on {sku} at {site}, {hours:g} h"
                + (f", {amounts['gpu_hours']:g} GPU-hours" if cost_key == "gpu_rent" else ""))
        qty_text = _num(qty)
        yield {
            "AvailabilityZone": "", "BilledCost": _num(cost), "BillingAccountId": ISSUER,
            "BillingAccountName": "fleetyard showback", "BillingCurrency": "USD", **billing,
            "ChargeCategory": "Usage", "ChargeClass": "", "ChargeDescription": desc,
            "ChargeFrequency": "Usage-Based", "ChargePeriodEnd": end, "ChargePeriodStart": start,
            "CommitmentDiscountCategory": "", "CommitmentDiscountId": "", "CommitmentDiscountName": "",
            "CommitmentDiscountStatus": "", "CommitmentDiscountType": "",
            "ConsumedQuantity": qty_text, "ConsumedUnit": unit, "ContractedCost": _num(cost),
            "ContractedUnitPrice": unit_price, "EffectiveCost": _num(cost), "InvoiceIssuerName": ISSUER,
            "ListCost": _num(cost), "ListUnitPrice": unit_price,
            "PricingCategory": "Dynamic" if dynamic else "Standard", "PricingQuantity": qty_text,
            "PricingUnit": unit, "ProviderName": ISSUER, "PublisherName": ISSUER,
            "RegionId": site, "RegionName": region, "ResourceId": resource, "ResourceName": workload,
            "ResourceType": w.spec.type if w is not None else "workload",
            "ServiceCategory": category, "ServiceName": service, "SkuId": sku_id,
            "SkuPriceId": f"{site}:{sku_id}", "SubAccountId": f"team:{team}" if team else "",
            "SubAccountName": team, "Tags": json.dumps(labels, sort_keys=True),
            "ChargeType": "Usage", "Provider": ISSUER, "Publisher": ISSUER, "InvoiceIssuer": ISSUER,
            "ResourceID": resource,
            "x_Site": site, "x_Workload": workload, "x_GpuSku": sku,
            "x_CarbonKg": _num(amounts["carbon_kg"]) if cost_key == "energy_cost" else "",
        }


def write_focus(fleet: Fleet, priced: Priced, out: TextIO) -> int:
    """Write the dataset as CSV (header + rows); the number of charge rows."""
    writer = csv.DictWriter(out, fieldnames=FOCUS_COLUMNS, lineterminator="\n")
    writer.writeheader()
    n = 0
    for row in focus_rows(fleet, priced):
        writer.writerow(row)
        n += 1
    return n
