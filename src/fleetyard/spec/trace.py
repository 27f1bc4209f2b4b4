"""Energy traces (issue 11): a site's carbon intensity, energy price and PUE over time.

A trace is a CSV file referenced from a Site (`energy: {trace: traces/de-2020.csv}`, the
path relative to the spec file):

    time,carbon_g_per_kwh,price_per_kwh,pue
    2020-06-01T00:00:00Z,312.5,0.171,1.21
    2020-06-01T01:00:00Z,298.0,0.165,1.20

`time` is ISO 8601 with a UTC offset (`Z` or `+00:00`; another offset is converted; a
time without one is refused, because "local time" is how traces go wrong). Any of the
three value columns may be given; a column that is absent keeps the Site's constant.
Rows are at one regular step between a minute and a day (15 min, 30 min, hourly...):
the step of the first two rows; a gap, a duplicate time, a time out of order, a value
that is negative, not a number, or a PUE below 1 is a problem with its line. A value
holds from its time until the next row's (a step function), and the trace covers
[first time, last time + step).

Everything the scheduler and the pricer need is here: the time-weighted mean of a
column over any interval (`mean`, `means` for many at once), the first interval of a
horizon the trace does not cover (`missing`), and `repeat_daily` to extend a trace by
repeating its days (the `--extend repeat-daily` option).
"""

from __future__ import annotations

import csv
import difflib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from fleetyard.spec.errors import Problem, quoted

__all__ = [
    "COLUMNS",
    "MAX_STEP_S",
    "MIN_STEP_S",
    "Trace",
    "epoch",
    "format_time",
    "parse_time",
    "parse_trace",
]

COLUMNS = ("carbon_g_per_kwh", "price_per_kwh", "pue")
"""The value columns a trace may carry; `time` is the one required column."""

MIN_STEP_S = 60
MAX_STEP_S = 86_400
MAX_PROBLEMS = 20  # per trace: the rest are counted, not listed
DAY_S = 86_400
_MAX_VALUE = {"carbon_g_per_kwh": 2_000.0, "price_per_kwh": 100.0, "pue": 3.0}  # as spec.quantities

FloatArray = npt.NDArray[np.float64]


def epoch(t: datetime) -> int:
    """Whole seconds since 1970 (UTC) of an aware time."""
    return int(t.timestamp())


def from_epoch(s: float) -> datetime:
    return datetime.fromtimestamp(s, tz=UTC)


def format_time(t: datetime) -> str:
    """`2020-06-01T00:00:00Z`: the one way times are written in output."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime | str:
    """An aware UTC time from ISO 8601 text, or why it is not one."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        return f"expected an ISO 8601 time in UTC such as 2020-06-01T00:00:00Z, found {quoted(text)}"
    if t.tzinfo is None or t.utcoffset() is None:
        return (f"expected a time with a UTC offset such as 2020-06-01T00:00:00Z, found {quoted(text)} "
                "(no offset: write Z if it is UTC)")
    return t.astimezone(UTC)


@dataclass(frozen=True, eq=False)
class Trace:
    """Values at a regular step from `start`; `columns` maps a column to one value per step."""

    name: str  # as the Site references it (or the file it was read from)
    start: datetime
    step_s: int
    columns: Mapping[str, FloatArray]
    _cumulative: dict[str, FloatArray] = field(default_factory=dict, repr=False)

    @property
    def length(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    @property
    def start_s(self) -> int:
        return epoch(self.start)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.step_s * self.length)

    def has(self, column: str) -> bool:
        return column in self.columns

    def missing(self, t0: datetime, t1: datetime) -> tuple[datetime, datetime] | None:
        """The first part of [t0, t1) the trace does not cover, or None."""
        if t0 < self.start:
            return t0, min(t1, self.start)
        if t1 > self.end:
            return max(t0, self.end), t1
        return None

    def value_at(self, column: str, t: datetime) -> float:
        """The value in force at `t` (which must be covered)."""
        i = (epoch(t) - self.start_s) // self.step_s
        if not 0 <= i < self.length:
            raise ValueError(f"{self.name} does not cover {format_time(t)}")
        return float(self.columns[column][i])

    def mean(self, column: str, t0: datetime, t1: datetime) -> float:
        """The time-weighted mean of `column` over [t0, t1) (covered, t1 > t0)."""
        return float(self.means(column, np.array([epoch(t0), epoch(t1)], dtype=np.float64))[0])

    def means(self, column: str, edges_s: npt.NDArray[np.float64]) -> FloatArray:
        """Time-weighted means over consecutive intervals [edges[i], edges[i+1]) in epoch seconds."""
        values = self.columns[column]
        cum = self._cumulative.get(column)
        if cum is None:
            cum = np.concatenate(([0.0], np.cumsum(values * self.step_s)))
            self._cumulative[column] = cum
        x = (np.asarray(edges_s, dtype=np.float64) - self.start_s) / self.step_s
        if x.size and (x.min() < -1e-9 or x.max() > self.length + 1e-9):
            raise ValueError(f"{self.name} does not cover the interval asked for")
        x = np.clip(x, 0.0, float(self.length))
        whole = np.minimum(np.floor(x).astype(np.int64), self.length - 1)
        integral = cum[whole] + (x - whole) * values[whole] * self.step_s
        widths = np.diff(np.asarray(edges_s, dtype=np.float64))
        return np.diff(integral) / np.where(widths > 0, widths, 1.0)

    def repeat_daily(self, t0: datetime, t1: datetime) -> Trace:
        """This trace stretched to cover [t0, t1): a time outside it takes the value at the
        same time of day on the nearest covered day (the trace's first day before it, its
        last whole day after it). Needs a step that divides a day and at least one day."""
        if DAY_S % self.step_s or self.length * self.step_s < DAY_S:
            raise ValueError(f"{self.name}: repeat-daily needs a step that divides a day and "
                             "at least a day of data")
        per_day = DAY_S // self.step_s
        start = min(self.start, t0)
        start -= timedelta(seconds=(epoch(start) - self.start_s) % DAY_S)  # same phase as the trace
        n = math.ceil((max(self.end, t1) - start).total_seconds() / self.step_s)
        offset = (self.start_s - epoch(start)) // self.step_s  # steps before the trace begins
        idx = np.arange(n, dtype=np.int64) - offset
        full_days = self.length // per_day
        before = idx < 0
        after = idx >= self.length
        idx = np.where(before, np.mod(idx, per_day), idx)
        last_day = (full_days - 1) * per_day
        idx = np.where(after, last_day + np.mod(idx - last_day, per_day), idx)
        return Trace(self.name, start, self.step_s, {c: v[idx] for c, v in self.columns.items()})


def parse_trace(text: str, name: str) -> tuple[Trace | None, list[Problem]]:
    """Read a trace's CSV text; every problem names `name`, the line and what was found."""
    problems: list[Problem] = []
    more = 0

    def add(line: int | None, path: str, message: str) -> None:
        nonlocal more
        if len(problems) < MAX_PROBLEMS:
            problems.append(Problem(name, line, path, message))
        else:
            more += 1

    rows = csv.reader(io.StringIO(text))
    try:
        header = next(rows, None)
    except csv.Error as exc:
        return None, [Problem(name, 1, "", f"not CSV: {exc}")]
    if header is None or not any(h.strip() for h in header):
        return None, [Problem(name, 1, "", "empty trace: expected a header line such as "
                                           "'time,carbon_g_per_kwh' and one row per step")]
    names = [h.strip() for h in header]
    if "time" not in names:
        hint = difflib.get_close_matches("time", [n.lower() for n in names], n=1, cutoff=0.5)
        tail = f" (found '{hint[0]}': the column must be named exactly 'time')" if hint else ""
        add(1, "time", f"required column 'time' is missing{tail}; found columns {', '.join(map(quoted, names))}")
    for n in names:
        if n != "time" and n not in COLUMNS:
            hint = difflib.get_close_matches(n, COLUMNS, n=1, cutoff=0.5)
            tail = f" (did you mean '{hint[0]}'?)" if hint else ""
            add(1, n, f"unknown column {quoted(n)}{tail}; expected time and any of {', '.join(COLUMNS)}")
    seen = set()
    for n in names:
        if n in seen:
            add(1, n, f"duplicate column '{n}'")
        seen.add(n)
    value_names = [n for n in names if n in COLUMNS]
    if problems:
        return None, problems
    if not value_names:
        return None, [Problem(name, 1, "", f"no value columns: expected any of {', '.join(COLUMNS)}")]
    t_col = names.index("time")
    v_cols = [names.index(n) for n in value_names]
    times: list[int] = []
    values: dict[str, list[float]] = {n: [] for n in value_names}
    first_line: dict[int, int] = {}
    step = 0
    line = 1
    try:
        for row in rows:
            line = rows.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(names):
                add(line, "", f"expected {len(names)} fields ({', '.join(names)}), found {len(row)}")
                continue
            t = parse_time(row[t_col])
            if isinstance(t, str):
                add(line, "time", t)
                continue
            s = epoch(t)
            if s in first_line:
                add(line, "time", f"duplicate time {format_time(t)} (first on line {first_line[s]})")
                continue
            first_line[s] = line
            if times:
                gap = s - times[-1]
                if len(times) == 1:
                    if gap <= 0:
                        add(line, "time", f"times must increase: {format_time(t)} is before the row above")
                        continue
                    if not MIN_STEP_S <= gap <= MAX_STEP_S or gap != int(gap):
                        add(line, "time", f"expected a step between 1 minute and 1 day, found "
                                          f"{timedelta(seconds=gap)}")
                        return None, problems
                    step = gap
                elif gap != step:
                    want = format_time(from_epoch(times[-1] + step))
                    what = "a gap" if gap > step else ("a time out of order" if gap < 0 else "an irregular step")
                    add(line, "time", f"{what}: expected {want} (step {timedelta(seconds=step)}), "
                                      f"found {format_time(t)}")
                    continue
            for n, c in zip(value_names, v_cols, strict=True):
                raw = row[c].strip()
                low = 1.0 if n == "pue" else 0.0
                try:
                    v = float(raw)
                except ValueError:
                    add(line, n, f"expected a number, found {quoted(raw)}")
                    v = math.nan
                else:
                    if not (math.isfinite(v) and low <= v <= _MAX_VALUE[n]):
                        add(line, n, f"expected a number from {low:g} to {_MAX_VALUE[n]:g}, found {quoted(raw)}")
                values[n].append(v)  # a bad value is reported; the trace is then not built
            times.append(s)
    except csv.Error as exc:
        add(line + 1, "", f"not CSV: {exc}")
    if more:
        problems.append(Problem(name, None, "", f"... and {more} more problem(s) in this trace"))
    if problems:
        return None, problems
    if len(times) < 2:
        return None, [Problem(name, line, "", f"expected at least two rows (the step is their distance), "
                                              f"found {len(times)}")]
    arrays = {n: np.asarray(v, dtype=np.float64) for n, v in values.items()}
    return Trace(name, from_epoch(times[0]), step, arrays), []


def site_hours(trace: Trace | None, column: str, constant: float, start: datetime,
               hours: Sequence[float]) -> FloatArray:
    """The column's mean over slots starting at `start` with the given lengths in hours;
    the constant where there is no trace or the trace lacks the column."""
    n = len(hours)
    if trace is None or not trace.has(column):
        return np.full(n, constant, dtype=np.float64)
    edges = epoch(start) + np.concatenate(([0.0], np.cumsum(np.asarray(hours, dtype=np.float64) * 3600.0)))
    return trace.means(column, edges)
