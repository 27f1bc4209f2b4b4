"""Latency between user regions and sites: measured where the site says, else estimated.

The estimate is a round-trip time from the great-circle distance: light in fibre
covers ~200 km per ms one way, real routes are 1.3-2x longer than the great circle
(we take 1.5), plus a constant 2 ms for last-mile, switching and serialisation.

    rtt_ms = 2.0 + 2 * distance_km * 1.5 / 200
    (Frankfurt-Paris, 480 km: 9.2 ms; Frankfurt-Virginia, 6,500 km: 99.5 ms)
"""

from __future__ import annotations

import math

from fleetyard.spec.models import Location, Region, Site

EARTH_RADIUS_KM = 6371.0
FIBRE_KM_PER_MS = 200.0
ROUTE_FACTOR = 1.5
BASE_RTT_MS = 2.0


def great_circle_km(a: Location, b: Location) -> float:
    """Haversine distance on a spherical Earth."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def estimated_rtt_ms(a: Location, b: Location) -> float:
    return BASE_RTT_MS + 2 * great_circle_km(a, b) * ROUTE_FACTOR / FIBRE_KM_PER_MS


def rtt_ms(site: Site, region: Region) -> float:
    """The site's measured RTT to the region if given, else the estimate (rounded to 0.1 ms)."""
    measured = site.spec.latency_ms.get(region.name)
    if measured is not None:
        return float(measured)
    return round(estimated_rtt_ms(site.spec.location, region.spec.location), 1)


def is_measured(site: Site, region: Region) -> bool:
    return region.name in site.spec.latency_ms
