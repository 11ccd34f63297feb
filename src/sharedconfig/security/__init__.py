"""A service's security layer: authentication, TLS, secrets, rate limiting and audit logging.
Settings live in `settings`; importing this package stays cheap.
"""
