"""Alerting (issue 11): a Prometheus-compatible rule engine in process, templates, notifications, silences.

``promql/`` evaluates PromQL with Prometheus's semantics over a local sample store; the rule engine,
templates and notifiers are built on it. Nothing here is wired into ``Monitoring`` yet.
"""
