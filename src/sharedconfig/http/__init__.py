"""HTTP client profiles: timeouts, retries, circuit breaking and connection pooling.
Settings live in `settings`; importing this package stays cheap.
"""
