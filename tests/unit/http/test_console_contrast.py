"""The console's colour pairs meet WCAG 2.1 AA contrast (4.5:1 for text), read from its stylesheet."""

from __future__ import annotations

import re
from pathlib import Path

import billing
import pytest

CSS = (Path(billing.__file__).parent / "http" / "console" / "static" / "console.css").read_text()
VARIABLES = dict(re.findall(r"--([a-z]+):\s*(#[0-9a-fA-F]{6})", CSS.split("}", 1)[0]))

# (text, background) as the stylesheet pairs them: body text, muted text, links and statuses on the page
# and on the soft panels, button text on its fill, notices and errors on their tints.
PAIRS = [
    ("fg", "bg"), ("fg", "soft"), ("muted", "bg"), ("muted", "soft"), ("accent", "bg"), ("accent", "soft"),
    ("ok", "bg"), ("warn", "bg"), ("bad", "bg"), ("#ffffff", "accent"), ("#ffffff", "bad"),
    ("ok", "#e6f4ea"), ("bad", "#fdecea"), ("fg", "#cfe3f7"), ("fg", "#cdebd5"), ("fg", "#e7f7e3"),
    ("#ffffff", "fg"),
]  # fmt: skip


def _colour(name: str) -> str:
    return name if name.startswith("#") else VARIABLES[name]


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(_colour(a)), _luminance(_colour(b))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_stylesheet_declares_the_colours_the_pairs_use() -> None:
    assert {"fg", "bg", "muted", "accent", "ok", "warn", "bad", "soft"} <= VARIABLES.keys()
    for pair in PAIRS:
        for colour in pair:
            assert colour.startswith("#") or colour in VARIABLES
            assert colour not in ("#cfe3f7", "#cdebd5", "#e7f7e3", "#e6f4ea", "#fdecea") or colour in CSS


@pytest.mark.parametrize(("text", "background"), PAIRS)
def test_text_on_its_background_meets_aa(text: str, background: str) -> None:
    assert contrast(text, background) >= 4.5, f"{text} on {background}: {contrast(text, background):.2f}:1"


def test_the_check_itself_refuses_a_pale_pair() -> None:
    assert contrast("#999999", "#ffffff") < 4.5
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
