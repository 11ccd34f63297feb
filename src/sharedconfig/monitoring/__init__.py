"""Monitoring for one service: metrics, health, events, alerts, traces, logs and resources.
Configured once by the application and a no-op until then; settings live in `settings`.
"""
