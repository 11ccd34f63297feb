"""Shared configuration stores: etcd and Redis as configuration sources, with push, pull and watch.

``StoreSource`` layers a store into a load (``load(stores=["etcd://127.0.0.1:2379/app"])``) and is the
``WatchedSource`` that tells a watcher when it changes; ``open_store`` gives the ``Store`` itself (read a
snapshot, save with compare-and-swap on its revision, watch). The URL syntax is in ``url.py``.
"""

from sharedconfig.config.stores.base import Entry, Snapshot, Store, StoreConflict, StoreUnavailable
from sharedconfig.config.stores.layers import changes, snapshot_layers, stored_tree
from sharedconfig.config.stores.source import RECONNECT, StoreSource, open_store, read_snapshot
from sharedconfig.config.stores.url import StoreURL, parse_store_url

__all__ = [
    "RECONNECT",
    "Entry",
    "Snapshot",
    "Store",
    "StoreConflict",
    "StoreSource",
    "StoreURL",
    "StoreUnavailable",
    "changes",
    "open_store",
    "parse_store_url",
    "read_snapshot",
    "snapshot_layers",
    "stored_tree",
]
