"""``billing dev`` as a process of its own for end-to-end tests: start it, read its banner, stop it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BILLING = Path(sys.executable).with_name("billing")
BANNER = {
    "base_url": re.compile(r"billing dev is up at (\S+)"),
    "api_key": re.compile(r"API key \(demo tenant\): (\S+)"),
    "simulator": re.compile(r"Gateway simulator: (\S+)"),
    "database_url": re.compile(r"export DATABASE_URL='([^']+)'"),
}


def clean_environment() -> dict[str, str]:
    """This process's environment without the settings a test must not pass on to ``billing dev``."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "RABBITMQ_URL", "BILLING_"))}


def read_banner(proc: subprocess.Popen[str], deadline: float) -> dict[str, str]:
    found: dict[str, str] = {}
    assert proc.stdout is not None
    seen = []
    while time.monotonic() < deadline and len(found) < len(BANNER):
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        for key, pattern in BANNER.items():
            match = pattern.search(line)
            if match:
                found[key] = match.group(1)
    assert len(found) == len(BANNER), "billing dev did not come up:\n" + "".join(seen[-40:])
    return found


def start_dev(env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """``billing dev --port 0`` with ``env``, once its banner is printed: the process and the banner's values."""
    command = [str(BILLING), "dev", "--port", "0"]
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, read_banner(proc, time.monotonic() + 120)


def drain(proc: subprocess.Popen[str]) -> list[str]:
    """Keep reading the process's output in a thread, so its logs never fill the pipe; the lines so far."""
    lines: list[str] = []
    assert proc.stdout is not None
    stream = proc.stdout

    def read() -> None:
        for line in stream:
            lines.append(line)

    threading.Thread(target=read, name="billing-dev-output", daemon=True).start()
    return lines


def stop_dev(proc: subprocess.Popen[str], sig: signal.Signals) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
