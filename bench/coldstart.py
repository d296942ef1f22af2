"""Cold start of every function: process start to the first 2xx on /healthz, and memory once serving.

Each function found under functions/<name>/main.py is started the way the images start it::

    functions-framework --source functions/<name>/main.py --target <name> --port <free port>

with the environment pointing at a local Postgres (health checks must not need it) and THREADS=4 as in
the manifests. /healthz is polled every 10 ms from the moment the process is spawned; the time to the
first 2xx is the cold start. Memory is read once it answers, over the whole process tree (gunicorn
master + worker):

* ``rss_mb``: resident set size of the tree, pages shared by master and worker counted once per
  process (an upper bound, what ``ps`` shows summed);
* ``pss_mb`` (table only): proportional set size of the tree, shared pages split between the
  processes: closest to what the container's memory cgroup is charged.

The table also shows the CPU time (user + system) the tree used until ready: unlike the wall-clock cold
start it barely moves when other work competes for the machine's cores.

Each function is measured ``--repeats`` times (default 3) and the median is reported. Targets (issue 8):
cold start <= 1.0 s, RSS <= 120 MB. A functions-framework "hello world" is measured too, as the floor
the framework itself costs on this machine (table only).

    python bench/coldstart.py            # table
    python bench/coldstart.py --json     # {"<function>": {"cold_start_s": ..., "rss_mb": ...}, ...}
    python bench/coldstart.py --check    # exit 1 when a target is missed
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil  # type: ignore[import-untyped]
from _support import free_port

ROOT = Path(__file__).resolve().parents[1]
FUNCTIONS_DIR = ROOT / "functions"
# The function set, in the order of its table in docs/architecture.md ("The functions")
FUNCTIONS = ("send", "status", "control", "webhook", "console", "sender", "sweeper", "deliverer")
TARGET_COLD_START_S = 1.0
TARGET_RSS_MB = 120.0
POLL_INTERVAL_S = 0.01
START_TIMEOUT_S = 20.0
HELLO_WORLD = """import functions_framework


@functions_framework.http
def hello(request):
    return "ok"
"""


@dataclass(frozen=True)
class Sample:
    cold_start_s: float
    rss_mb: float
    pss_mb: float
    cpu_s: float


def framework_command() -> list[str]:
    script = Path(sys.executable).with_name("functions-framework")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "functions_framework"]


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    env.setdefault("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    env.setdefault("BILLING_LOG_LEVEL", "WARNING")
    env["THREADS"] = env.get("BENCH_THREADS", "4")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def healthz_ok(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1.0)
    try:
        conn.request("GET", "/healthz")
        return 200 <= conn.getresponse().status < 300
    except OSError:
        return False
    finally:
        conn.close()


def tree_usage(pid: int) -> tuple[float, float, float]:
    """(RSS MB, PSS MB, CPU seconds) of a process and its children; MB are MiB, like Kubernetes' Mi."""
    root = psutil.Process(pid)
    rss = pss = 0
    cpu = 0.0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            info = proc.memory_full_info()
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
            times = proc.cpu_times()
            cpu += times.user + times.system
    return rss / 2**20, pss / 2**20, cpu


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the process group this bench started (and only it)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def measure_once(source: Path, target: str, env: dict[str, str]) -> Sample:
    port = free_port()
    command = [*framework_command(), "--source", str(source), "--target", target, "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            while True:
                if healthz_ok(port):
                    elapsed = time.perf_counter() - started
                    break
                if proc.poll() is not None or time.perf_counter() - started > START_TIMEOUT_S:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"{target} did not answer /healthz (exit {proc.poll()}):\n{tail}")
                time.sleep(POLL_INTERVAL_S)
            rss, pss, cpu = tree_usage(proc.pid)
        finally:
            stop(proc)
    return Sample(elapsed, rss, pss, cpu)


def measure(source: Path, target: str, repeats: int, env: dict[str, str]) -> Sample:
    samples = [measure_once(source, target, env) for _ in range(repeats)]
    return Sample(
        statistics.median(s.cold_start_s for s in samples),
        statistics.median(s.rss_mb for s in samples),
        statistics.median(s.pss_mb for s in samples),
        statistics.median(s.cpu_s for s in samples),
    )


def present_functions(selected: list[str] | None) -> list[str]:
    names = selected or list(FUNCTIONS)
    return [name for name in names if (FUNCTIONS_DIR / name / "main.py").is_file()]


def render_table(results: dict[str, Sample], baseline: Sample | None, repeats: int) -> str:
    lines = [
        f"Cold start = process start -> first 2xx on /healthz (median of {repeats}); memory of the process tree.",
        "",
        "| function | cold start (s) | target | CPU to ready (s) | RSS (MB) | PSS (MB) | target RSS | ok |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    rows = list(results.items())
    if baseline is not None:
        rows.append(("(ff hello world)", baseline))
    for name, s in rows:
        ok = s.cold_start_s <= TARGET_COLD_START_S and s.rss_mb <= TARGET_RSS_MB
        lines.append(
            f"| {name} | {s.cold_start_s:.3f} | <= {TARGET_COLD_START_S:.1f} | {s.cpu_s:.2f} "
            f"| {s.rss_mb:.1f} | {s.pss_mb:.1f} | <= {TARGET_RSS_MB:.0f} | {'yes' if ok else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    parser.add_argument("--repeats", type=int, default=3, help="runs per function; the median is reported")
    parser.add_argument("--function", action="append", dest="functions", choices=FUNCTIONS, help="limit to these")
    parser.add_argument("--no-baseline", action="store_true", help="skip the functions-framework hello world")
    parser.add_argument("--check", action="store_true", help="exit 1 when a function misses a target")
    args = parser.parse_args(argv)

    env = bench_env()
    names = present_functions(args.functions)
    if not names:
        print("no function entry points found under functions/", file=sys.stderr)
        return 1
    results = {name: measure(FUNCTIONS_DIR / name / "main.py", name, args.repeats, env) for name in names}

    if args.json:
        print(
            json.dumps(
                {
                    n: {"cold_start_s": round(s.cold_start_s, 3), "rss_mb": round(s.rss_mb, 1)}
                    for n, s in results.items()
                }
            )
        )
    else:
        baseline = None
        if not args.no_baseline:
            with tempfile.TemporaryDirectory() as tmp:
                hello = Path(tmp) / "main.py"
                hello.write_text(HELLO_WORLD, encoding="utf-8")
                baseline = measure(hello, "hello", args.repeats, env)
        print(render_table(results, baseline, args.repeats))

    missed = [n for n, s in results.items() if s.cold_start_s > TARGET_COLD_START_S or s.rss_mb > TARGET_RSS_MB]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
