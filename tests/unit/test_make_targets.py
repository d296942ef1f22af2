"""`make test` runs the suite in several processes, then the tests marked ``serial`` alone, from the files
the Makefile names in ``SERIAL_TESTS``: a serial test in a file missing from that list would be left
out of both runs without anyone noticing."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERIAL_MARK = re.compile(r"^\s*@pytest\.mark\.serial\b", re.MULTILINE)


def _serial_tests_in_makefile() -> set[str]:
    match = re.search(r"^SERIAL_TESTS\s*:?=\s*(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "the Makefile no longer defines SERIAL_TESTS"
    return set(match[1].split())


def _files_with_serial_tests() -> set[str]:
    return {
        str(path.relative_to(ROOT))
        for path in (ROOT / "tests").rglob("test_*.py")
        if SERIAL_MARK.search(path.read_text(encoding="utf-8"))
    }


def test_every_file_with_serial_tests_is_run_alone_by_make_test() -> None:
    marked = _files_with_serial_tests()
    assert marked, "no serial test found: the broker restart test lost its mark"
    assert _serial_tests_in_makefile() == marked


def test_the_parallel_run_leaves_serial_tests_to_the_second_run() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    parallel, alone = [line for line in recipe.splitlines() if "pytest" in line]
    assert '-m "not serial"' in parallel and "-n $(TEST_WORKERS)" in parallel
    assert "-m serial" in alone and "$(SERIAL_TESTS)" in alone and "--cov-append" in alone
