"""The shared-store contract against a real Redis (started by the ``redis`` fixture)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from integration.servers import Server, TcpProxy, require_module
from integration.store_contract import StoreContract, prefix

require_module("redis", "redis")


@pytest.fixture
def store_url(redis: Server) -> str:
    return f"redis://{redis.address}/0/{prefix()}"


@pytest.fixture
def proxied_url(
    redis: Server, tcp_proxy: Callable[[str], TcpProxy]
) -> Callable[[str], tuple[str, str, TcpProxy]]:
    def make(query: str) -> tuple[str, str, TcpProxy]:
        proxy = tcp_proxy(redis.address)
        name = prefix()
        return (
            f"redis://{proxy.address}/0/{name}?{query}&timeout=2",
            f"redis://{redis.address}/0/{name}",
            proxy,
        )

    return make


class TestRedisStore(StoreContract):
    """Push, pull, watch, compare-and-swap and an outage, on Redis."""
