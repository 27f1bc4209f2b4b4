"""Rollouts and failover as pure logic, driven by reports and a clock (no I/O)."""
