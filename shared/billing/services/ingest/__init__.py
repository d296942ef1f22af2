"""Ingest: one ERP batch validated, rendered, stored in one transaction and published."""
