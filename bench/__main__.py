"""`python -m bench [--quick] [--events N] [--repeat R] ...`: runs the benchmark and prints one table."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

from bench import harness, report

FULL = {"events": 2000, "latency_seconds": 8.0, "emit_samples": 300, "baseline_seconds": 3.0}
QUICK = {"events": 300, "latency_seconds": 2.0, "emit_samples": 60, "baseline_seconds": 1.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer events and shorter runs (under a minute)")
    parser.add_argument("--events", type=int, help="events per throughput run (default 2000, quick 300)")
    parser.add_argument("--latency-seconds", type=float, help="length of each latency run (default 8, quick 2)")
    parser.add_argument("--emit-samples", type=int, help="emit() calls timed per rule count (default 300, quick 60)")
    parser.add_argument("--baseline-seconds", type=float, help="length of each baseline loop (default 3, quick 1)")
    parser.add_argument(
        "--rule-counts", default="1,100,10000", help="other rules stored besides the 2 matching (default 1,100,10000)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="run everything this many times; print the medians")
    parser.add_argument(
        "--smtp-sink",
        choices=("fast", "aiosmtpd"),
        default="fast",
        help="the SMTP server behind the sinks (default fast; aiosmtpd costs ~1 ms of CPU per message)",
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5", help="its db is FLUSHDB'd")
    parser.add_argument("--json", type=Path, help="also write every run's raw figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    defaults = QUICK if args.quick else FULL
    options = harness.Options(
        events=args.events or defaults["events"],
        latency_seconds=args.latency_seconds or defaults["latency_seconds"],
        emit_samples=args.emit_samples or defaults["emit_samples"],
        rule_counts=tuple(int(count) for count in args.rule_counts.split(",")),
        baseline_seconds=args.baseline_seconds or defaults["baseline_seconds"],
        smtp_sink=args.smtp_sink,
        database_url=args.database_url,
        redis_url=args.redis_url,
    )
    began = time.monotonic()

    def progress(step: str) -> None:
        print(f"[{time.monotonic() - began:6.1f}s] {step}", file=sys.stderr, flush=True)

    runs = harness.run(options, repeat=args.repeat, progress=progress)
    medians = report.median_results(runs)
    print(
        report.render(
            medians,
            runs=len(runs),
            events=options.events,
            smtp_sink=options.smtp_sink,
            now=lambda: datetime.datetime.now(datetime.UTC),
        )
    )
    if args.json:
        args.json.write_text(json.dumps({"options": vars(options), "runs": runs, "median": medians}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
