"""Metrics: a fast in-process registry, Prometheus/OpenMetrics exposition, and push exporters."""
