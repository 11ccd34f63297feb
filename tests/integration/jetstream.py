"""JetStream helpers of the NATS integration tests: a fresh stream per test, and how many messages it holds.

Import it only after ``require_module("nats", "nats")`` (the tests skip without nats-py)."""

from __future__ import annotations

import uuid

import nats
from nats.js.api import StreamConfig

TIMEOUT = 10.0
"""Real seconds any one JetStream call of a test's own may take."""


async def add_stream(address: str) -> tuple[str, str]:
    """Create a fresh stream with a 2-minute duplicate window; its name and the subject it captures."""
    name = f"S{uuid.uuid4().hex}"
    client = await nats.connect(address)
    try:
        config = StreamConfig(name=name, subjects=[f"{name}.events"], duplicate_window=120.0)
        await client.jetstream(timeout=TIMEOUT).add_stream(config)
    finally:
        await client.close()
    return name, f"{name}.events"


async def stored(address: str, stream: str) -> int:
    """How many messages ``stream`` holds."""
    client = await nats.connect(address)
    try:
        info = await client.jetstream(timeout=TIMEOUT).stream_info(stream)
    finally:
        await client.close()
    return int(info.state.messages)
