"""Rollout engines (issue 10): pure logic driven by reports and a clock - flag evaluation here."""
