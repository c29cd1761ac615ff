"""A small run of the benchmark (bench/, `make bench`), so that it cannot rot: every row of its table
is produced, with sane values. No timing is asserted: figures on a shared machine say little."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.worker import database_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

ROWS = (
    "Email deliveries/s, 1 worker process",
    "Email deliveries/s, 2 worker processes",
    "(a) new SMTP connection per message, msg/s",
    "(b) one persistent SMTP connection (ceiling), msg/s",
    "SMTP sink CPU per message during (b), us",
    "Email, 2 workers / ceiling (b)",
    "(b') the same, MAIL/RCPT/DATA pipelined, msg/s",
    "Email, 2 workers / baseline (a)",
    "Email event-to-delivered p50 / p95 / p99, ms",
    "Webhook deliveries/s, 1 worker process",
    "Webhook deliveries/s, 2 worker processes",
    "(c) one keep-alive HTTP session (ceiling), req/s",
    "HTTP sink alone, raw keep-alive socket, req/s",
    "Webhook, 2 workers / ceiling (c)",
    "Webhook event-to-delivered p50 / p95 / p99, ms",
    "emit(), 2 matching + 1 other rules: queries, ms (p25)",
    "emit(), 2 matching + 100 other rules: queries, ms (p25)",
    "emit() with 100 vs 1 other rules: time, queries",
    "Worker peak RSS (VmHWM), MiB",
)


def test_a_small_run_prints_the_whole_table(require_postgres, redis_url, tmp_path):
    from django.db import connection

    # A database of its own beside the test database: the harness creates and empties it.
    settings = {**connection.settings_dict, "NAME": f"{connection.settings_dict['NAME']}_bench_smoke"}
    out = tmp_path / "bench.json"
    command = [
        sys.executable,
        "-m",
        "bench",
        "--quick",
        "--events=12",
        "--latency-seconds=0.5",
        "--emit-samples=5",
        "--baseline-seconds=0.2",
        "--rule-counts=1,100",
        f"--database-url={database_url(settings)}",
        f"--redis-url={redis_url}",
        f"--json={out}",
    ]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)

    assert run.returncode == 0, run.stderr[-4000:]
    for row in ROWS:
        assert row in run.stdout, f"{row!r} missing from:\n{run.stdout}"
    figures = json.loads(out.read_text())["median"]
    assert figures["deliveries"] >= 12 * 9  # every throughput and latency run delivered all it emitted
    for key, value in figures.items():
        assert math.isfinite(value), (key, value)
        assert value >= 0 or key == "emit.growth", (key, value)
    throughputs = ("email-tls.w2", "email-plain.w2", "webhook.w2", "baseline.c")
    for key in (*throughputs, "baseline.a.tls", "baseline.b.tls", "baseline.b_pipelined.tls"):
        assert figures[key] > 0, key
    assert figures["emit.1.queries"] == figures["emit.100.queries"] > 0
    assert 0 < figures["latency.email-tls.p50"] <= figures["latency.email-tls.p99"]
    assert 0 < figures["rss_mib"] < 4096
