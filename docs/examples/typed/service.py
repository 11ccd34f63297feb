import sharedconfig
from sharedconfig.monitoring.settings import MonitoringSettings
from sharedconfig.storage.settings import StorageSettings

from orders import OrdersSettings
from orders import module as orders_module  # in a package: an entry point, and no modules= below


class AppSettings(sharedconfig.RootSettings):
    monitoring: MonitoringSettings  # a built-in module's schema
    orders: OrdersSettings  # the service's own module's schema
    storage: StorageSettings | None = None  # optional: None when the section is absent


config = sharedconfig.load("app.yaml", settings=AppSettings, modules=[orders_module])
print(config.settings.orders.max_batch)  # an int to mypy and to the editor
print(config.settings.monitoring.sample_rate)
print(config.settings.storage)
