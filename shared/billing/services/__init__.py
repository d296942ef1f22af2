"""Use cases: plain functions taking a command and their dependencies."""
