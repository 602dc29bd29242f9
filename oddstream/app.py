"""The composition root: one Faust app per settings object, with every agent, table, timer and view.

Nothing runs at import time. ``create_app(settings)`` builds the app, its topics (``streams.topics``)
and tables, the producer and the outbox, then wires, in the order of the data flow:

    odds.scrape-requests -> scrape (forward) -> odds.scrape-queue -> scrape (run)
        -> odds.observed -> board -> odds.changes -> projections -> PostgreSQL
    odds.runs + odds.run-checks -> runs (+ watchdog)   odds.dead-letters -> dead-letter index

and mounts the views. Agents live in ``agents/`` and ``projections/``, which never import each
other; this module is the only place that knows both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from importlib.metadata import version
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import faust
from faust.types import AgentT, StreamT, TableT, TopicT
from faust.web import Request, Response, View

from agents import access, board, dashboard, deadletters, metrics, openapi, runs, schedule, scrape, stream, views
from projections import agents as projection_agents
from projections import history as line_history
from projections import retention
from projections.postgres import PgStore
from projections.registry import PROJECTIONS
from projections.store import ProjectionStore
from projections.writer import check_database, make_engine
from streams import control, engine, topics
from streams.clock import utc_now
from streams.events import ScheduleChanged
from streams.kafka import check_broker, faust_credentials
from streams.logconfig import configure_logging, logging_config
from streams.outbox import KafkaOutbox, Outbox
from streams.ranges import RangeReader, range_reader
from streams.schedule import default_schedule
from streams.settings import Settings
from streams.sources.cycle import Sources

__all__ = ["Edges", "Tables", "Worker", "create_app"]

KEEPER_INTERVAL_S = 10.0
CONTROL_TYPES = (ScheduleChanged,)


@dataclass(frozen=True, slots=True)
class Tables:
    """The worker's Faust tables (``streams.topics.TABLES``), each a typed field."""

    boards: TableT[str, Any]
    runs: TableT[str, Any]
    dead_letters: TableT[str, Any]


@dataclass(frozen=True, slots=True)
class Edges:
    """What a worker talks to beyond its own process; each left None is the real one.

    Agent tests (``tests/agents``) give twins: a recording outbox, a broker log to read gaps from, a
    table writer that keeps a journal, the in-memory projection store.
    """

    outbox: Outbox | None = None
    """None: ``KafkaOutbox`` over the app's topics."""
    read_range: RangeReader | None = None
    """None: ``streams.ranges`` over the broker."""
    write_table: board.TableWriter | None = None
    """None: ``streams.engine.write_through``."""
    store: ProjectionStore | None = None
    """None: ``PgStore`` when a database URL is set (no projections without one)."""
    sources: Callable[[], Sources] | None = None
    """None: clients of every bookmaker with a base URL in the settings, made on the first run."""
    control: Callable[[schedule.Scheduler], None] | None = None
    """None: every worker follows ``odds.control`` on the broker; a twin is handed the scheduler."""


@dataclass(frozen=True, slots=True)
class Worker:
    """One worker as built: the Faust app, its topics by contract name, its tables, its agents by name."""

    app: faust.App
    channels: Mapping[str, TopicT]
    tables: Tables
    agents: Mapping[str, AgentT[Any]]
    routes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Every mounted route: its path and methods (the OpenAPI document must name each)."""


def _faust_app(settings: Settings) -> faust.App:
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=settings.kafka_url,
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.kafka_replication_factor,
        producer_acks=-1 if settings.kafka_acks == "all" else int(settings.kafka_acks),
        broker_credentials=faust_credentials(settings),
        topic_allow_declare=True,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(settings.session_timeout_s / 5, 0.5),
        broker_rebalance_timeout=max(settings.session_timeout_s * 2, 20.0),
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.advertised_host,
        web_in_thread=False,
        # only the routes of the API are served (agents.openapi describes each): not Faust's own
        # table and router pages, which read any table to anyone
        web_router_enabled=False,
        web_tables_enabled=False,
        web_cors_options=access.cors_options(settings.cors_origins),
        logging_config=logging_config(settings.log_level),
        worker_redirect_stdouts=False,
        stream_wait_empty=False,
        producer_linger=timedelta(milliseconds=5).total_seconds(),
        # a board's changelog record is ~19 KB, over the 16 KB default: every board write was a
        # batch of its own, and aiokafka has one request in flight per broker, so a batch of
        # boards drained a few records per round trip (bench/README.md); the broker's default
        # limit on a record batch is 1 MB
        producer_max_batch_size=512 * 1024,
        table_cleanup_interval=60.0,
        # no standby replicas: with them, a worker that kept partitions through a rebalance
        # sometimes never fetched them again (reproduced by tests/integration/test_board.py)
        table_standby_replicas=0,
    )
    # per app, not per class; "auto" idempotence was resolved against the broker at start
    engine.install_durable_producer(app, idempotent=settings.kafka_idempotence == "on")
    return app


class _Pages:
    """Mounts module-level view functions ``f(view, request, **path_params)``; mutating ones behind the
    token when one is set (``agents.access``); remembers every route for the OpenAPI document."""

    def __init__(self, app: faust.App, token: str | None) -> None:
        self.app = app
        self.token = token
        self.routes: list[tuple[str, tuple[str, ...]]] = []

    def __call__(self, path: str, **methods: Callable[..., Awaitable[Response]]) -> None:
        def handler(fn: Callable[..., Awaitable[Response]]) -> Callable[..., Awaitable[Response]]:
            async def method(self: View, request: Request, **params: Any) -> Response:
                return await fn(self, request, **params)

            return method

        if self.token is not None:
            methods = {m: access.guarded(fn, self.token) if m in access.MUTATING else fn for m, fn in methods.items()}
        self.app.page(path)(type("View", (View,), {name: handler(fn) for name, fn in methods.items()}))
        self.routes.append((path, tuple(methods)))


def _asset(body: str, content_type: str) -> Callable[..., Awaitable[Response]]:
    async def get(view: View, request: Request) -> Response:
        return view.text(body, content_type=content_type, headers={"cache-control": "no-cache"})

    return get


class _Agents:
    """Mounts agents on the app and remembers, per topic, whether each reader stores what it applied."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.readers: dict[str, list[engine.AppliedOffsets | None]] = {}
        self.agents: dict[str, AgentT[Any]] = {}

    def add(
        self,
        name: str,
        specs: tuple[topics.TopicSpec, ...],
        body: Callable[[StreamT[bytes]], Awaitable[None]],
        applied: engine.AppliedOffsets | None = None,
    ) -> None:
        """Agent ``name`` on the topics of ``specs``; ``applied``: how to ask what it applied, when it
        stores its offsets with its state."""

        async def agent(stream: StreamT[bytes]) -> None:
            await body(stream)

        channel = engine.raw_channel(self.app, *(self.settings.topic(spec.name) for spec in specs))
        self.agents[name] = self.app.agent(channel, name=name, concurrency=1)(agent)
        for spec in specs:
            self.readers.setdefault(self.settings.topic(spec.name), []).append(applied)

    def tracked(self) -> list[engine.Tracked]:
        """The topics whose every reader stores its offsets: the keeper can go by them."""
        return [
            engine.Tracked(topic, tuple(a for a in applied if a is not None))
            for topic, applied in self.readers.items()
            if None not in applied
        ]


class _Sources:
    """The worker's bookmaker clients, made on the first run and shared by every run; closed at stop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.session: aiohttp.ClientSession | None = None
        self.sources: Sources | None = None

    def __call__(self) -> Sources:
        if self.session is None or self.session.closed or self.sources is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
            self.sources = Sources(self.settings.bookmaker_urls, self.session)
        return self.sources

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def create_app(settings: Settings, edges: Edges | None = None) -> Worker:
    """Build the worker of ``settings``: every agent, table, timer and web view on one Faust app."""
    edges = edges or Edges()
    configure_logging(settings.log_level)
    app = _faust_app(settings)
    partitions = settings.topic_partitions
    channels = {
        spec.name: engine.raw_channel(app, settings.topic(spec.name), partitions=partitions) for spec in topics.TOPICS
    }
    made = {spec.name: engine.make_table(app, spec, partitions) for spec in topics.TABLES}
    tables = Tables(
        boards=made[topics.BOARDS.name],
        runs=made[topics.RUNS_TABLE.name],
        dead_letters=made[topics.DEAD_LETTER_INDEX.name],
    )
    outbox = edges.outbox or KafkaOutbox(channels)
    read_range = edges.read_range or range_reader(settings)
    agents = _Agents(app, settings)
    stoppers: list[Callable[[], Awaitable[None]]] = []

    # -- scraping ------------------------------------------------------------------------------------
    sources = _Sources(settings)
    scraper = scrape.Scraper(outbox, edges.sources or sources)
    agents.add("scrape-requests", (topics.SCRAPE_REQUESTS,), partial(scrape.forward, outbox=outbox))
    agents.add("scrape", (topics.SCRAPE_QUEUE,), partial(scrape.consume, scraper=scraper))
    stoppers += [partial(scrape.close, scraper), sources.close]
    # the schedule: folded from odds.control by every worker; the leader's ticker requests the runs
    scheduler = schedule.Scheduler(default_schedule(settings.scrape_interval_s), outbox)
    if edges.control is None:

        @app.task
        async def follow_control() -> None:
            await control.follow(settings, CONTROL_TYPES, scheduler.apply, outbox.dead_letter, scheduler.loaded)
    else:
        edges.control(scheduler)

    @app.timer(1.0, on_leader=True)
    async def schedule_ticker() -> None:
        await schedule.ticker(scheduler, utc_now())

    # -- the board ------------------------------------------------------------------------------------
    the_board = board.Board(tables.boards, outbox, read_range, edges.write_table or engine.write_through)
    agents.add("board", (topics.OBSERVED,), partial(board.consume, board=the_board), board.applied(tables.boards))

    # -- runs -----------------------------------------------------------------------------------------
    the_runs = runs.Runs(tables.runs, outbox, settings.stale_after_s, partitions, channels[topics.RUNS.name])
    run_topics = (topics.SCRAPE_REQUESTS, topics.RUNS, topics.RUN_CHECKS)
    agents.add("runs", run_topics, partial(runs.consume, runs=the_runs))

    @app.timer(settings.stale_check_interval_s)
    async def watchdog() -> None:
        await runs.watchdog(the_runs, utc_now())

    # -- dead letters ---------------------------------------------------------------------------------
    letters = deadletters.Letters(app, tables.dead_letters, settings.topic(topics.DEAD_LETTERS.name), partitions)
    agents.add("dead-letters", (topics.DEAD_LETTERS,), partial(deadletters.consume, letters=letters))

    # -- projections ----------------------------------------------------------------------------------
    checks: dict[str, Callable[[], Awaitable[None]]] = {"broker": partial(check_broker, settings)}
    store = edges.store
    history_reader: line_history.HistoryReader | None = None
    if settings.database_url:
        db_engine = make_engine(settings.database_url)
        history_reader = line_history.HistoryReader(db_engine)
        checks["database"] = partial(check_database, db_engine, timeout_s=2.0)
        stoppers.append(db_engine.dispose)
        if store is None:
            pg = PgStore(database_url=settings.database_url, retention_days=settings.history_retention_days)
            stoppers.append(pg.close)
            store = pg

            @app.timer(retention.CHECK_INTERVAL_S)
            async def history_retention() -> None:
                await retention.sweep(pg)

    if store is not None:
        projector = projection_agents.Projector(store, outbox, read_range)
        for projection in PROJECTIONS:
            body = partial(projection_agents.consume, projector=projector, projection=projection)
            agents.add(f"projection-{projection.name}", projection.topics, body, projector.applied(projection))

    # -- the keeper: committed offsets follow what the readers of each topic applied --------------------
    app.timer(KEEPER_INTERVAL_S)(engine.Keeper(app, agents.tracked()).keep)

    # -- views ----------------------------------------------------------------------------------------
    page = _Pages(app, settings.api_token)
    about = {"broker": settings.kafka_bootstrap, "app_id": settings.app_id}
    health = views.Health(app, checks, settings.topic(topics.OBSERVED.name), about)
    boards = views.Boards(
        app, tables.boards, channels[topics.OBSERVED.name], partitions, zone=ZoneInfo(settings.trader_tz)
    )
    page("/health", get=partial(views.health, h=health))
    page("/odds/events", get=partial(views.events, b=boards))
    past = None if history_reader is None else history_reader.boards_at
    page("/odds/events/{sportradar_id}", get=partial(views.event, b=boards, past=past))
    page("/odds/events/{sportradar_id}/history", get=partial(line_history.history, reader=history_reader))
    page(
        "/odds/events/{sportradar_id}/history/markets", get=partial(line_history.history_markets, reader=history_reader)
    )
    changes = stream.Streams.of(settings)  # each open stream reads odds.changes itself; ended at stop
    page("/odds/stream", get=partial(stream.stream, s=changes))
    stoppers.append(changes.close)
    page("/runs", get=partial(runs.runs_list, runs=the_runs))
    page("/runs/stats", get=partial(runs.runs_stats, runs=the_runs))  # before /runs/{run_id}
    page("/runs/{run_id}", get=partial(runs.run_detail, runs=the_runs))
    page("/runs/{run_id}/retry", post=partial(runs.retry, runs=the_runs))
    page("/scrape", post=partial(runs.scrape, runs=the_runs))
    page("/schedule", get=partial(schedule.get, s=scheduler), post=partial(schedule.post, s=scheduler))
    page("/dead-letters", get=partial(deadletters.dead_letters, letters=letters))
    counted = [
        metrics.Table(topics.BOARDS, tables.boards, settings.topic(topics.OBSERVED.name)),
        metrics.Table(topics.RUNS_TABLE, tables.runs, settings.topic(topics.RUNS.name)),
        metrics.Table(topics.DEAD_LETTER_INDEX, tables.dead_letters, settings.topic(topics.DEAD_LETTERS.name)),
    ]
    collector = metrics.WorkerCollector(app, counted, counted[1], letters, partitions)
    page("/metrics", get=partial(metrics.metrics, registry=metrics.served(collector)))
    for path, body_text, content_type in dashboard.assets():
        page(path, get=_asset(body_text, content_type))
    api = openapi.document(version("oddstream"), token_required=settings.api_token is not None)
    page("/openapi.json", get=partial(openapi.openapi, doc=api))

    @app.on_before_shutdown.connect
    async def _stop(app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        for stop in stoppers:
            await stop()

    return Worker(app, channels, tables, agents.agents, tuple(page.routes))
