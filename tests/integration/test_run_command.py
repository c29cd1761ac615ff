"""`make run` on embedded defaults: serves the admin and runs a worker that delivers, with no
database server and no broker server (SQLite and the filesystem broker under a fresh DATA_DIR)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _embedded_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE", "MAKEFLAGS", "MAKELEVEL"}
    }
    env.update(
        DATA_DIR=str(data_dir),
        PORT=str(port),
        WORKER_CONCURRENCY="1",
        WEB_CONCURRENCY="1",
        NOTIFICATION_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8",
        DJANGO_SUPERUSER_USERNAME="admin",
        DJANGO_SUPERUSER_PASSWORD="run-test-password-1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "notification", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def running_service(tmp_path: Path):
    port = _free_port()
    env = _embedded_env(tmp_path / "data", port)
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            try:
                if requests.get(f"{base}/admin/login/", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet, or the first request is slow on a busy machine
            time.sleep(0.5)
        else:
            pytest.fail(
                "make run did not serve /admin/login/ within 120 s:\n" + (tmp_path / "run.log").read_text()[-3000:]
            )
        yield base, env, tmp_path / "run.log"
    finally:
        # Ctrl-C, as a person would stop it: honcho stops web, worker and beat.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def test_make_run_serves_the_admin_and_its_worker_delivers(running_service, webhook_receiver):
    base, env, log_path = running_service
    login = requests.get(f"{base}/admin/login/", timeout=30)
    assert "Log in" in login.text
    stylesheet = next(
        part.split('"')[0] for part in login.text.split('href="')[1:] if part.split('"')[0].endswith(".css")
    )
    assert requests.get(f"{base}{stylesheet}", timeout=30).status_code == 200  # static files in production mode

    receiver = webhook_receiver()
    channel = json.loads(
        _cli(
            env,
            "channel",
            "create",
            "--name",
            "run-hook",
            "--channel-type",
            "webhook",
            "--config",
            json.dumps({"url": receiver.url}),
            "--json",
        )
    )
    _cli(
        env,
        "rule",
        "create",
        "--name",
        "run-rule",
        "--event-type",
        "notification.test",
        "--channel",
        channel["id"],
        "--message-template",
        "hello {{ message }}",
    )
    _cli(
        env, "event", "emit", "--event-type", "notification.test", "--payload", json.dumps({"message": "from make run"})
    )

    [request] = receiver.wait_for(1, timeout=60)
    assert request.text == "hello from make run"
    deliveries = json.loads(_cli(env, "delivery", "list", "--json"))
    assert [delivery["status"] for delivery in deliveries] == ["sent"]
    log = log_path.read_text()
    assert "SMTP notification provider status at startup" in log
    assert "127.0.0.1:" in log and "/admin/" in log  # the URLs it serves are printed
