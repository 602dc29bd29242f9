"""How oddstream's Kafka clients connect, and the topics they need: security, idempotence, creation.

Every Kafka client oddstream builds takes its options from here, so a managed cluster needs only
the ``ODDSTREAM_KAFKA_*`` settings. Public aiokafka and Faust API only (the producer Faust runs is
``streams.engine``'s):

- ``client_options(settings)``: aiokafka keyword arguments (security protocol, SASL, TLS context);
- ``faust_credentials(settings)``: the same for Faust's ``broker_credentials``;
- ``resolve_idempotence(settings)``: ``auto`` becomes ``on`` when the broker grants a producer id
  (InitProducerId, what an idempotent producer asks first), else ``off`` with a warning. Apache
  Kafka grants it; the embedded Tansu 0.6.0 rejects aiokafka's request (see BROKERS.md);
- ``ensure_topics(settings)``: the contract's topics and the tables' compacted changelogs, created
  at start when missing (``streams.topics`` declares them).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError
from faust.auth import SASLCredentials, SSLCredentials

from streams import topics
from streams.settings import Settings

__all__ = [
    "BrokerUnavailable",
    "check_broker",
    "client_options",
    "ensure_topics",
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


class BrokerUnavailable(RuntimeError):
    """The configured Kafka broker did not answer."""


async def ensure_topics(settings: Settings, *, timeout_s: float = 15.0) -> list[str]:
    """Create the contract's topics (``settings.topic_partitions`` each) and the tables' compacted
    changelogs when missing; returns the names created.

    The changelogs are created here, before any worker writes, because Faust's own lazy creation
    raced the first writes on a fresh cluster (PartitionsMismatch: the changelog had 0 partitions).
    Raises ``BrokerUnavailable`` with the address when the broker cannot be reached in ``timeout_s``.
    """
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (TimeoutError, KafkaConnectionError, KafkaError, OSError) as exc:
        await admin.close()
        raise BrokerUnavailable(f"Kafka broker at {settings.kafka_bootstrap} is unreachable: {exc!r}") from exc
    try:
        existing = set(await admin.list_topics())
        compacted = {"cleanup.policy": "compact"}
        wanted: dict[str, dict[str, str]] = {
            settings.topic(t.name): dict(compacted) if t.compacted else {} for t in topics.TOPICS
        }
        wanted.update({topics.changelog_topic(settings.app_id, table): compacted for table in topics.TABLES})
        missing = [name for name in wanted if name not in existing]
        if missing:
            # another process may create them in the meantime
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name,
                            settings.topic_partitions,
                            settings.kafka_replication_factor,
                            topic_configs=wanted[name],
                        )
                        for name in missing
                    ],
                    timeout_ms=int(timeout_s * 1000),
                )
            log.info("topics created", topics=missing, partitions=settings.topic_partitions)
        return missing
    finally:
        await admin.close()


async def check_broker(settings: Settings, timeout_s: float = 2.0) -> None:
    """Return when one bootstrap server accepts a TCP connection; ``BrokerUnavailable`` with each
    server's reason otherwise (for ``/health``: cheap, and says nothing of the cluster's state)."""
    errors = []
    for server in settings.kafka_bootstrap.split(","):
        host, _, port = server.rpartition(":")
        try:
            async with asyncio.timeout(timeout_s):
                _, writer = await asyncio.open_connection(host, int(port))
            writer.close()
            return
        except (OSError, TimeoutError) as exc:
            errors.append(f"{server}: {exc!r}")
    raise BrokerUnavailable("; ".join(errors))
