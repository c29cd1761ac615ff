"""Checks the services the suite needs before pytest starts, so a missing one is named plainly.

Under CI=true PostgreSQL and Redis on 127.0.0.1 are required; elsewhere a missing one is reported
and the tests that need it skip with a message saying what to start.
"""

import os
import socket
import sys

SERVICES = {"PostgreSQL": ("127.0.0.1", 5432), "Redis": ("127.0.0.1", 6379)}


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def main() -> int:
    ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    missing = [name for name, address in SERVICES.items() if not reachable(*address)]
    for name in missing:
        host, port = SERVICES[name]
        print(f"preflight: {name} is not reachable on {host}:{port}", file=sys.stderr)
    if missing and ci:
        print("preflight: CI=true needs PostgreSQL and Redis; start them and run again.", file=sys.stderr)
        return 1
    if missing:
        print("preflight: tests that need them will skip (SQLite is used without PostgreSQL).", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
