"""Suite-wide settings.

The CLI's Rich console takes its width from COLUMNS once, when `fleetyard.cli.common` is
first imported - by whichever test imports it first (and, under pytest-xdist, in each
worker). Tables tested in-process are asserted at 200 columns, so the suite fixes it here,
before any test module is imported. Subprocess tests pass their own environment.
"""

from __future__ import annotations

import os

os.environ["COLUMNS"] = "200"
