"""The one table: medians over the runs, ratios against the baselines, and the issue's targets."""

from __future__ import annotations

import datetime
import os
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Results

ROUTES = {"tls": "email-tls", "plain": "email-plain"}


def derived(results: Results) -> Results:
    """Ratios of one run, taken within the run since absolute figures drift between runs."""
    counts = sorted(int(key.split(".")[1]) for key in results if key.startswith("emit.") and key.endswith(".ms"))
    out = dict(results)
    for transport, route in ROUTES.items():
        out[f"ratio.b.{transport}"] = results[f"{route}.w2"] / results[f"baseline.b.{transport}"]
        out[f"ratio.b_pipelined.{transport}"] = results[f"{route}.w2"] / results[f"baseline.b_pipelined.{transport}"]
        out[f"ratio.a.{transport}"] = results[f"{route}.w2"] / results[f"baseline.a.{transport}"]
    out["ratio.c"] = results["webhook.w2"] / results["baseline.c"]
    out["emit.growth"] = results[f"emit.{counts[-1]}.ms"] / results[f"emit.{counts[0]}.ms"] - 1
    out["emit.extra_queries"] = results[f"emit.{counts[-1]}.queries"] - results[f"emit.{counts[0]}.queries"]
    return out


def median_results(runs: list[Results]) -> Results:
    """Each figure's median over the runs (ratios are derived per run first)."""
    per_run = [derived(run) for run in runs]
    return {key: statistics.median(run[key] for run in per_run) for key in per_run[0]}


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal:")
    )
    return f"{os.cpu_count()} CPUs ({model}), {mem_kib / 1024 / 1024:.1f} GiB RAM"


@dataclass(frozen=True)
class Row:
    label: str
    tls: str
    plain: str = ""
    target: str = ""


def _rate(value: float) -> str:
    return f"{value:,.0f}"


def _latency(results: Results, route: str, prefix: str = "latency") -> str:
    return "{:.0f} / {:.0f} / {:.0f}".format(*(results[f"{prefix}.{route}.{p}"] for p in ("p50", "p95", "p99")))


def _check(ok: bool, text: str) -> str:
    return f"{text}: {'met' if ok else 'MISSED'}"


def rows(results: Results) -> list[Row]:
    counts = sorted(int(key.split(".")[1]) for key in results if key.startswith("emit.") and key.endswith(".ms"))
    tls_p99 = results["latency.email-tls.p99"]
    hook_p99 = results["latency.webhook.p99"]
    table = [
        Row("Email deliveries/s, 1 worker process", _rate(results["email-tls.w1"]), _rate(results["email-plain.w1"])),
        Row("Email deliveries/s, 2 worker processes", _rate(results["email-tls.w2"]), _rate(results["email-plain.w2"])),
        Row(
            "Email events/s end to end (emit() and delivery at once), 2 workers",
            _rate(results["email-tls.e2e"]),
            _rate(results["email-plain.e2e"]),
        ),
        Row(
            "(a) new SMTP connection per message, msg/s",
            _rate(results["baseline.a.tls"]),
            _rate(results["baseline.a.plain"]),
        ),
        Row(
            "(b) one persistent SMTP connection (ceiling), msg/s",
            _rate(results["baseline.b.tls"]),
            _rate(results["baseline.b.plain"]),
        ),
        Row(
            "    SMTP sink CPU per message during (b), us",
            f"{results['smtp_sink_us.tls']:.0f}",
            f"{results['smtp_sink_us.plain']:.0f}",
        ),
        Row(
            "Email, 2 workers / ceiling (b)",
            f"{results['ratio.b.tls']:.0%}",
            f"{results['ratio.b.plain']:.0%}",
            _check(results["ratio.b.tls"] >= 0.5, ">= 50%"),
        ),
        Row(
            "(b') the same, MAIL/RCPT/DATA pipelined, msg/s",
            _rate(results["baseline.b_pipelined.tls"]),
            _rate(results["baseline.b_pipelined.plain"]),
        ),
        Row(
            "Email, 2 workers / pipelined ceiling (b')",
            f"{results['ratio.b_pipelined.tls']:.0%}",
            f"{results['ratio.b_pipelined.plain']:.0%}",
            "(no target)",
        ),
        Row(
            "Email, 2 workers / baseline (a)",
            f"{results['ratio.a.tls']:.1f}x",
            f"{results['ratio.a.plain']:.1f}x",
            _check(results["ratio.a.tls"] >= 3, ">= 3x"),
        ),
        Row(
            "Email event-to-delivered p50 / p95 / p99, ms",
            _latency(results, "email-tls"),
            _latency(results, "email-plain"),
            _check(tls_p99 < 100, "p99 < 100"),
        ),
        Row(
            "    at events/s (half of the end-to-end capacity)",
            _rate(results["latency.email-tls.rate"]),
            _rate(results["latency.email-plain.rate"]),
        ),
        Row(
            "    emitters' own lag p99 (late starts of emit()), ms",
            f"{results['latency.email-tls.emit_lag_p99']:.0f}",
            f"{results['latency.email-plain.emit_lag_p99']:.0f}",
        ),
        Row(
            "    p50 / p95 / p99 at half of the delivery capacity, ms",
            _latency(results, "email-tls", "latency_drain"),
            _latency(results, "email-plain", "latency_drain"),
        ),
        Row(
            "        at events/s (half of 2-worker deliveries/s)",
            _rate(results["latency_drain.email-tls.rate"]),
            _rate(results["latency_drain.email-plain.rate"]),
        ),
        Row(
            "        emitters' own lag p99, ms",
            f"{results['latency_drain.email-tls.emit_lag_p99']:.0f}",
            f"{results['latency_drain.email-plain.emit_lag_p99']:.0f}",
        ),
        Row("Webhook deliveries/s, 1 worker process", _rate(results["webhook.w1"])),
        Row("Webhook deliveries/s, 2 worker processes", _rate(results["webhook.w2"])),
        Row("Webhook events/s end to end (emit() and delivery at once), 2 workers", _rate(results["webhook.e2e"])),
        Row("(c) one keep-alive HTTP session (ceiling), req/s", _rate(results["baseline.c"])),
        Row("    HTTP sink alone, raw keep-alive socket, req/s", _rate(results["http_sink"])),
        Row(
            "Webhook, 2 workers / ceiling (c)",
            f"{results['ratio.c']:.0%}",
            "",
            _check(results["ratio.c"] >= 0.5, ">= 50%"),
        ),
        Row(
            "Webhook event-to-delivered p50 / p95 / p99, ms",
            _latency(results, "webhook"),
            "",
            _check(hook_p99 < 100, "p99 < 100"),
        ),
        Row("    at events/s (half of the end-to-end capacity)", _rate(results["latency.webhook.rate"])),
        Row(
            "    emitters' own lag p99 (late starts of emit()), ms",
            f"{results['latency.webhook.emit_lag_p99']:.0f}",
        ),
        Row(
            "    p50 / p95 / p99 at half of the delivery capacity, ms",
            _latency(results, "webhook", "latency_drain"),
        ),
        Row("        at events/s (half of 2-worker deliveries/s)", _rate(results["latency_drain.webhook.rate"])),
        Row("        emitters' own lag p99, ms", f"{results['latency_drain.webhook.emit_lag_p99']:.0f}"),
    ]
    for count in counts:
        table.append(
            Row(
                f"emit(), 2 matching + {count:,} other rules: queries, ms (p25)",
                f"{results[f'emit.{count}.queries']:.0f}, {results[f'emit.{count}.ms']:.2f}",
            )
        )
    table += [
        Row(
            f"emit() with {counts[-1]:,} vs {counts[0]:,} other rules: time, queries",
            f"{results['emit.growth']:+.0%}, {results['emit.extra_queries']:+.0f}",
            "",
            _check(results["emit.growth"] < 0.10 and results["emit.extra_queries"] == 0, "< +10%, +0"),
        ),
        Row("Worker peak RSS (VmHWM), MiB", f"{results['rss_mib']:.0f}"),
    ]
    return table


def render(results: Results, *, runs: int, events: int, smtp_sink: str, now: Callable[[], datetime.datetime]) -> str:
    table = rows(results)
    head = Row("", "STARTTLS", "plaintext", "target (STARTTLS)")
    widths = [max(len(getattr(row, name)) for row in [head, *table]) for name in ("label", "tls", "plain", "target")]

    def line(row: Row) -> str:
        return (
            f"{row.label:<{widths[0]}}  {row.tls:>{widths[1]}}  {row.plain:>{widths[2]}}  {row.target:<{widths[3]}}"
        ).rstrip()

    title = (
        f"Notification pipeline benchmark, median of {runs} run{'s' if runs > 1 else ''}, "
        f"{events} events per throughput run, SMTP sink: {smtp_sink}"
    )
    rule = "  ".join("-" * width for width in widths)
    return "\n".join([title, f"{machine()}, {now():%Y-%m-%d %H:%M %Z}", "", line(head), rule, *map(line, table)])
