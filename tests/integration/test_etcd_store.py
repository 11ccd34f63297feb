"""The shared-store contract against a real etcd (started by the ``etcd`` fixture)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from integration.servers import Server, TcpProxy, require_module
from integration.store_contract import StoreContract, prefix

require_module("aetcd", "etcd")


@pytest.fixture
def store_url(etcd: Server) -> str:
    return f"etcd://{etcd.address}/{prefix()}"


@pytest.fixture
def proxied_url(
    etcd: Server, tcp_proxy: Callable[[str], TcpProxy]
) -> Callable[[str], tuple[str, str, TcpProxy]]:
    def make(query: str) -> tuple[str, str, TcpProxy]:
        proxy = tcp_proxy(etcd.address)
        name = prefix()
        return f"etcd://{proxy.address}/{name}?{query}&timeout=2", f"etcd://{etcd.address}/{name}", proxy

    return make


class TestEtcdStore(StoreContract):
    """Push, pull, watch, compare-and-swap and an outage, on etcd."""
