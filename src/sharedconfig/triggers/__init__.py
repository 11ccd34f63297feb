"""A trigger scheduler: cron schedules and intervals that run actions with timeouts and retries.
Settings live in `settings`; importing this package stays cheap.
"""
