"""The latency estimate (`spec.geo`) and the built-in GPU catalog (`spec.catalog`)."""

from __future__ import annotations

import math

import pytest

from fleetyard.spec import CATALOG, SERVER_POWER_FACTOR, Fleet, Region, Site
from fleetyard.spec.catalog import lookup, suggest
from fleetyard.spec.geo import (
    BASE_RTT_MS,
    FIBRE_KM_PER_MS,
    ROUTE_FACTOR,
    estimated_rtt_ms,
    great_circle_km,
    is_measured,
    rtt_ms,
)
from fleetyard.spec.models import Location

FRANKFURT = Location(lat=50.11, lon=8.68)
PARIS = Location(lat=48.86, lon=2.35)
ASHBURN_VA = Location(lat=39.04, lon=-77.49)


def _region(name: str, loc: Location) -> Region:
    return Region.model_validate(
        {
            "apiVersion": "fleetyard/v1",
            "kind": "Region",
            "metadata": {"name": name},
            "spec": {"location": loc.model_dump()},
        }
    )


def _site(loc: Location, latency_ms: dict[str, float] | None = None) -> Site:
    return Site.model_validate(
        {
            "apiVersion": "fleetyard/v1",
            "kind": "Site",
            "metadata": {"name": "fra-1"},
            "spec": {
                "type": "small-dc",
                "country": "DE",
                "location": loc.model_dump(),
                "gpus": [{"sku": "H100-SXM", "count": 8}],
                "power": {"it_capacity_kw": 20},
                "energy": {"price_per_kwh": 0.2, "carbon_g_per_kwh": 300},
                "latency_ms": latency_ms or {},
            },
        }
    )


# --- geo -----------------------------------------------------------------------------------


def test_the_documented_constants():
    assert (BASE_RTT_MS, FIBRE_KM_PER_MS, ROUTE_FACTOR) == (2.0, 200.0, 1.5)


def test_frankfurt_paris_matches_the_docstring():
    assert great_circle_km(FRANKFURT, PARIS) == pytest.approx(478, abs=5)
    assert estimated_rtt_ms(FRANKFURT, PARIS) == pytest.approx(9.2, abs=0.05)


def test_frankfurt_virginia_matches_the_docstring():
    # docstring: "6,500 km: 99.5 ms" - a round distance; Ashburn is ~6,550 km away
    km = great_circle_km(FRANKFURT, ASHBURN_VA)
    assert km == pytest.approx(6500, rel=0.02)
    assert estimated_rtt_ms(FRANKFURT, ASHBURN_VA) == pytest.approx(
        2.0 + 2 * km * 1.5 / 200, rel=1e-9
    )
    assert estimated_rtt_ms(FRANKFURT, ASHBURN_VA) == pytest.approx(99.5, abs=1.0)


def test_the_formula_is_base_plus_round_trip_over_the_longer_route():
    for a, b in ((FRANKFURT, PARIS), (PARIS, ASHBURN_VA), (FRANKFURT, FRANKFURT)):
        km = great_circle_km(a, b)
        assert estimated_rtt_ms(a, b) == pytest.approx(
            BASE_RTT_MS + 2 * km * ROUTE_FACTOR / FIBRE_KM_PER_MS
        )


def test_distance_is_symmetric_zero_at_one_point_and_half_the_earth_at_most():
    assert great_circle_km(FRANKFURT, PARIS) == pytest.approx(great_circle_km(PARIS, FRANKFURT))
    assert great_circle_km(FRANKFURT, FRANKFURT) == 0.0
    assert estimated_rtt_ms(FRANKFURT, FRANKFURT) == BASE_RTT_MS
    antipode = great_circle_km(Location(lat=0, lon=0), Location(lat=0, lon=180))
    assert antipode == pytest.approx(math.pi * 6371.0, rel=1e-9)
    # across the antimeridian is a short hop, not around the world
    assert great_circle_km(
        Location(lat=0, lon=179.5), Location(lat=0, lon=-179.5)
    ) == pytest.approx(111.2, abs=0.5)


def test_a_measured_latency_overrides_the_estimate():
    region = _region("eu-west", PARIS)
    measured = _site(FRANKFURT, {"eu-west": 30})
    assert rtt_ms(measured, region) == 30.0 and is_measured(measured, region)
    zero = _site(FRANKFURT, {"eu-west": 0})  # 0 is a measurement, not "missing"
    assert rtt_ms(zero, region) == 0.0 and is_measured(zero, region)
    estimated = _site(FRANKFURT, {"eu-central": 1})
    assert not is_measured(estimated, region)
    assert rtt_ms(estimated, region) == round(estimated_rtt_ms(FRANKFURT, PARIS), 1) == 9.2


def test_the_estimate_is_rounded_to_a_tenth_of_a_millisecond():
    value = rtt_ms(_site(FRANKFURT), _region("us-east", ASHBURN_VA))
    assert value == round(value, 1) and value == pytest.approx(
        estimated_rtt_ms(FRANKFURT, ASHBURN_VA), abs=0.05
    )


# --- catalog -------------------------------------------------------------------------------

DESIGN_SKUS = [
    ("H100-SXM", 80, 700),
    ("H100-PCIE", 80, 350),
    ("H200", 141, 700),
    ("B200", 180, 1000),
    ("A100-80GB", 80, 400),
    ("L40S", 48, 350),
    ("L4", 24, 72),
    ("A10G", 24, 150),
    ("MI300X", 192, 750),
]


@pytest.mark.parametrize(
    ("sku", "memory_gb", "tdp_w"), DESIGN_SKUS, ids=[s for s, _, _ in DESIGN_SKUS]
)
def test_the_catalog_knows_the_skus_of_the_design(sku, memory_gb, tdp_w):
    model = lookup(sku)
    assert model is not None and model is CATALOG[sku]
    assert (model.sku, model.memory_gb, model.tdp_w) == (sku, memory_gb, tdp_w)
    assert model.vendor == ("AMD" if sku == "MI300X" else "NVIDIA")


def test_the_catalog_holds_at_least_the_design_skus():
    assert {s for s, _, _ in DESIGN_SKUS} <= set(CATALOG)
    assert lookup("h100-sxm") is None  # names are exact; `suggest` forgives case


def test_replica_power_defaults_to_gpus_times_tdp_times_the_server_factor():
    assert SERVER_POWER_FACTOR == 1.8
    from fleetyard.spec import Workload

    site = _site(FRANKFURT)
    workload = Workload.model_validate(
        {
            "apiVersion": "fleetyard/v1",
            "kind": "Workload",
            "metadata": {"name": "w"},
            "spec": {"type": "batch", "model": "m:1", "replica": {"gpus": 8}},
        }
    )
    fleet = Fleet.of([site, workload])
    assert fleet.replica_power_kw(workload, site.spec.gpus[0]) == pytest.approx(
        8 * 700 * 1.8 / 1000
    )  # 10.08 kW
    explicit = workload.model_copy(
        update={
            "spec": workload.spec.model_copy(
                update={"replica": workload.spec.replica.model_copy(update={"power_kw": 10.2})}
            )
        }
    )
    assert fleet.replica_power_kw(explicit, site.spec.gpus[0]) == 10.2


@pytest.mark.parametrize(
    ("typed", "first"),
    [
        ("H100-SMX", "H100-SXM"),
        ("h100-sxm", "H100-SXM"),
        ("h200", "H200"),
        ("mi300", "MI300X"),
        ("L40", "L40S"),
        ("l4", "L4"),
        ("b2OO", "B200"),
    ],
)
def test_suggest_puts_the_intended_sku_first(typed, first):
    hints = suggest(typed)
    assert hints[0] == first
    assert 1 <= len(hints) <= 3 and len(set(hints)) == len(hints)
    assert set(hints) <= set(CATALOG)


def test_suggest_offers_nothing_for_nonsense():
    assert suggest("zzz") == []
    assert suggest("quantum") == []


def test_suggest_finds_the_family_of_a_prefix():
    assert {"H100-SXM", "H100-PCIE"} <= set(suggest("h100"))
    assert "A100-80GB" in suggest("a100")


def test_suggest_within_a_given_list_of_names():
    assert suggest("H100-SXM", ["H200"]) == ["H200"]
    assert suggest("GAUDI", ["GAUDI3", "H100-SXM"]) == ["GAUDI3"]


def test_suggest_names_a_mixed_case_sku_once():
    assert suggest("gaudi", ["Gaudi3", "H100-SXM"]) == ["Gaudi3"]


@pytest.mark.parametrize(("typed", "first"), [("A100", "A100-80GB"), ("H100", "H100-SXM")])
def test_suggest_ranks_the_typed_family_first(typed, first):
    assert suggest(typed)[0] == first
