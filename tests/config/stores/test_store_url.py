"""Store URLs: what each part means, and errors that never show a password."""

from __future__ import annotations

import pytest

from sharedconfig.config.stores import parse_store_url
from sharedconfig.errors import ConfigError


class TestParse:
    def test_etcd_url_with_default_port_and_nested_prefix(self) -> None:
        """etcd://HOST/PREFIX takes port 2379 and keeps a prefix of several segments."""
        url = parse_store_url("etcd://127.0.0.1/apps/orders")
        assert (url.scheme, url.host, url.port, url.prefix) == ("etcd", "127.0.0.1", 2379, "apps/orders")
        assert url.name == "etcd://127.0.0.1:2379/apps/orders"
        assert url.entry("base.yaml") == "etcd://127.0.0.1:2379/apps/orders/base.yaml"

    def test_redis_url_with_credentials_db_cache_and_timeout(self) -> None:
        """The first numeric segment of a Redis URL is the DB; credentials stay out of name and repr."""
        url = parse_store_url("redis://app:s3cr%40t@cache:6380/2/orders?cache=/tmp/c.json&timeout=0.5")
        assert (url.host, url.port, url.db, url.prefix) == ("cache", 6380, 2, "orders")
        assert (url.username, url.password) == ("app", "s3cr@t")
        assert (url.cache, url.timeout) == ("/tmp/c.json", 0.5)
        assert url.name == "redis://cache:6380/2/orders"
        assert "s3cr" not in repr(url) and "s3cr" not in url.name

    def test_redis_db_defaults_to_zero(self) -> None:
        """redis://HOST/PREFIX is DB 0."""
        url = parse_store_url("redis://cache/orders")
        assert (url.db, url.prefix, url.port) == (0, "orders", 6379)

    @pytest.mark.parametrize(
        ("url", "why"),
        [
            ("http://h/app", "scheme"),
            ("etcd:///app", "no host"),
            ("etcd://h:2379", "no key prefix"),
            ("redis://h/3", "no key prefix"),
            ("etcd://h:port/app", "Port could not be cast"),
            ("etcd://h/app?cache=a&cache=b", "twice"),
            ("etcd://h/app?ttl=3", "unknown query parameter 'ttl'"),
            ("etcd://h/app?timeout=0", "positive"),
            ("etcd://h/app?timeout=soon", "number of seconds"),
            ("etcd://h/app#x", "fragment"),
        ],
    )
    def test_bad_urls_say_why(self, url: str, why: str) -> None:
        """Each mistake is CONFIG_041 with its reason."""
        with pytest.raises(ConfigError) as caught:
            parse_store_url(url)
        assert caught.value.code == "CONFIG_041"
        assert why in caught.value.message

    def test_a_bad_url_never_shows_its_password(self) -> None:
        """The URL quoted in the error has its password masked."""
        with pytest.raises(ConfigError) as caught:
            parse_store_url("redis://app:hunter2@cache:6379/0")
        assert "hunter2" not in str(caught.value)
        assert "app:**********@cache" in str(caught.value)
