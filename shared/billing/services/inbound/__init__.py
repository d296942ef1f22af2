"""Inbound: the gateway's events (replies, receipts, connection changes) and opt-out suppression."""
