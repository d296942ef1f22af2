"""Queues: status, control (pause, resume, cancel) and the operator's watch of one queue."""
