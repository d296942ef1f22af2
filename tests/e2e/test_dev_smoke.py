"""`billing dev` with no environment: embedded Postgres, in-process tokens, the simulator.

Posts the README's quick-start example and follows it to `completed`.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from support.dev_server import BILLING, ROOT, clean_environment, start_dev, stop_dev
from support.rabbit import RABBITMQ_URL


def readme_example() -> tuple[str, dict[str, object]]:
    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- dev-example:start -->", 1)[1].split("<!-- dev-example:end -->", 1)[0]
    path = re.search(r'curl -s -X POST "\$BILLING_URL(/[^"\s]+)"', block)
    body = re.search(r"-d '(\{.*?\})'", block, re.S)
    assert path and body, "README quick start lost its curl example"
    return path.group(1), json.loads(body.group(1))


def run_readme_example(env: dict[str, str], cwd: Path) -> None:
    """Start ``billing dev`` with ``env``, post the README's example, follow it to ``completed``."""
    proc, banner = start_dev(env, cwd)
    try:
        path, body = readme_example()
        headers = {"X-Billing-API-Key": banner["api_key"]}
        with httpx.Client(base_url=banner["base_url"], headers=headers, timeout=10) as client:
            answer = client.post(path, json=body)
            assert answer.status_code == 202, answer.text
            accepted = answer.json()
            status_url = accepted["status_url"]
            status: dict[str, object] = {}
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                status = client.get(status_url).json()
                if status["status"] == "completed":
                    break
                time.sleep(0.5)
            assert status.get("status") == "completed", status
            assert status["sent"] == accepted["accepted"] == len(body["contacts"])  # type: ignore[arg-type]
            # The simulator posts delivery receipts to the webhook function: read counts follow.
            deadline = time.monotonic() + 30
            while status["read"] != status["sent"] and time.monotonic() < deadline:
                time.sleep(0.2)
                status = client.get(status_url).json()
            assert status["delivered"] == status["read"] == status["sent"], status
        # The printed DATABASE_URL lets the operator CLI reach the same (possibly embedded) database.
        watch = subprocess.run(
            [str(BILLING), "queue", "watch", accepted["queue_id"], "--once"],
            env={**env, "DATABASE_URL": banner["database_url"]},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert watch.returncode == 0, watch.stderr
        assert json.loads(watch.stdout)["status"] == "completed"
        messages = httpx.get(f"{banner['simulator']}/_sim/messages", timeout=10).json()
        texts = [m["text"] for m in (messages["messages"] if isinstance(messages, dict) else messages)]
        assert len(texts) == len(body["contacts"])  # type: ignore[arg-type]
        assert all("R$" in text for text in texts)
    finally:
        code = stop_dev(proc, signal.SIGINT)
    assert code == 0


@pytest.mark.slow
def test_billing_dev_serves_the_readme_example_to_completion(tmp_path: Path) -> None:
    """No configuration at all: embedded PostgreSQL, in-process token delivery."""
    env = clean_environment()
    env["BILLING_DEV_DATA_DIR"] = str(tmp_path / "dev-data")
    env["BILLING_LOG_FORMAT"] = "text"
    run_readme_example(env, tmp_path)


@pytest.mark.slow
def test_billing_dev_with_real_services_delivers_through_rabbitmq_and_the_connector(
    tmp_path: Path, database_url: str, broker_prefix: str
) -> None:
    env = clean_environment()
    env.update(
        DATABASE_URL=database_url,
        RABBITMQ_URL=RABBITMQ_URL,
        BILLING_BROKER_QUEUE_PREFIX=broker_prefix,
        BILLING_DEV_DATA_DIR=str(tmp_path / "dev-data"),
        BILLING_LOG_FORMAT="text",
    )
    run_readme_example(env, tmp_path)


def postgres_processes(data_dir: Path) -> list[int]:
    """Pids of PostgreSQL servers whose command line names ``data_dir``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "postgres" in cmdline and str(data_dir) in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_billing_dev_stops_its_postgres_on_every_signal_and_starts_again_on_the_same_data(
    tmp_path: Path, sig: signal.Signals
) -> None:
    import socket

    with socket.socket() as probe:  # a free port for the simulator, fixed across the two runs
        probe.bind(("127.0.0.1", 0))
        sim_port = probe.getsockname()[1]
    env = clean_environment()
    data = tmp_path / "dev-data"
    env.update(BILLING_DEV_DATA_DIR=str(data), BILLING_DEV_SIMULATOR_PORT=str(sim_port))
    pgdata = data / "pg"
    proc, banner = start_dev(env, tmp_path)
    assert postgres_processes(pgdata), "the embedded PostgreSQL should be running"
    assert stop_dev(proc, sig) == 0
    assert postgres_processes(pgdata) == []
    # A holder that died without a word (SIGKILL, a crash) used to keep PostgreSQL running forever.
    (pgdata / ".handle_pids.json").write_text(json.dumps([2**22 + 17]))
    proc, again = start_dev(env, tmp_path)
    assert stop_dev(proc, signal.SIGINT) == 0
    assert postgres_processes(pgdata) == []
    # Instances pointed at the simulator survive a restart: it keeps its port.
    assert banner["simulator"] == again["simulator"] == f"http://127.0.0.1:{sim_port}"


@pytest.mark.slow
def test_ctrl_c_during_start_up_still_stops_the_embedded_postgres(tmp_path: Path) -> None:
    """A Ctrl-C that lands before the banner (PostgreSQL up, migrations running) used to raise
    KeyboardInterrupt past the cleanup and leave PostgreSQL running; now it asks for the same shutdown."""
    env = clean_environment()
    data = tmp_path / "dev-data"
    env["BILLING_DEV_DATA_DIR"] = str(data)
    proc = subprocess.Popen(
        [str(BILLING), "dev", "--port", "0"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    while not postgres_processes(data / "pg"):
        assert proc.poll() is None and time.monotonic() < deadline, "the embedded PostgreSQL did not start"
        time.sleep(0.02)
    assert stop_dev(proc, signal.SIGINT) == 0  # type: ignore[arg-type]
    assert postgres_processes(data / "pg") == []


@pytest.mark.slow
def test_billing_smoke_sends_one_notification_through_billing_dev_and_names_what_is_wrong(tmp_path: Path) -> None:
    env = clean_environment()
    env["BILLING_DEV_DATA_DIR"] = str(tmp_path / "dev-data")
    proc, banner = start_dev(env, tmp_path)

    def smoke(url: str, key: str) -> tuple[int, dict[str, object]]:
        argv = [str(BILLING), "smoke", "--url", url, "--key", key, "--phone", "+5511999990000", "--timeout", "60"]
        done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=90, env=env)
        return done.returncode, json.loads(done.stdout)

    try:
        code, result = smoke(banner["base_url"], banner["api_key"])
        assert code == 0, result
        assert (result["ok"], result["status"], result["sent"]) == (True, "completed", 1)
        code, result = smoke(banner["base_url"], "bk_wrongkey_" + "x" * 43)
        assert code == 1 and "send answered 401" in str(result["problem"])
        code, result = smoke("http://127.0.0.1:1", banner["api_key"])
        assert code == 1 and "cannot reach" in str(result["problem"])
    finally:
        assert stop_dev(proc, signal.SIGINT) == 0


@pytest.mark.slow
def test_billing_dev_delivers_signed_erp_webhooks_as_the_batch_goes_out(tmp_path: Path) -> None:
    """An endpoint added with the CLI receives the Quick start batch's events from ``billing dev`` within
    seconds (the events server's listener wakes the deliverer), in order, each signature valid."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from standardwebhooks import Webhook

    received: list[tuple[dict[str, str], bytes]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    erp = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=erp.serve_forever, daemon=True).start()
    env = clean_environment()
    env["BILLING_DEV_DATA_DIR"] = str(tmp_path / "dev-data")
    proc, banner = start_dev(env, tmp_path)
    try:
        cli_env = {**env, "DATABASE_URL": banner["database_url"], "RABBITMQ_URL": ""}
        url = f"http://127.0.0.1:{erp.server_port}/hooks"
        argv = [str(BILLING), "endpoint", "add", "--tenant", "demo", "--url", url, "--events", "queue.*,contact.sent"]
        added = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60, env=cli_env)
        secret = json.loads(added.stdout)["secret"]
        path, body = readme_example()
        headers = {"X-Billing-API-Key": banner["api_key"]}
        answer = httpx.post(banner["base_url"] + path, json=body, headers=headers, timeout=10)
        assert answer.status_code == 202, answer.text
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(b'"queue.completed"' in b for _, b in received):
            time.sleep(0.1)
    finally:
        assert stop_dev(proc, signal.SIGINT) == 0
        erp.shutdown()
    types = [json.loads(b)["type"] for _, b in received]
    assert types == ["queue.started", "contact.sent", "contact.sent", "queue.completed"], types
    ids = [h["webhook-id"] for h, _ in received]
    assert len(set(ids)) == len(ids)
    for headers_, raw in received:
        Webhook(secret).verify(raw, headers_)
