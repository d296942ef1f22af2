"""An Evolution API v2 simulator: a real HTTP server for tests, benchmarks and local development."""
