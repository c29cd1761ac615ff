"""One benchmark run: sinks, database, baselines, emit() cost, workers, throughput and latency.

The harness is a Django process on the bench settings (config.settings.base, PostgreSQL, Redis);
the workers are real `celery worker` processes (solo pool: one process each) on the same settings.
Every figure comes from timestamps taken at the sinks, matched to the deliveries by id.

Throughput: N events are emitted through `emit()` while the workers' consumers are cancelled, so
that the backlog is in Redis; the consumers are then added back and deliveries/s is N over the time
from that moment to the last message received. Latency: events are emitted open loop at a fixed
rate (half the measured 2-worker capacity) and each is timed from its scheduled emit time to its
receipt at the sink, so a late emitter counts against the service, not in its favour.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import math
import multiprocessing
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench import baselines, sinks

ROOT = Path(__file__).resolve().parent.parent
CELERY = Path(sys.executable).with_name("celery")
SMTP_CREDENTIALS = ("bench-user", "bench-password-5ecret")
SIGNING_SECRET = "bench-signing-secret-0123456789"
# A fixed Fernet key: the bench database holds nothing but bench fixtures.
ENCRYPTION_KEY = "q6N6SGQkHnlcR6k3gmG7fE8mdXbIh9UQJ7Zgq3ZRHQ0="
EVENT_TYPE = "session.started"
EMIT_COST_EVENT_TYPE = "session.terminated"
OTHER_EVENT_TYPES = (
    "session.started",
    "artifact.download.completed",
    "endpoint.lifecycle.changed",
    "notification.test",
)
EMITTER_THREADS = 4
# The latency run's producers: processes, and threads in each (a commit waits ~2 ms for the disk).
EMITTER_PROCESSES = 6
EMITTER_PROCESS_THREADS = 1
EMIT_COST_ROUNDS = 10
BASELINE_IDS = frozenset({"baseline", "capacity"})  # what the baselines send, as Message-ID or header
MESSAGE_TEMPLATE = (
    "Session {{ session_name }} ({{ session_id }}) is {{ status }}.\n"
    "Type: {{ session_type }}, cluster mode: {{ cluster_mode }}.\n"
)
SUBJECT_TEMPLATE = "[{{ event_type }}] {{ session_id }} {{ status }}"
WEBHOOK_TEMPLATE = '{"text": "Session {{ session_id }} is {{ status }}", "event_id": "{{ event_id }}"}'
TRUNCATED_TABLES = (
    "notifications_deliveryattempt",
    "notifications_delivery",
    "notifications_event",
    "notifications_rule",
    "notifications_channel",
    "providers_notificationprovider",
    "core_auditentry",
)


@dataclass(frozen=True)
class Options:
    events: int
    latency_seconds: float
    emit_samples: int
    rule_counts: tuple[int, ...]
    baseline_seconds: float
    smtp_sink: str
    database_url: str
    redis_url: str
    worker_log_level: str = "INFO"


Results = dict[str, float]


# --- Processes ------------------------------------------------------------------------------


class Sink:
    """A sink process and the receipts collected from it so far (first receipt per id)."""

    def __init__(self, name: str, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.name = name
        self.conn, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, *args), name=f"bench-{name}", daemon=True)
        self.process.start()
        if not self.conn.poll(30):
            raise RuntimeError(f"the {name} sink did not start")
        _, self.port = self.conn.recv()
        self.received: dict[str, float] = {}  # since the last reset
        self.seen: set[str] = set()  # over the whole run, to count duplicates across phases
        self.duplicates = 0
        self.baseline_messages = 0
        self.cpu_seconds = 0.0

    def collect(self) -> None:
        self.conn.send("collect")
        receipts, self.cpu_seconds = self.conn.recv()
        for delivery_id, at in receipts:
            if delivery_id in BASELINE_IDS:
                self.baseline_messages += 1
            elif delivery_id in self.seen:
                self.duplicates += 1
            else:
                self.seen.add(delivery_id)
                self.received[delivery_id] = at

    def reset(self) -> None:
        self.collect()
        self.received.clear()

    def stop(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self.conn.send("stop")
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def node(self) -> str:
        return f"{self.name}@{os.uname().nodename}"

    def answers_ping(self) -> bool:
        from config.celery import app

        return bool(app.control.ping(destination=[self.node], timeout=0.5))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM in /proc/<pid>/status")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_worker(index: int, env: dict[str, str], run_dir: Path, log_level: str) -> Worker:
    name = f"bench-{index}-{os.getpid()}"
    log_path = run_dir / f"{name}.log"
    command = [
        str(CELERY),
        "-A",
        "config",
        "worker",
        "--pool=solo",
        f"--loglevel={log_level}",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    worker = Worker(name=name, process=process, log_path=log_path)
    deadline = time.monotonic() + 60
    while not worker.answers_ping():
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"worker {name} did not start:\n{log_path.read_text(errors='replace')[-3000:]}")
    return worker


# --- Environment and database ---------------------------------------------------------------


def django_environment(options: Options, run_dir: Path, ca_bundle: Path) -> dict[str, str]:
    """The settings of the harness and the workers: production settings on the bench's own services."""
    return {
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": options.database_url,
        "CELERY_BROKER_URL": options.redis_url,
        "DATA_DIR": str(run_dir / "data"),
        "SECRET_KEY": "bench-only-secret-key",
        "NOTIFICATION_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "NOTIFICATION_SMTP_CA_BUNDLE": str(ca_bundle),
        "NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "NOTIFICATION_SMTP_ALLOWED_NETWORKS": "127.0.0.0/8",
        "OTEL_TRACES_EXPORTER": "none",
    }


def ensure_database(database_url: str) -> None:
    """Creates the bench database when it does not exist (on the maintenance database of its server)."""
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def reset_state(redis_url: str) -> None:
    """Migrates, empties the service's tables and the broker's Redis db (FLUSHDB on that db only)."""
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TRUNCATED_TABLES)} CASCADE")
    flush_broker(redis_url)


def vacuum_tables() -> None:
    """VACUUM ANALYZE of the service's tables, as autovacuum would do between phases.

    Each phase leaves dead rows behind (two updates per delivery; the emit() cost phase stores and
    deletes 10,000 rules), and a server run with autovacuum off, as this machine's is, would keep
    them: the rule lookup of every later emit() then reads thousands of dead index entries, which
    measures the server's maintenance settings rather than the service."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in TRUNCATED_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")


def wait_for_idle_workers(redis_url: str, workers: list[Worker], timeout: float = 120) -> float:
    """When the workers finished their last task: the queue and kombu's unacked set (the tasks a
    worker holds, acks_late) are both empty. Returns that time (time.time())."""
    import redis

    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    try:
        while client.llen("celery") or client.hlen("unacked"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers still had tasks after {timeout} s: {[w.name for w in workers]}")
            time.sleep(0.01)
        return time.time()
    finally:
        client.close()


def flush_broker(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


# --- Fixtures -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixtures:
    rules: dict[str, Any]  # route -> Rule: email-tls (provider), email-plain (own smtp block), webhook


def create_fixtures(smtp_tls: Sink, smtp_plain: Sink, http: Sink) -> Fixtures:
    from core.actors import SystemActor
    from notifications.services import channel_create, rule_create
    from providers.services import notification_provider_create

    actor = SystemActor("bench")
    notification_provider_create(
        actor=actor,
        provider="smtp",
        name="Bench relay",
        config={
            "relay": sinks.HOST,
            "port": smtp_tls.port,
            "insecure": False,
            "from_email": "no-reply@example.com",
            "from_name": "Notification Service",
            "admin_panel_url": "https://admin.example.com",
            "username": SMTP_CREDENTIALS[0],
            "password": SMTP_CREDENTIALS[1],
        },
    )
    recipients = {"to_emails": ["ops@example.com"]}
    channels = {
        "email-tls": channel_create(
            actor=actor, name="bench-email-tls", channel_type="email", config={"message": recipients}
        ),
        "email-plain": channel_create(
            actor=actor,
            name="bench-email-plain",
            channel_type="email",
            config={
                "message": {**recipients, "from_email": "alerts@example.com"},
                "smtp": {"host": sinks.HOST, "port": smtp_plain.port, "use_tls": False, "timeout": 10},
                "auth": {"username": SMTP_CREDENTIALS[0], "password": SMTP_CREDENTIALS[1]},
            },
        ),
        "webhook": channel_create(
            actor=actor,
            name="bench-webhook",
            channel_type="webhook",
            config={"url": f"http://{sinks.HOST}:{http.port}/hook", "signing_secret": SIGNING_SECRET},
        ),
    }
    rules = {
        route: rule_create(
            actor=actor,
            name=f"bench-{route}",
            event_type=EVENT_TYPE,
            channel=channel,
            message_template=WEBHOOK_TEMPLATE if route == "webhook" else MESSAGE_TEMPLATE,
            subject_template="" if route == "webhook" else SUBJECT_TEMPLATE,
            enabled=False,
        )
        for route, channel in channels.items()
    }
    return Fixtures(rules=rules)


def only_route(fixtures: Fixtures, route: str) -> None:
    """Enables the rule of one route, so an event makes exactly one delivery through it."""
    from notifications.models import Rule

    Rule.objects.filter(pk__in=[rule.pk for rule in fixtures.rules.values()]).update(enabled=False)
    Rule.objects.filter(pk=fixtures.rules[route].pk).update(enabled=True)


def _payload(index: int) -> dict[str, Any]:
    return {
        "session_id": f"s-{index}",
        "session_name": f"training-run-{index}",
        "session_type": "batch",
        "cluster_mode": "single-node",
        "status": "RUNNING",
    }


# --- Emitting -------------------------------------------------------------------------------


_sequence = itertools.count()


def emit_one() -> list[str]:
    from core.actors import SystemActor
    from notifications.services import emit

    result = emit(actor=SystemActor("bench"), event_type=EVENT_TYPE, payload=_payload(next(_sequence)))
    return [str(delivery.pk) for delivery in result.deliveries]


def _in_thread(job: Callable[[], Any]) -> Callable[[], Any]:
    """Runs `job` and closes the thread's database connection after it."""

    def run() -> Any:
        from django.db import connection

        try:
            return job()
        finally:
            connection.close()

    return run


def emit_backlog(count: int) -> list[str]:
    """`count` events through emit(), from a few threads; returns the delivery ids."""
    shares = [count // EMITTER_THREADS + (1 if i < count % EMITTER_THREADS else 0) for i in range(EMITTER_THREADS)]

    def emit_many(share: int) -> Callable[[], list[str]]:
        return _in_thread(lambda: [delivery_id for _ in range(share) for delivery_id in emit_one()])

    with ThreadPoolExecutor(EMITTER_THREADS) as pool:
        futures = [pool.submit(emit_many(share)) for share in shares if share]
        return [delivery_id for future in futures for delivery_id in future.result()]


def wait_for(sink: Sink, ids: list[str], *, timeout: float, workers: list[Worker]) -> list[float]:
    """Receipt times of `ids`, once all have arrived; fails with the workers' logs after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        sink.collect()
        missing = [delivery_id for delivery_id in ids if delivery_id not in sink.received]
        if not missing:
            return [sink.received[delivery_id] for delivery_id in ids]
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {w.name}\n{w.log_path.read_text(errors='replace')[-2000:]}" for w in workers)
            raise RuntimeError(f"{len(missing)} of {len(ids)} deliveries did not reach the {sink.name} sink\n{logs}")
        time.sleep(0.02)


# --- Phases ---------------------------------------------------------------------------------


@dataclass
class Bench:
    options: Options
    env: dict[str, str]
    run_dir: Path
    ca_bundle: Path
    sinks: dict[str, Sink]
    fixtures: Fixtures | None = None
    workers: list[Worker] = field(default_factory=list)

    def sink_for(self, route: str) -> Sink:
        return self.sinks[{"email-tls": "smtp-tls", "email-plain": "smtp-plain", "webhook": "http"}[route]]

    # Workers and their consumers.

    def add_worker(self) -> None:
        env = {**os.environ, **self.env, "LOG_LEVEL": self.options.worker_log_level, "PYTHONUNBUFFERED": "1"}
        self.workers.append(start_worker(len(self.workers) + 1, env, self.run_dir, self.options.worker_log_level))

    def _control(self, method: str) -> None:
        from config.celery import app

        names = [worker.node for worker in self.workers]
        replies = getattr(app.control, method)("celery", destination=names, reply=True, timeout=10)
        if len(replies) != len(names):
            raise RuntimeError(f"{method}: {len(replies)} of {len(names)} workers answered")

    @contextlib.contextmanager
    def consumers_paused(self) -> Iterator[None]:
        self._control("cancel_consumer")
        try:
            yield
        finally:
            self._control("add_consumer")

    # Measurements.

    def warm_up(self, count: int = 20) -> None:
        """A few deliveries per route, so that connections are open and templates compiled."""
        assert self.fixtures is not None
        for route in self.fixtures.rules:
            only_route(self.fixtures, route)
            ids = [delivery_id for _ in range(count) for delivery_id in emit_one()]
            wait_for(self.sink_for(route), ids, timeout=60, workers=self.workers)

    def throughput(self, route: str) -> tuple[float, float]:
        """Deliveries/s draining a backlog of N events through the running workers, and the workers'
        CPU milliseconds per delivery.

        The run ends when the last message has arrived and the queue is empty: a delivery sent in
        another's batch still has its own task, which finds it claimed and ends, and that work is
        part of what a delivery costs."""
        assert self.fixtures is not None
        only_route(self.fixtures, route)
        vacuum_tables()
        sink = self.sink_for(route)
        with self.consumers_paused():
            ids = emit_backlog(self.options.events)
            sink.reset()
            cpu_before = sum(worker.cpu_seconds() for worker in self.workers)
            started = time.time()
        received = wait_for(sink, ids, timeout=max(60.0, self.options.events / 10), workers=self.workers)
        drained = wait_for_idle_workers(self.options.redis_url, self.workers)
        cpu = sum(worker.cpu_seconds() for worker in self.workers) - cpu_before
        return len(ids) / (max(*received, drained) - started), cpu / len(ids) * 1000

    def end_to_end(self, route: str) -> float:
        """Events/s from emit() to delivered with the producers and the workers on the machine
        together, as in the latency runs: N events emitted flat out by EMITTER_PROCESSES producer
        processes while the workers deliver them. Ends when the last has reached its sink."""
        assert self.fixtures is not None
        only_route(self.fixtures, route)
        vacuum_tables()
        sink = self.sink_for(route)
        sink.reset()
        start = time.time() + 1  # time to fork and connect: the producers are ready when it starts
        emitted, _ = _emit_from_producers([start] * self.options.events)
        received = wait_for(sink, list(emitted), timeout=max(60.0, self.options.events / 10), workers=self.workers)
        return len(emitted) / (max(received) - start)

    def latency(self, route: str, rate: float) -> dict[str, float]:
        """p50/p95/p99 of event-to-delivered at `rate` events/s, open loop, from EMITTER_PROCESSES
        producer processes (as a service's producers are: one Python process cannot emit much more
        than 300 events/s, and a late emitter counts against the service)."""
        assert self.fixtures is not None
        only_route(self.fixtures, route)
        vacuum_tables()
        sink = self.sink_for(route)
        sink.reset()
        count = max(20, round(rate * self.options.latency_seconds))
        start = time.time() + 0.5
        emitted, lags = _emit_from_producers([start + i / rate for i in range(count)])
        ids = list(emitted)
        received = wait_for(sink, ids, timeout=60, workers=self.workers)
        latencies = sorted((at - emitted[delivery_id]) * 1000 for delivery_id, at in zip(ids, received, strict=True))
        return {
            "rate": rate,
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "emit_lag_p99": percentile(sorted(lag * 1000 for lag in lags), 99),
        }


def _emit_from_producers(scheduled: list[float]) -> tuple[dict[str, float], list[float]]:
    """Emits one event at each scheduled time (time.time()) from EMITTER_PROCESSES forked producer
    processes; returns each delivery id's scheduled time, and how late each emit started."""
    from django.db import connections

    connections.close_all()  # the forked emitters open their own
    # As the service's own processes do after start-up (config/wsgi.py, config/celery.py): the
    # emitters' full collections then skip what the harness loaded, which would stall them.
    gc.freeze()
    with multiprocessing.get_context("fork").Pool(EMITTER_PROCESSES) as pool:
        shares = pool.map(_emit_on_schedule, [scheduled[i::EMITTER_PROCESSES] for i in range(EMITTER_PROCESSES)])
    emitted = {delivery_id: at for share_emitted, _ in shares for delivery_id, at in share_emitted.items()}
    return emitted, [lag for _, share_lags in shares for lag in share_lags]


def _emit_on_schedule(scheduled: list[float]) -> tuple[dict[str, float], list[float]]:
    """In an emitter process: emits one event at each scheduled time, from EMITTER_PROCESS_THREADS threads;
    returns each delivery id's scheduled time and how late each emit started."""
    from django.conf import settings
    from django.db import connection

    from core.redis_clients import redis_client

    emitted: dict[str, float] = {}
    lags: list[float] = []
    lock = threading.Lock()
    indexes = iter(range(len(scheduled)))

    def emitter() -> None:
        # Connected before the first scheduled emit, as a producer's long-lived process would be.
        connection.ensure_connection()
        redis_client(settings.CELERY_BROKER_URL).ping()
        while True:
            with lock:
                index = next(indexes, None)
            if index is None:
                return
            delay = scheduled[index] - time.time()
            if delay > 0:
                time.sleep(delay)
            lag = time.time() - scheduled[index]
            ids = emit_one()
            with lock:
                lags.append(lag)
                emitted.update((delivery_id, scheduled[index]) for delivery_id in ids)

    with ThreadPoolExecutor(EMITTER_PROCESS_THREADS) as pool:
        for future in [pool.submit(_in_thread(emitter)) for _ in range(EMITTER_PROCESS_THREADS)]:
            future.result()
    return emitted, lags


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ordered list."""
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def emit_cost(options: Options) -> Results:
    """SQL queries and time (lower quartile) of emit() with 2 matching rules and 1/100/10,000 others stored.

    The others are rules of other event types, plus one in ten of the same type but disabled. The
    2 matching rules point at a webhook channel; their tasks are dropped from the broker afterwards.
    The samples are taken in EMIT_COST_ROUNDS rounds over the rule counts, so that a neighbour's
    burst on a shared machine falls on every count alike rather than on one.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.actors import SystemActor
    from notifications.models import Channel, Event, Rule
    from notifications.services import emit

    actor = SystemActor("bench")
    channel = Channel.objects.get(name="bench-webhook")
    Rule.objects.bulk_create(
        Rule(name=f"emit-cost-match-{i}", event_type=EMIT_COST_EVENT_TYPE, channel=channel, message_template="{}")
        for i in range(2)
    )
    payload = {**_payload(0), "termination_reason": "done"}

    def store(current: int, target: int) -> None:
        """Makes the stored other rules number `target`: the first `target` of one fixed sequence."""
        others = Rule.objects.filter(name__startswith="emit-cost-other-")
        others.filter(name__gte=f"emit-cost-other-{target:06d}").delete()
        Rule.objects.bulk_create(
            (
                Rule(
                    name=f"emit-cost-other-{i:06d}",
                    event_type=EMIT_COST_EVENT_TYPE if i % 10 == 0 else OTHER_EVENT_TYPES[i % len(OTHER_EVENT_TYPES)],
                    channel=channel,
                    enabled=i % 10 != 0,
                    message_template="{}",
                )
                for i in range(current, target)
            ),
            batch_size=2000,
        )
        with connection.cursor() as cursor:  # as autovacuum would: see vacuum_tables
            cursor.execute("VACUUM ANALYZE notifications_rule")

    results: Results = {}
    times: dict[int, list[float]] = {target: [] for target in options.rule_counts}
    stored = 0
    for _ in range(EMIT_COST_ROUNDS):
        for target in sorted(options.rule_counts):
            store(stored, target)
            stored = target
            for _ in range(5):  # warm-up
                emit(actor=actor, event_type=EMIT_COST_EVENT_TYPE, payload=payload)
            with CaptureQueriesContext(connection) as queries:
                result = emit(actor=actor, event_type=EMIT_COST_EVENT_TYPE, payload=payload)
            if len(result.deliveries) != 2:
                raise RuntimeError(f"emit() made {len(result.deliveries)} deliveries; 2 rules should match")
            results[f"emit.{target}.queries"] = len(queries)
            for _ in range(max(1, options.emit_samples // EMIT_COST_ROUNDS)):
                began = time.perf_counter()
                emit(actor=actor, event_type=EMIT_COST_EVENT_TYPE, payload=payload)
                times[target].append((time.perf_counter() - began) * 1000)
    for target, samples in times.items():
        # The lower quartile: on a shared machine the slow calls measure the neighbours.
        results[f"emit.{target}.ms"] = statistics.quantiles(samples, n=4)[0]
    Rule.objects.filter(name__startswith="emit-cost-").delete()
    Event.objects.filter(event_type=EMIT_COST_EVENT_TYPE).delete()
    return results


# --- Baselines ------------------------------------------------------------------------------


def sample_email() -> tuple[str, list[str], bytes]:
    """What the pipeline sends for one event: (from, recipients, message bytes), rendered and composed
    by the email kind."""
    from email.utils import formatdate

    from notifications import rendering
    from notifications.channel_kinds import get_kind
    from notifications.channel_kinds.email import message_id
    from notifications.channel_kinds.email_mime import compose
    from notifications.models import Channel

    channel = Channel.objects.get(name="bench-email-tls")
    context = rendering.build_context(
        event_type=EVENT_TYPE, payload=_payload(0), event_id="0", admin_panel_url="https://admin.example.com"
    )
    rendered = get_kind("email").render(
        channel=channel, message_template=MESSAGE_TEMPLATE, subject_template=SUBJECT_TEMPLATE, context=context
    )
    email = compose(
        from_email="Notification Service <no-reply@example.com>",
        to=["ops@example.com"],
        subject=rendered.subject,
        text=rendered.body,
        html=rendered.html,
        message_id=message_id("baseline"),
        date=formatdate(usegmt=True),
    )
    return email.envelope_from, list(email.recipients), email.data


def sample_webhook() -> tuple[bytes, dict[str, str]]:
    from notifications import rendering, signing
    from notifications.channel_kinds import get_kind
    from notifications.models import Channel

    channel = Channel.objects.get(name="bench-webhook")
    context = rendering.build_context(event_type=EVENT_TYPE, payload=_payload(0), event_id="0")
    rendered = get_kind("webhook").render(
        channel=channel, message_template=WEBHOOK_TEMPLATE, subject_template="", context=context
    )
    headers = {"Content-Type": rendered.content_type, signing.DELIVERY_ID_HEADER: "baseline"}
    headers.update(signing.signature_headers(SIGNING_SECRET, rendered.body))
    return rendered.body.encode(), headers


def run_baselines(bench: Bench) -> Results:
    seconds = bench.options.baseline_seconds
    count = 1_000_000  # bounded by time
    sender, recipients, message = sample_email()
    context = ssl.create_default_context(cafile=str(bench.ca_bundle))
    results: Results = {}
    for transport, sink_name, tls in (("tls", "smtp-tls", context), ("plain", "smtp-plain", None)):
        sink = bench.sinks[sink_name]
        target = baselines.SmtpTarget(sinks.HOST, sink.port, *SMTP_CREDENTIALS, tls_context=tls)
        kwargs = {"sender": sender, "recipients": recipients, "message": message, "count": count, "seconds": seconds}
        results[f"baseline.a.{transport}"] = baselines.smtp_per_connection(target, **kwargs)
        sink.collect()
        cpu_before = sink.cpu_seconds
        sent_before = sink.baseline_messages
        results[f"baseline.b.{transport}"] = baselines.smtp_persistent(target, **kwargs)
        sink.collect()
        sent = sink.baseline_messages - sent_before
        results[f"smtp_sink_us.{transport}"] = (sink.cpu_seconds - cpu_before) / max(1, sent) * 1e6
        results[f"baseline.b_pipelined.{transport}"] = baselines.smtp_persistent(target, **kwargs, pipelined=True)
    http = bench.sinks["http"]
    body, headers = sample_webhook()
    url = f"http://{sinks.HOST}:{http.port}/hook"
    results["baseline.c"] = baselines.http_keepalive(url, body=body, headers=headers, count=count, seconds=seconds)
    results["http_sink"] = baselines.http_sink_capacity(sinks.HOST, http.port, body=body, count=count, seconds=seconds)
    return results


# --- A whole run ----------------------------------------------------------------------------


def start_sinks(run_dir: Path, smtp_server: str) -> tuple[dict[str, Sink], Path]:
    from tests.support.smtp import make_self_signed_cert

    cert = make_self_signed_cert(run_dir / "tls")
    started = {
        "smtp-tls": Sink(
            "smtp-tls",
            sinks.run_smtp_sink,
            sinks.SmtpSinkOptions(SMTP_CREDENTIALS, cert.cert_path, cert.key_path, server=smtp_server),
        ),
        "smtp-plain": Sink(
            "smtp-plain", sinks.run_smtp_sink, sinks.SmtpSinkOptions(SMTP_CREDENTIALS, server=smtp_server)
        ),
        "http": Sink("http", sinks.run_http_sink),
    }
    return started, cert.cert_path


def run_once(bench: Bench, progress: Callable[[str], None]) -> Results:
    """Every measurement once, from an empty database and broker."""
    from notifications.models import Delivery, DeliveryStatus

    reset_state(bench.options.redis_url)
    bench.fixtures = create_fixtures(bench.sinks["smtp-tls"], bench.sinks["smtp-plain"], bench.sinks["http"])
    progress("baselines")
    results = run_baselines(bench)
    progress("emit() cost")
    results.update(emit_cost(bench.options))
    flush_broker(bench.options.redis_url)
    routes = ("email-tls", "email-plain", "webhook")
    try:
        for count in (1, 2):
            progress(f"{count} worker process{'es' if count > 1 else ''}")
            bench.add_worker()
            bench.warm_up(min(20, bench.options.events))
            for route in routes:
                results[f"{route}.w{count}"], results[f"{route}.w{count}.cpu_ms"] = bench.throughput(route)
                progress(
                    f"  {route}: {results[f'{route}.w{count}']:.0f} deliveries/s, "
                    f"{results[f'{route}.w{count}.cpu_ms']:.2f} ms worker CPU each"
                )
        progress("end to end, 2 worker processes: emit() and delivery on the machine together")
        for route in routes:
            results[f"{route}.e2e"] = bench.end_to_end(route)
            progress(f"  {route}: {results[f'{route}.e2e']:.0f} events/s")
        progress("latency at half of the end-to-end capacity, and at half of the delivery capacity")
        for route in routes:
            for capacity, prefix in ((f"{route}.e2e", "latency"), (f"{route}.w2", "latency_drain")):
                measured = bench.latency(route, rate=results[capacity] / 2)
                results.update({f"{prefix}.{route}.{key}": value for key, value in measured.items()})
                progress(
                    f"  {route}: p50/p99 {measured['p50']:.0f}/{measured['p99']:.0f} ms at {measured['rate']:.0f}/s, "
                    f"emitter lag p99 {measured['emit_lag_p99']:.0f} ms"
                )
        results["rss_mib"] = max(worker.peak_rss_mib() for worker in bench.workers)
    finally:
        for worker in bench.workers:
            worker.stop()
        bench.workers.clear()
    not_sent = Delivery.objects.exclude(status=DeliveryStatus.SENT).count()
    duplicates = sum(sink.duplicates for sink in bench.sinks.values())
    if not_sent or duplicates:
        raise RuntimeError(f"{not_sent} deliveries not sent, {duplicates} duplicate receipts")
    results["deliveries"] = Delivery.objects.count()
    return results


def run(options: Options, *, repeat: int, progress: Callable[[str], None]) -> list[Results]:
    """Starts the sinks, sets Django up on the bench settings, and runs everything `repeat` times."""
    import tempfile

    run_dir = Path(tempfile.mkdtemp(prefix="notification-bench-"))
    started: dict[str, Sink] = {}
    try:
        started, ca_bundle = start_sinks(run_dir, options.smtp_sink)
        env = django_environment(options, run_dir, ca_bundle)
        os.environ.update({**env, "LOG_LEVEL": "WARNING"})
        ensure_database(options.database_url)
        import django

        django.setup()
        bench = Bench(options=options, env=env, run_dir=run_dir, ca_bundle=ca_bundle, sinks=started)
        results = []
        for index in range(repeat):
            progress(f"run {index + 1} of {repeat}")
            results.append(run_once(bench, progress))
        flush_broker(options.redis_url)
        shutil.rmtree(run_dir, ignore_errors=True)
        return results
    except BaseException:
        progress(f"failed; worker logs kept in {run_dir}")
        raise
    finally:
        for sink in started.values():
            sink.stop()
