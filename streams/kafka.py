"""How oddstream's Kafka clients connect: security (SASL/TLS), acks, idempotence, replication.

Every Kafka client oddstream builds takes its options from here, so a managed cluster needs only
the ``ODDSTREAM_KAFKA_*`` settings:

- ``client_options(settings)``: aiokafka keyword arguments (security protocol, SASL, TLS context);
- ``faust_credentials(settings)``: the same for Faust's ``broker_credentials``;
- ``IdempotentProducer``: Faust's aiokafka producer with ``enable_idempotence`` (acks=all);
- ``resolve_idempotence(settings)``: ``auto`` becomes ``on`` when the broker grants a producer id
  (InitProducerId, what an idempotent producer asks first), else ``off`` with a warning. Apache
  Kafka grants it; the embedded Tansu 0.6.0 rejects aiokafka's request (see BROKERS.md).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any, cast

import structlog
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import Producer as FaustAIOKafkaProducer
from faust.transport.producer import ProducerBuffer

from streams.settings import Settings

__all__ = [
    "DurableProducer",
    "IdempotentProducer",
    "client_options",
    "faust_credentials",
    "resolve_idempotence",
    "ssl_context",
]

log = structlog.get_logger(__name__)


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A TLS context verifying the brokers (against ``kafka_ca_file`` when set); None without TLS."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    cafile = str(settings.kafka_ca_file) if settings.kafka_ca_file else None
    return ssl.create_default_context(cafile=cafile)


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (producer, consumer, admin) of these settings."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if (context := ssl_context(settings)) is not None:
        options["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL_"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


def faust_credentials(settings: Settings) -> SASLCredentials | SSLCredentials | None:
    """Faust's ``broker_credentials`` for these settings; None for plaintext."""
    context = ssl_context(settings)
    if settings.kafka_security_protocol.startswith("SASL_"):
        return SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return SSLCredentials(context)
    return None


class DurableProducer(FaustAIOKafkaProducer):
    """Faust's producer whose ``flush`` also drains the table-write buffer before offsets commit.

    A table write (``table[key] = value``) goes through Faust's ``ProducerBuffer``, which a
    background task hands to aiokafka one record at a time. Faust commits source offsets after
    ``producer.flush()``, but the aiokafka driver's flush waits only for what aiokafka already
    holds: changelog records still in the buffer, or dequeued and not yet handed over, were not
    waited for. A worker killed right after such a commit restarted with its table older than its
    committed offsets, and the lost board never came back (tests/reliability finds this under
    SIGKILL). Here ``flush`` returns only when the buffer is empty and nothing is in hand, then
    waits for aiokafka's deliveries as before; a commit can no longer overtake a table write.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_hand = 0
        buffer = cast(ProducerBuffer, self.buffer)
        send = buffer._send_pending

        async def counted(fut: Any) -> None:
            # runs synchronously from the moment the buffer's task dequeued ``fut``
            self._in_hand += 1
            try:
                await send(fut)
            finally:
                self._in_hand -= 1

        buffer._send_pending = counted  # type: ignore[method-assign]  # count what the task holds

    # how long a flush waits for the buffer before going on as Faust's own flush would: a send stuck
    # in aiokafka (metadata, a full accumulator) must delay commits, not stop them for good
    drain_timeout_s: float = 15.0

    async def flush(self) -> None:
        buffer = self.buffer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_timeout_s
        while buffer.size or self._in_hand:
            if buffer.state != "running" and buffer.size:
                raise RuntimeError("cannot flush: the producer buffer is not running")
            if loop.time() > deadline:
                log.warning(
                    "producer buffer not drained; flushing what aiokafka holds",
                    waited_s=self.drain_timeout_s,
                    buffered=buffer.size,
                    in_hand=self._in_hand,
                )
                break
            await asyncio.sleep(0.005)
        await super().flush()


class IdempotentProducer(DurableProducer):
    """Faust's producer with ``enable_idempotence``: a retried send is written once per partition."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


async def _grants_producer_id(settings: Settings, timeout_s: float) -> bool:
    from aiokafka import AIOKafkaClient
    from aiokafka.errors import for_code
    from aiokafka.protocol.transaction import InitProducerIdRequest

    options = client_options(settings)
    client = AIOKafkaClient(**options, request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            node = client.get_random_node()
            response = await asyncio.wait_for(client.send(node, InitProducerIdRequest(None, 60_000)), timeout_s)
            error = for_code(response.error_code)
            if error.errno == 0:
                return True
            # a fresh cluster answers "coordinator loading" until its transaction log exists
            if not error.retriable or loop.time() > deadline:
                log.warning("broker refused a producer id", error=error.__name__)
                return False
            await asyncio.sleep(0.5)
    except Exception as exc:
        log.warning("broker refused a producer id", error=repr(exc))
        return False
    finally:
        await client.close()


async def resolve_idempotence(settings: Settings, timeout_s: float = 30.0) -> Settings:
    """``kafka_idempotence`` ``auto`` -> ``on`` or ``off`` after asking the broker; others unchanged."""
    if settings.kafka_idempotence != "auto":
        return settings
    granted = await _grants_producer_id(settings, timeout_s)
    if not granted:
        log.warning("producers are not idempotent: the broker does not grant producer ids")
    else:
        log.info("producers are idempotent")
    return settings.with_(kafka_idempotence="on" if granted else "off")
