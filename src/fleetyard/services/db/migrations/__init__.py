"""Alembic migrations of the control plane database (run by `fleetyard server` at start)."""
