"""A batched data pipeline: stages, buffering, retries and a dead-letter file.
Settings live in `settings`; importing this package stays cheap.
"""
