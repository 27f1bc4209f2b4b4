"""Rollouts, failover and feature flags as pure logic, driven by reports and a clock (no I/O)."""
