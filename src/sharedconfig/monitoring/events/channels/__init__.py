"""Event channels: one small module each (webhook, sqlite, and later log, kafka, elasticsearch, nats).

A channel that sends over a network is an encoder (events to a payload) plus a sender (``async
send(payload)``), composed by ``sharedconfig.delivery.Delivery``, as the metric exporters are.
"""
