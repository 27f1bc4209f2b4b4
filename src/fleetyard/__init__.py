"""fleetyard: the control plane for running AI on a fleet of small data centers."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
