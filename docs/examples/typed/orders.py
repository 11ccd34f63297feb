"""A service's own configuration module, as a package would register it (entry point ``orders``)."""

from sharedconfig import SettingsModule
from sharedconfig.config.types import Settings


class OrdersSettings(Settings):
    """The ``orders`` section."""

    max_batch: int = 100


module = SettingsModule("orders", OrdersSettings)
