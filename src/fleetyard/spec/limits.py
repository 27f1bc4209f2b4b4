"""Bounds on spec input, checked while the YAML is read, before anything is built from it.

Fleet specs come from many teams, as files and as `POST /api/v1/apply` bodies. Text that
is too big, nested too deep, or that expands without end (a YAML alias bomb: nine levels
of nine aliases are 387 million nodes written in 600 bytes) must end as one clear problem
- file, line, which limit, what was found - in well under a second; never as a hang, a
traceback or gigabytes of memory. The loader takes an `InputLimits` (the defaults below
unless the caller passes its own), so the server applies the same checks to request
bodies as `fleetyard validate` does to files, and may pass tighter ones.

What the defaults admit: ~6,000 workloads or sites in one file (`benchmarks/fleetgen.py`
writes 3,000 workloads as 1.0 MB and 140,000 nodes, nesting 5 deep; a fleet may have
any number of files) and every example fleet by a wide margin. What they cost at worst
(docs/reliability.md has the figures): a file at `max_nodes` is read and validated in
a few seconds and ~150 MB; a single document is composed in memory whole, ~300 bytes
per node, so `max_document_nodes` bounds one at ~30 MB. A file over a limit costs
milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024

MAX_SAFE_DEPTH = 200
"""The deepest `max_depth` allowed: building data recurses twice per level, and Python
stops at 1,000 frames."""


@dataclass(frozen=True)
class InputLimits:
    """Limits on one YAML file (or one uploaded text) of a fleet spec.

    A *node* is a mapping, a sequence or a scalar (keys included); an alias counts as a
    full copy of what it points to, which is what building Python data from it costs.
    """

    max_bytes: int = 8 * MiB
    """Size of one file or text, in bytes (UTF-8): ~70 bytes per node of a typical spec."""

    max_nodes: int = 300_000
    """Nodes in one file, aliases expanded, over all its documents: a workload is ~45, a
    site with two GPU pools ~60."""

    max_document_nodes: int = 100_000
    """Nodes in one document (one resource), aliases expanded. A Site with 1,000 regions in
    `latency_ms` is ~2,100; this stops an alias bomb after a few milliseconds."""

    max_depth: int = 64
    """Nesting of mappings and sequences, aliases expanded, the scalars inside counted. Format
    v1 needs 6 (the value of `spec.gpus[0].fabric.type`); 64 keeps building data far from
    Python's recursion limit."""

    max_string_length: int = 65_536
    """Characters in one scalar (a key or a value). Names are at most 63; labels, model
    references and `command` arguments are short."""

    max_int_digits: int = 64
    """Digits of one integer literal (sign and `_` separators not counted). The largest bound
    of the format (1,000,000,000 $/h) has 10; Python refuses to convert more than 4,300."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"InputLimits.{name} must be a whole number >= 1, got {value!r}")
        if self.max_depth > MAX_SAFE_DEPTH:
            raise ValueError(f"InputLimits.max_depth must be <= {MAX_SAFE_DEPTH} (the builder recurses "
                             f"twice per level), got {self.max_depth}")


DEFAULT_LIMITS = InputLimits()
