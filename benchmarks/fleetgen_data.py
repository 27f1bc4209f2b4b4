"""Public figures and small helpers for the synthetic fleet generator (see fleetgen.py)."""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fleetyard.spec.models import API_VERSION

Doc = dict[str, Any]


@dataclass(frozen=True)
class Metro:
    name: str
    code: str
    lat: float
    lon: float
    country: str
    continent: str  # eu | na | ap
    grid: str  # key into GRID
    weight: float  # relative data-centre market size (est.)
    hub: bool = False  # a hyperscaler region is here


METROS: tuple[Metro, ...] = (
    Metro("frankfurt", "fra", 50.11, 8.68, "DE", "eu", "DE", 3.0, True),
    Metro("london", "lon", 51.51, -0.13, "GB", "eu", "GB", 3.0, True),
    Metro("amsterdam", "ams", 52.37, 4.90, "NL", "eu", "NL", 3.0),
    Metro("paris", "par", 48.86, 2.35, "FR", "eu", "FR", 2.5, True),
    Metro("dublin", "dub", 53.35, -6.26, "IE", "eu", "IE", 2.0, True),
    Metro("stockholm", "sto", 59.33, 18.07, "SE", "eu", "SE", 1.5, True),
    Metro("helsinki", "hel", 60.17, 24.94, "FI", "eu", "FI", 1.0),
    Metro("oslo", "osl", 59.91, 10.75, "NO", "eu", "NO", 1.0),
    Metro("munich", "muc", 48.14, 11.58, "DE", "eu", "DE", 1.0),
    Metro("berlin", "ber", 52.52, 13.40, "DE", "eu", "DE", 1.0),
    Metro("madrid", "mad", 40.42, -3.70, "ES", "eu", "ES", 1.2),
    Metro("milan", "mil", 45.46, 9.19, "IT", "eu", "IT", 1.2),
    Metro("warsaw", "waw", 52.23, 21.01, "PL", "eu", "PL", 1.0),
    Metro("zurich", "zrh", 47.37, 8.54, "CH", "eu", "CH", 1.0),
    Metro("vienna", "vie", 48.21, 16.37, "AT", "eu", "AT", 0.8),
    Metro("brussels", "bru", 50.85, 4.35, "BE", "eu", "BE", 0.8),
    Metro("copenhagen", "cph", 55.68, 12.57, "DK", "eu", "DK", 0.8),
    Metro("marseille", "mrs", 43.30, 5.37, "FR", "eu", "FR", 0.7),
    Metro("ashburn", "iad", 39.04, -77.49, "US", "na", "US-VA", 4.0, True),
    Metro("new-york", "nyc", 40.71, -74.01, "US", "na", "US-NY", 2.5),
    Metro("chicago", "chi", 41.88, -87.63, "US", "na", "US-IL", 2.0),
    Metro("dallas", "dfw", 32.78, -96.80, "US", "na", "US-TX", 2.0, True),
    Metro("silicon-valley", "sjc", 37.37, -121.92, "US", "na", "US-CA", 2.5, True),
    Metro("hillsboro", "pdx", 45.52, -122.99, "US", "na", "US-OR", 1.5, True),
    Metro("seattle", "sea", 47.61, -122.33, "US", "na", "US-WA", 1.0),
    Metro("los-angeles", "lax", 34.05, -118.24, "US", "na", "US-CA", 1.2),
    Metro("atlanta", "atl", 33.75, -84.39, "US", "na", "US-GA", 1.2),
    Metro("phoenix", "phx", 33.45, -112.07, "US", "na", "US-AZ", 1.2),
    Metro("des-moines", "dsm", 41.59, -93.62, "US", "na", "US-IA", 0.8),
    Metro("columbus", "cmh", 39.96, -83.00, "US", "na", "US-OH", 1.0, True),
    Metro("toronto", "yyz", 43.65, -79.38, "CA", "na", "CA-ON", 1.0),
    Metro("montreal", "yul", 45.50, -73.57, "CA", "na", "CA-QC", 1.0, True),
    Metro("tokyo", "tyo", 35.68, 139.69, "JP", "ap", "JP", 3.0, True),
    Metro("osaka", "osa", 34.69, 135.50, "JP", "ap", "JP", 1.0),
    Metro("singapore", "sin", 1.35, 103.82, "SG", "ap", "SG", 2.5, True),
    Metro("sydney", "syd", -33.87, 151.21, "AU", "ap", "AU", 2.0, True),
    Metro("melbourne", "mel", -37.81, 144.96, "AU", "ap", "AU", 1.0),
    Metro("seoul", "sel", 37.57, 126.98, "KR", "ap", "KR", 1.5, True),
    Metro("mumbai", "bom", 19.08, 72.88, "IN", "ap", "IN", 1.5, True),
    Metro("hong-kong", "hkg", 22.32, 114.17, "HK", "ap", "HK", 1.0),
)

CONTINENT_SHARE = {"eu": 0.45, "na": 0.35, "ap": 0.20}

# Industrial electricity in USD/kWh and annual grid intensity in gCO2/kWh.
# EUR converted at 1.08 USD/EUR. REFERENCE.md: DE 0.17-0.20 EUR (Bundesnetzagentur/SMARD),
# EU non-household average 0.19 EUR (Eurostat H2 2024), FI ~0.09 EUR; US 0.07-0.09 (EIA;
# IA 6.8c, OH 7.1c, IL 9.0c); intensities from Ember / Electricity Maps: DE 380, NL 330,
# IE 290, FR 55, SE 25-45, FI 70, NO 30, US 370 (VA 370, TX 400, OR 110-150), SG 470,
# JP 460, AU 550. Entries marked est. are not in REFERENCE.md: EU-average price where a
# country's own tariff is missing, Nordic-like prices for SE/NO, and rough intensities.
GRID: dict[str, tuple[float, float]] = {
    "DE": (0.19, 380),
    "NL": (0.205, 330),
    "IE": (0.205, 290),
    "FR": (0.205, 55),
    "SE": (0.10, 35),  # price est.
    "FI": (0.097, 70),
    "NO": (0.08, 30),  # price est.
    "GB": (0.25, 200),  # est.
    "ES": (0.205, 150),  # intensity est.
    "IT": (0.205, 330),  # intensity est.
    "PL": (0.205, 650),  # intensity est.
    "CH": (0.205, 40),  # est.
    "AT": (0.205, 100),  # intensity est.
    "BE": (0.205, 150),  # intensity est.
    "DK": (0.205, 150),  # intensity est.
    "US-VA": (0.08, 370),
    "US-NY": (0.08, 370),  # state est.: US range and average
    "US-IL": (0.09, 370),
    "US-TX": (0.07, 400),
    "US-CA": (0.09, 370),  # state est.
    "US-OR": (0.07, 130),
    "US-WA": (0.07, 120),  # est., hydro-heavy like OR
    "US-GA": (0.08, 370),  # state est.
    "US-AZ": (0.08, 370),  # state est.
    "US-IA": (0.068, 370),
    "US-OH": (0.071, 370),
    "CA-ON": (0.09, 40),  # est.
    "CA-QC": (0.06, 5),  # est., hydro
    "JP": (0.15, 460),  # price est. (~23 JPY/kWh)
    "SG": (0.19, 470),  # price est.
    "AU": (0.12, 550),  # price est.
    "KR": (0.11, 420),  # est.
    "IN": (0.09, 700),  # est.
    "HK": (0.13, 600),  # est.
}

EU_EEA = [
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IS",
    "IT",
    "LI",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "NO",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
]
APAC_RESIDENT = ["JP", "SG", "AU", "KR"]

AMORTIZATION_HOURS = 4.5 * 8760  # 39,420 h
# All-in cost per owned GPU in USD (server share included). H100 $47-52k (REFERENCE.md);
# the others scale from the purchase prices there (H200 ~$32k vs H100 ~$30k, A100 ~$15k,
# MI300X ~$15k) or are est.
ALL_IN_USD = {
    "H100-SXM": 50_000,
    "H200": 52_000,
    "B200": 65_000,
    "A100-80GB": 30_000,
    "H100-PCIE": 40_000,
    "MI300X": 32_000,
    "L40S": 15_000,
    "L4": 5_000,
}
# Hyperscaler on-demand rent per GPU-hour (REFERENCE.md: H100 ~$6.9 est., H200 p5e $5.41,
# A10G ~$1.0-1.3, L4 ~$0.8 est.).
CLOUD_PRICE = {"H100-SXM": 6.90, "H200": 5.41, "A10G": 1.01, "L4": 0.80}
OWNED_SKUS = ("H100-SXM", "H200", "B200", "A100-80GB", "L40S", "H100-PCIE", "MI300X")
OWNED_WEIGHTS = (0.30, 0.12, 0.06, 0.15, 0.20, 0.07, 0.10)
TEAMS = (
    "search",
    "support",
    "devtools",
    "voice",
    "vision",
    "research",
    "ads",
    "risk",
    "docs",
    "recsys",
)
TIER = {10: "best-effort", 100: "internal", 500: "production", 1000: "critical"}
SLOS = (20, 30, 40, 60, 80, 100, 150)
SLO_WEIGHTS = (0.08, 0.12, 0.2, 0.2, 0.15, 0.13, 0.12)
GANG_SHARE_CAP = 0.45


def make_doc(kind: str, name: str, spec: Doc, labels: dict[str, str] | None = None) -> Doc:
    meta: Doc = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": meta, "spec": spec}


def weighted_sample(rng: random.Random, items: Sequence[Metro], k: int) -> list[Metro]:
    """k distinct items, heavier ones more likely (Efraimidis-Spirakis keys)."""
    keyed = sorted(items, key=lambda m: -(rng.random() ** (1.0 / m.weight)))
    return keyed[:k]


def pick_cum(rng: random.Random, cum: list[float], items: Sequence[Any]) -> Any:
    return items[bisect.bisect_right(cum, rng.random() * cum[-1])]


def weighted_choice(rng: random.Random, items: Sequence[Any], weights: Sequence[float]) -> Any:
    return pick_cum(rng, list(itertools.accumulate(weights)), items)


def dist_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(h)))


def n_regions(sites: int) -> int:
    return max(8, min(40, 8 + sites // 30))


def choose_metros(rng: random.Random, n: int) -> list[Metro]:
    out: list[Metro] = []
    left = n
    for i, (cont, share) in enumerate(CONTINENT_SHARE.items()):
        pool = [m for m in METROS if m.continent == cont]
        k = left if i == len(CONTINENT_SHARE) - 1 else min(len(pool), max(2, round(n * share)))
        k = min(k, len(pool))
        out.extend(weighted_sample(rng, pool, k))
        left -= k
    return out
