"""The NATS fixture works: JetStream acks what nats-py publishes, a separate consumer reads the same ids,
``Nats-Msg-Id`` dedupes a resend, and a proxy cut fails publishing until the proxy is restored."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable

import pytest

from integration.servers import Server, TcpProxy, require_module

nats_py = require_module("nats", "nats")
from nats.errors import TimeoutError as NatsTimeout  # noqa: E402 - only once nats-py is known to be there

from integration.jetstream import TIMEOUT, add_stream, stored  # noqa: E402

pytestmark = pytest.mark.integration


async def read_stream(address: str, subject: str, expected: int) -> list[str]:
    """Fetch ``expected`` messages from ``subject`` on a new connection (a separate consumer); their ids."""
    client = await nats_py.connect(address)
    try:
        subscription = await client.jetstream(timeout=TIMEOUT).pull_subscribe(subject)
        found: list[str] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while len(found) < expected and loop.time() < deadline:
            with contextlib.suppress(NatsTimeout):  # nothing more yet: fetch again until the deadline
                for message in await subscription.fetch(expected - len(found), timeout=1):
                    await message.ack()
                    found.append(message.headers["Nats-Msg-Id"])
        assert len(found) == expected, f"{len(found)} of {expected} messages: {found}"
        return found
    finally:
        await client.close()


def new_ids(count: int) -> list[str]:
    """``count`` distinct message ids."""
    return [str(uuid.uuid4()) for _ in range(count)]


class TestJetStream:
    def test_published_ids_are_acked_and_read_back_by_a_separate_consumer(self, nats: Server) -> None:
        """Five publishes are each acked in order by the stream, and a second connection fetches those ids."""

        async def scenario() -> None:
            stream, subject = await add_stream(nats.address)
            ids = new_ids(5)
            client = await nats_py.connect(nats.address)
            try:
                js = client.jetstream(timeout=TIMEOUT)
                acks = [await js.publish(subject, b"{}", headers={"Nats-Msg-Id": i}) for i in ids]
            finally:
                await client.close()
            assert [(ack.stream, ack.seq, ack.duplicate) for ack in acks] == [
                (stream, seq, None) for seq in range(1, 6)
            ]
            assert await read_stream(nats.address, subject, len(ids)) == ids

        asyncio.run(scenario())

    def test_a_resend_with_the_same_msg_id_is_stored_once(self, nats: Server) -> None:
        """Publishing one Nats-Msg-Id twice gets a duplicate ack the second time, and the stream holds one."""

        async def scenario() -> None:
            stream, subject = await add_stream(nats.address)
            client = await nats_py.connect(nats.address)
            try:
                js = client.jetstream(timeout=TIMEOUT)
                first = await js.publish(subject, b"1", headers={"Nats-Msg-Id": "same"})
                second = await js.publish(subject, b"2", headers={"Nats-Msg-Id": "same"})
                info = await js.stream_info(stream)
            finally:
                await client.close()
            assert (first.seq, first.duplicate) == (1, None)
            assert (second.seq, second.duplicate) == (1, True)
            assert info.state.messages == 1

        asyncio.run(scenario())


class TestJetStreamViaProxy:
    def test_a_cut_fails_publishing_and_a_restore_recovers_it(
        self, nats: Server, tcp_proxy: Callable[[str], TcpProxy]
    ) -> None:
        """Through a proxy: acked, then no ack while cut, then the client reconnects and is acked again."""
        proxy = tcp_proxy(nats.address)

        async def scenario() -> None:
            stream, subject = await add_stream(nats.address)
            before, during, after = new_ids(1), new_ids(1), new_ids(1)
            client = await nats_py.connect(
                f"nats://{proxy.address}", reconnect_time_wait=0.1, max_reconnect_attempts=-1
            )
            try:
                js = client.jetstream(timeout=TIMEOUT)
                await js.publish(subject, b"{}", headers={"Nats-Msg-Id": before[0]})
                proxy.cut()
                with pytest.raises(NatsTimeout):
                    await js.publish(subject, b"{}", timeout=1, headers={"Nats-Msg-Id": during[0]})
                assert not client.is_connected
                proxy.restore()
                ack = await js.publish(subject, b"{}", headers={"Nats-Msg-Id": after[0]})
                assert client.is_connected and ack.duplicate is None
            finally:
                await client.close()
            # the client resends what it buffered while cut (at least once): `during` may be stored too
            found = await read_stream(nats.address, subject, await stored(nats.address, stream))
            assert found in ([*before, *after], [*before, *during, *after])

        asyncio.run(scenario())
