"""Core package of the billing function set: domain logic, persistence, adapters and services."""

__version__ = "0.1.0"
