"""The README's command blocks, run as written against ``billing dev``.

Every block a newcomer runs against ``make dev`` is marked ``<!-- run:NAME -->`` right before its fence
(reference synopses are not). They run in order in one ``bash -euo pipefail`` session in the repository
root, as if typed into one terminal; the ``env`` block gets the values ``billing dev`` printed in place of
its placeholders, and its ``source .venv/bin/activate`` is what puts ``billing`` on PATH.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from support.dev_server import ROOT, clean_environment, drain, start_dev, stop_dev
from support.rabbit import delete_topology

EXPECTED = ("env", "quick-start", "follow", "events", "admin-setup", "admin-list", "admin-queue", "smoke")
# A second terminal session later: the blocks that leave state (a tenant, an instance, an external_id) run again.
AGAIN = ("env", "quick-start", "follow", "admin-setup")
# The variables of the env block, and the banner values they hold.
PRINTED = {"BILLING_URL": "base_url", "BILLING_KEY": "api_key", "SIM_URL": "simulator", "DATABASE_URL": "database_url"}
MARK = re.compile(r"<!-- run:([\w-]+) -->\n```(?:bash)?\n(.*?)^```$", re.S | re.M)
ASSIGNMENT = re.compile(r"^export ([A-Z_]+)=\S*(\s+#.*)?$", re.M)
VENV_BIN = ROOT / ".venv" / "bin"
SMOKE_PHONE = "5511999990000"


def marked_blocks() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    found = MARK.findall(text)
    assert len(found) == text.count("<!-- run:"), "a <!-- run:NAME --> mark is not right before a fenced block"
    blocks = dict(found)
    assert len(blocks) == len(found), "two blocks share a name"
    return blocks


def with_printed_values(env_block: str, banner: dict[str, str]) -> str:
    """The env block with the values ``billing dev`` printed in place of its placeholders."""

    def value(match: re.Match[str]) -> str:
        return f"export {match.group(1)}={shlex.quote(banner[PRINTED[match.group(1)]])}"

    return ASSIGNMENT.sub(value, env_block)


def newcomer_environment() -> dict[str, str]:
    """Another terminal: none of the test's settings, and the virtualenv not yet on PATH."""
    env = clean_environment()
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN)
    return env


# --- which commands a block runs ------------------------------------------------------------------------

OPERATOR_CHARS = "();<>|&\n"
LEADS_TO_A_COMMAND = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!", "time", "{"})


def command_words(block: str) -> set[str]:
    """The command names ``block`` runs, command substitutions included.

    Bash reads the block first (as a function body it only prints back, never runs): comments and line
    continuations are gone and every command ends its line."""
    printed = subprocess.run(
        ["bash", "-c", f"__block() {{\n{block}\n}}\ndeclare -f __block"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return _commands(printed.split("{", 1)[1].rsplit("}", 1)[0])


def _commands(text: str) -> set[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=OPERATOR_CHARS)
    lexer.whitespace, lexer.whitespace_split, lexer.commenters = " \t\r", True, ""
    words: set[str] = set()
    at_start, redirect = True, False
    for token in lexer:
        if all(c in OPERATOR_CHARS for c in token):
            redirect = any(c in "<>" for c in token)
            at_start = any(c in token for c in ";|&(\n") and not redirect
            continue
        words |= _substituted(token)
        if redirect:
            redirect = False
        elif at_start and not re.match(r"[A-Za-z_]\w*=", token) and token not in LEADS_TO_A_COMMAND:
            words.add(token)
            at_start = False
    return words


def _substituted(token: str) -> set[str]:
    """The commands of every ``$(...)`` inside one word (``"erp-$(date +%s)"``)."""
    words: set[str] = set()
    start = token.find("$(")
    while start != -1:
        depth, end = 0, start + 1
        for end in range(start + 1, len(token)):
            depth += {"(": 1, ")": -1}.get(token[end], 0)
            if depth == 0:
                break
        words |= _commands(token[start + 2 : end])
        start = token.find("$(", end)
    return words


def missing_commands(words: set[str], path: str) -> list[str]:
    builtins = subprocess.run(["bash", "-c", "compgen -b; compgen -k"], capture_output=True, text=True, check=True)
    known = set(builtins.stdout.split())
    return sorted(
        word
        for word in words
        if word not in known and not (os.access(ROOT / word, os.X_OK) if "/" in word else shutil.which(word, path=path))
    )


# --- the tests ------------------------------------------------------------------------------------------


def test_every_block_a_newcomer_runs_is_marked_in_order() -> None:
    assert tuple(marked_blocks()) == EXPECTED


def test_the_env_block_puts_billing_on_path_and_names_what_the_banner_prints() -> None:
    env_block = marked_blocks()["env"]
    assert "source .venv/bin/activate" in env_block.splitlines()[0]
    assert [m.group(1) for m in ASSIGNMENT.finditer(env_block)] == list(PRINTED)


def test_every_command_of_the_marked_blocks_is_on_path() -> None:
    path = os.pathsep.join([str(VENV_BIN), newcomer_environment()["PATH"]])
    blocks = marked_blocks()
    words = {name: command_words(block) for name, block in blocks.items()}
    assert {"source", "curl", "python", "billing"} <= set().union(*words.values())
    assert command_words('X=$(a "b-$(c)" | d) # e\nf > g; h && ! i\\\n  j') == {"a", "c", "d", "f", "h", "i"}
    missing = {name: missing_commands(found, path) for name, found in words.items()}
    assert not any(missing.values()), f"commands not on PATH after `source .venv/bin/activate`: {missing}"


def run_in_one_terminal(scripts: list[tuple[str, str]], env: dict[str, str], workdir: Path) -> dict[str, str]:
    """Run each script as a marked block, in order, in one ``bash -euo pipefail``; each block's output.

    A line ``@@ NAME`` starts each block's output and ``@@ end`` follows the last: a block that fails
    stops the session (``-e``), so the last marker names it. When each block started goes to a file."""
    clock = workdir / "started.txt"
    clock.write_text("")
    driver = []
    for position, (name, script) in enumerate([*scripts, ("end", "")]):
        path = workdir / f"{position:02d}-{name}.sh"
        path.write_text(script + "\n")
        marker = f"printf '\\n@@ %s\\n' {name}"
        started = f'echo "{name} $EPOCHREALTIME" >> {shlex.quote(str(clock))}'
        driver += [marker, f"{marker} >&2", started, f"source {shlex.quote(str(path))}"]
    (workdir / "session.sh").write_text("\n".join(driver) + "\n")
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", str(workdir / "session.sh")],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=150)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    outputs, errors = by_block(out), by_block(err)
    reached = [name for name in outputs if name != "end"]
    last = reached[-1] if reached else "(none)"
    times = [line.split() for line in clock.read_text().splitlines()]
    took = {name: round(float(end) - float(start), 1) for (name, start), (_, end) in itertools.pairwise(times)}
    assert proc.returncode == 0 and "end" in outputs, (
        f"README block {last!r} failed (exit {proc.returncode}; seconds per block {took}):\n"
        f"--- stdout\n{outputs.get(last, out)[-3000:]}\n--- stderr\n{errors.get(last, err)[-3000:]}"
    )
    assert reached == [name for name, _ in scripts]
    return outputs


def by_block(text: str) -> dict[str, str]:
    parts = re.split(r"\n@@ (\S+)\n", "\n" + text)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def last_json(text: str) -> dict[str, object]:
    """The last JSON object a block printed (CLI answers are indented JSON ending in ``}``)."""
    start = text.rfind("\n{") + 1
    return json.loads(text[start:])  # type: ignore[no-any-return]


@pytest.mark.slow
def test_the_readme_blocks_run_as_written_against_billing_dev(tmp_path: Path) -> None:
    blocks = marked_blocks()
    env = clean_environment()
    env.update(BILLING_DEV_DATA_DIR=str(tmp_path / "dev-data"), BILLING_DEV_SIMULATOR_PORT="0")
    proc, banner = start_dev(env, tmp_path)
    log = drain(proc)
    terminal = newcomer_environment()
    # The CLI publishes tokens to RABBITMQ_URL (by default the local broker): keep them in queues of our own.
    terminal["BILLING_BROKER_QUEUE_PREFIX"] = prefix = f"t{uuid.uuid4().hex[:10]}"
    blocks["env"] = with_printed_values(blocks["env"], banner)
    try:
        first = run_in_one_terminal(list(blocks.items()), terminal, tmp_path)
        again = run_in_one_terminal([(name, blocks[name]) for name in AGAIN], terminal, tmp_path)
        messages = httpx.get(f"{banner['simulator']}/_sim/messages", timeout=10).json()
    finally:
        code = stop_dev(proc, signal.SIGINT)
        delete_topology(prefix)
    assert code == 0, "".join(log[-40:])

    accepted = last_json(first["quick-start"])
    assert accepted["accepted"] == 2, accepted
    assert f"queue {accepted['queue_id']} completed: 2 sent, 0 failed" in first["follow"]
    streamed = re.findall(r"^event: (\S+)$", first["events"], re.M)  # the batch's events, from the start
    assert streamed == ["queue.started", "contact.sent", "contact.sent", "queue.completed"], first["events"]
    assert sum(m["instance"] == "demo" for m in messages) == 2  # the replay created nothing
    assert last_json(again["quick-start"]) == accepted
    assert '"created": true' in first["admin-setup"] and '"created": true' not in again["admin-setup"]
    assert re.search(r"^acme\s+Acme Telecom", first["admin-list"], re.M)
    assert re.search(r"^demo\s+Loja Demo", first["admin-list"], re.M)
    assert '"status": "paused"' in first["admin-queue"]
    assert re.search(r"queue \S+ cancelled: [0-3] sent", first["admin-queue"])
    result = last_json(first["smoke"])
    assert (result["ok"], result["status"], result["sent"]) == (True, "completed", 1), result
    assert sum(m["instance"] == "acme" and m["number"] == SMOKE_PHONE for m in messages) == 1
