"""Rebuild the shipped traces from the published 2020 series (run from the repository root).

    python examples/fleet/traces/resample.py ../shared/data/carbon

Source: the datasets published with P. Wiesner, I. Behnke, D. Scheinert, K. Gontarska,
L. Thamsen, "Let's Wait Awhile: How Temporal Workload Shifting Can Reduce Carbon Emissions
in the Cloud", Middleware 2021 (doi 10.1145/3464298.3493399): grid carbon intensity in
gCO2eq/kWh computed from ENTSO-E generation per production type with the IPCC SRREN
lifecycle intensities. Their `Time` column has no offset; ENTSO-E exports are in UTC, and
we read it as UTC.

Resampling: each hour [h, h+1) takes the mean of the readings whose time falls in it. The
source's own step is 15 min for Germany until 2020-12-19 and 30 min after it, 30 min for
Great Britain until 2020-10-30 and 15 min after it, 30 min for France; so an hour holds
two or four readings. The series is cut to the longest run of consecutive hours that each
hold a reading, so the output has no gap (none of the three has one).
"""

from __future__ import annotations

import csv
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

SOURCES = {"ger_ci_2020.csv": "de-2020.csv", "gb_ci_2020.csv": "gb-2020.csv", "fr_ci_2020.csv": "fr-2020.csv"}


def resample(src: Path, dst: Path) -> int:
    sums: dict[datetime, list[float]] = defaultdict(list)
    with src.open(newline="") as fh:
        for row in csv.DictReader(fh):
            t = datetime.fromisoformat(row["Time"]).replace(tzinfo=UTC)
            sums[t.replace(minute=0, second=0, microsecond=0)].append(float(row["Carbon Intensity"]))
    whole = sorted(sums)
    runs: list[list[datetime]] = [[whole[0]]]
    for h in whole[1:]:
        if h - runs[-1][-1] == timedelta(hours=1):
            runs[-1].append(h)
        else:
            runs.append([h])
    best = max(runs, key=len)
    with dst.open("w", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["time", "carbon_g_per_kwh"])
        for h in best:
            out.writerow([h.strftime("%Y-%m-%dT%H:%M:%SZ"), f"{sum(sums[h]) / len(sums[h]):.2f}"])
    return len(best)


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/carbon")
    here = Path(__file__).parent
    for name, out in SOURCES.items():
        n = resample(folder / name, here / out)
        print(f"{name} -> {out}: {n} hours")


if __name__ == "__main__":
    main()
