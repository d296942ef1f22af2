"""Adapters: the code that talks to systems outside the process (gateway, database, broker)."""
