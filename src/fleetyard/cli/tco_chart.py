"""The TCO chart beside the table: annual cost per option, and cost per delivered GPU-hour.

Left: a stacked bar per option of its cost per year at the planned utilization, one
segment per line (capex, energy, staff, maintenance, network, egress, rent). Right: the
cost per delivered GPU-hour of every option against utilization (10-100 %), the
hyperscaler's as flat lines, each break-even point marked and the planned utilization
dashed. Drawn with matplotlib's Agg/SVG backends, no pyplot state; SVG or PNG by the
file's extension. The same input gives the same bytes: a fixed `svg.hashsalt`, glyphs
as paths, no date or software metadata.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from fleetyard.energy.tco import HYPERSCALER, LINES, Comparison, OptionName

FORMATS = {".svg": "svg", ".png": "png"}
_LINE_COLOURS = {"capex": "#4c72b0", "energy": "#dd8452", "staff": "#55a868", "maintenance": "#c44e52",
                 "network": "#8172b3", "egress": "#937860", "rent": "#da8bc3"}
_OPTION_COLOURS: dict[OptionName, str] = {"owned": "#1f77b4", "colo": "#2ca02c", "edge": "#9467bd",
                                          "on-demand": "#d62728", "committed": "#ff7f0e"}
_RC: dict[str, Any] = {"svg.hashsalt": "fleetyard-tco", "svg.fonttype": "path", "font.family": "DejaVu Sans",
       "font.size": 9.0}


def chart_format(path: Path) -> str | None:
    """`svg` or `png` by the extension (case-insensitive); None for anything else."""
    return FORMATS.get(path.suffix.lower())


def render_chart(c: Comparison, fmt: str, title: str) -> bytes:
    """The chart as SVG or PNG bytes."""
    with matplotlib.rc_context(_RC):  # type: ignore[arg-type]
        fig = Figure(figsize=(12.0, 5.0), dpi=100)
        bars, curves = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1.0]})
        _bars(bars, c)
        _curves(curves, c)
        fig.suptitle(title, fontsize=11)
        fig.tight_layout()
        buf = io.BytesIO()
        metadata: dict[str, str | None] = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buf, format=fmt, metadata=metadata)
    return buf.getvalue()


def write_chart(c: Comparison, path: Path, title: str) -> None:
    """Write the chart atomically: a half-written file never takes the path's place."""
    fmt = chart_format(path)
    if fmt is None:
        raise ValueError(f"expected a .svg or .png file, got '{path.name}'")
    data = render_chart(c, fmt, title)
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as open() would create it, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _bars(ax: Axes, c: Comparison) -> None:
    load = c.load
    names = [o.label.replace(" ", "\n", 1) for o in c.options]
    x = list(range(len(c.options)))
    bottom = [0.0] * len(c.options)
    for line in LINES:
        values = [o.line(line, load) / 1e6 for o in c.options]
        if not any(values):
            continue
        ax.bar(x, values, bottom=bottom, color=_LINE_COLOURS[line], label=line, width=0.6)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    for i, total in enumerate(bottom):
        ax.annotate(f"${total:,.2f}M", (i, total), ha="center", va="bottom", xytext=(0, 2),
                    textcoords="offset points")
    ax.set_xticks(x, names)
    ax.set_ylabel("$ million per year")
    ax.set_title(f"Cost per year at {load.utilization:.0%} utilization ({load.total_gpus} GPUs, "
                 f"{load.it_kw:,.0f} kW IT)")
    ax.set_ylim(0, max(bottom) * 1.3)
    ax.legend(loc="upper center", ncol=4, fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)


def _curves(ax: Axes, c: Comparison) -> None:
    load = c.load
    us = [u / 100 for u in range(10, 101)]
    top = 3.0 * max(c.option(h).variable for h in HYPERSCALER)
    for o in c.options:
        ys = [o.per_delivered_gpu_hour(load, u) for u in us]
        style = "--" if o.name in HYPERSCALER else "-"
        ax.plot(us, ys, style, color=_OPTION_COLOURS[o.name], label=o.label, linewidth=1.6)
    for name, pair in c.break_even.items():
        for be in pair:
            if be.utilization is not None and 0.1 <= be.utilization <= 1.0:
                y = c.option(be.against).variable
                ax.plot([be.utilization], [y], "o", color=_OPTION_COLOURS[name], markersize=6,
                        markeredgecolor="black", markeredgewidth=0.6)
                ax.annotate(f"{be.utilization:.0%}", (be.utilization, y), xytext=(4, 4),
                            textcoords="offset points", fontsize=7)
    ax.axvline(load.utilization, color="grey", linestyle=":", linewidth=1.0)
    ax.annotate(f"planned {load.utilization:.0%}", (load.utilization, top * 0.02), xytext=(3, 0),
                textcoords="offset points", fontsize=8, color="grey")
    ax.set_xlim(0.1, 1.0)
    ax.set_ylim(0, top)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("utilization (share of hours the GPUs do useful work)")
    ax.set_ylabel("$ per delivered GPU-hour")
    ax.set_title("Cost per delivered GPU-hour; dots: break-even vs the hyperscaler")
    ax.legend(loc="upper right", fontsize=8, frameon=False)
    ax.grid(alpha=0.3)
