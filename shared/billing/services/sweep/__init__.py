"""Sweep: the cron tick that keeps every queue moving (stale leases, due and lost tokens, recovery)."""
