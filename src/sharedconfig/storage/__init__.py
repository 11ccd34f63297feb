"""Object storage (MinIO or S3) for services: connection settings and the storage hook protocol.
Settings live in `settings`; importing this package stays cheap.
"""
