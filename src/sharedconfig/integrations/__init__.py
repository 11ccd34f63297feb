"""Hooks for the servers and frameworks a service runs under, so Monitoring starts and stops with them.

``gunicorn`` gives server hooks for a ``gunicorn.conf.py``; ``flask`` gives ``init_app``. For ASGI apps
(FastAPI, Starlette, any ASGI server) see ``sharedconfig.server.lifespan``.
"""
