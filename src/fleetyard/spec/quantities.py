"""Plausible ranges for the physical and money quantities of format v1.

A typo or a hostile file (`price_per_kwh: 1.0e+308`) used to validate and then overflow
in the optimizer: a plan with warnings and a null cost. Every number of the format now
has an upper bound, chosen generously - 10 to 1,000 times the largest real figure (the
public figures in REFERENCE.md, cited below) - so that no real fleet meets one while
nonsense is a validation error that names the field. Lower bounds are the ones the
format always had. Infinity and NaN are refused everywhere (`allow_inf_nan=False` on
every model). The table in docs/specs.md lists the same ranges; a test keeps the two
in step.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

MAX_GPUS = 1_000_000
"""GPUs in one pool or one replica, servers in one fabric domain, replicas of one
workload. The largest single clusters announced hold 100,000-200,000 GPUs (est.)."""

MAX_GPUS_PER_SERVER = 1_024
"""GPUs in one server (or one NVLink domain counted as a server): HGX boards hold 8, a
GB200 NVL72 rack 72."""

MAX_SITES = 100_000
"""Sites a workload spreads over (`spread.min_sites`, `max_sites`)."""

MAX_PRICE_PER_GPU_HOUR = 1_000.0
"""$/GPU-hour, rent or amortized: an H100 is ~$2-7 on demand, a B200 ~$7."""

MAX_PRICE_PER_KWH = 100.0
"""$/kWh: industrial power is $0.07-0.20 (EIA, Eurostat); the EU day-ahead market's price
cap is ~4 €/kWh (est.)."""

MAX_CARBON_G_PER_KWH = 2_000.0
"""gCO2/kWh: grid averages reach ~550 (Australia); a lignite plant emits ~1,100-1,200
(est.)."""

MAX_EGRESS_PRICE_PER_GB = 100.0
"""$/GB: hyperscaler internet egress is $0.05-0.12."""

MAX_CARBON_PRICE_PER_TONNE = 10_000.0
"""$/tCO2: the example fleet prices carbon at 80, near the EU ETS; the highest social-cost
estimates are ~1,000 (est.)."""

MAX_SPEND_PER_HOUR = 1e9
"""$/hour for burst caps: the 16-site example fleet costs ~$420/h."""

MAX_POWER_KW = 10_000_000.0
"""kW of a site's IT feed or cooling, or of one replica: the largest campuses announced are
1-5 GW (est.); a rack is ~12 kW on average, a GB200 NVL72 rack ~120 kW."""

MAX_PUE = 3.0
"""Power usage effectiveness: the industry average is 1.56-1.58 (Uptime Institute), old
colocation 1.4-1.6; no working facility spends twice its IT power again on overhead."""

MAX_GPU_MEMORY_GB = 100_000.0
"""GB per GPU (or per custom accelerator): an MI300X has 192, a B200 180."""

MAX_TDP_W = 100_000.0
"""Watts per GPU (or per custom accelerator): a B200 draws 1,000 W; a wafer-scale system
~23,000 W (est.)."""

MAX_GBPS = 1_000_000.0
"""Gb/s of a site's uplink or of one server's scale-out fabric: a server has 8 x 400 Gb/s
of NICs (3,200); a big site's uplinks total a few Tb/s (est.)."""

MAX_LATENCY_MS = 100_000.0
"""Milliseconds of round trip (measured, or an SLO): half the Earth's circumference at
~200 km per ms and a route factor of 2 is ~200 ms; a geostationary satellite hop ~600 ms
(est.)."""

MAX_RPS = 10_000_000.0
"""Requests/s of demand per region, or served by one replica: the busiest public APIs
answer ~10^5-10^6 requests/s in total (est.)."""

MAX_GB_PER_HOUR = 1_000_000.0
"""GB/hour a workload reads from one data site (~2.2 Tb/s)."""

MAX_PREMIUM_PER_GPU_HOUR = MAX_PRICE_PER_GPU_HOUR
"""$/GPU-hour of the burst preference premium: it is compared with GPU prices."""

# -- the types the models use -----------------------------------------------------------------

GpuPrice = Annotated[float, Field(ge=0, le=MAX_PRICE_PER_GPU_HOUR)]
EnergyPrice = Annotated[float, Field(ge=0, le=MAX_PRICE_PER_KWH)]
CarbonIntensity = Annotated[float, Field(ge=0, le=MAX_CARBON_G_PER_KWH)]
EgressPrice = Annotated[float, Field(ge=0, le=MAX_EGRESS_PRICE_PER_GB)]
CarbonPrice = Annotated[float, Field(ge=0, le=MAX_CARBON_PRICE_PER_TONNE)]
Spend = Annotated[float, Field(ge=0, le=MAX_SPEND_PER_HOUR)]
Premium = Annotated[float, Field(ge=0, le=MAX_PREMIUM_PER_GPU_HOUR)]
PowerKw = Annotated[float, Field(gt=0, le=MAX_POWER_KW)]
GpuMemoryGb = Annotated[float, Field(gt=0, le=MAX_GPU_MEMORY_GB)]
TdpW = Annotated[float, Field(gt=0, le=MAX_TDP_W)]
Gbps = Annotated[float, Field(gt=0, le=MAX_GBPS)]
LatencyMs = Annotated[float, Field(ge=0, le=MAX_LATENCY_MS)]
LatencySloMs = Annotated[float, Field(gt=0, le=MAX_LATENCY_MS)]
Demand = Annotated[float, Field(ge=0, le=MAX_RPS)]
RpsPerReplica = Annotated[float, Field(gt=0, le=MAX_RPS)]
DataRate = Annotated[float, Field(ge=0, le=MAX_GB_PER_HOUR)]

# -- the CostModel resource (issue 11, TCO; spec/costmodel_spec.py) ---------------------------

MAX_YEARS = 100
"""Years of amortization: servers are written off over 3-6 years, buildings over 10-40."""

MAX_SHARE = 1.0
"""A share (utilization, idle power, a discount) or a rate per year (cost of capital,
maintenance as a share of capex): at most 100 %."""

MAX_CAPEX_PER_GPU = 10_000_000.0
"""$ per GPU, the server around it included: an all-in H100 server costs ~$47-52k per GPU
(REFERENCE.md)."""

MAX_CAPEX_PER_KW = 1_000_000.0
"""$ per kW of IT: building a small data centre costs ~$10-12k per kW (est.)."""

MAX_PRICE_PER_KW_MONTH = 100_000.0
"""$ per kW-month: colocation costs ~$150-250 (REFERENCE.md, est.)."""

MAX_COST_PER_FTE_YEAR = 100_000_000.0
"""$ per full-time engineer and year, overheads included: ~$150k (est.)."""

MAX_FTE_PER_SITE = 10_000.0
"""Engineers per site: a small site needs a fraction of one (est.)."""

MAX_PER_SITE_MONTH = 1_000_000_000.0
"""$ per site and month (network): transit and cross-connects cost ~$1-3k (est.)."""

MAX_GB_PER_MONTH = 1e12
"""GB per month the fleet sends out: a workload's largest data rate (1,000,000 GB/h) all month
is ~7.3 x 10^8 GB."""

Years = Annotated[int, Field(ge=1, le=MAX_YEARS)]
Share = Annotated[float, Field(ge=0, le=MAX_SHARE)]
Utilization = Annotated[float, Field(gt=0, le=MAX_SHARE)]
CapexPerGpu = Annotated[float, Field(ge=0, le=MAX_CAPEX_PER_GPU)]
CapexPerKw = Annotated[float, Field(ge=0, le=MAX_CAPEX_PER_KW)]
PricePerKwMonth = Annotated[float, Field(ge=0, le=MAX_PRICE_PER_KW_MONTH)]
CostPerFte = Annotated[float, Field(ge=0, le=MAX_COST_PER_FTE_YEAR)]
FtePerSite = Annotated[float, Field(ge=0, le=MAX_FTE_PER_SITE)]
PerSiteMonth = Annotated[float, Field(ge=0, le=MAX_PER_SITE_MONTH)]
GbPerMonth = Annotated[float, Field(ge=0, le=MAX_GB_PER_MONTH)]
