"""Serve: the scanner (a model bundle or the rules engine), the HTTP service and latency benchmarks."""
