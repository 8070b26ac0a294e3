"""Every README figure that names its record matches that record.

A figure is followed by a comment naming where it comes from:

    0.929 [0.921, 0.939]<!-- results/banking77/cells/3a32dfea....json metrics.macro_f1 -->

The test reads the record's field (a metric gives its value and CI; a plain number is a number),
rounds it to the decimals the README prints, and compares. A figure copied wrong, or left behind
when its record was recomputed, fails here with the line it is on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"-?\d[\d,]*(?:\.\d+)?"
# A number, optionally its CI in brackets, a % sign, then the comment naming record and field.
FIGURE = re.compile(rf"(?P<value>{NUMBER})(?P<percent>%)?(?: \[(?P<low>{NUMBER}), (?P<high>{NUMBER})\])?"
                    r"\s*<!-- (?P<record>results/\S+\.json) (?P<field>[\w.]+) -->")


def cited_figures(text: str) -> list[tuple[int, re.Match]]:
    return [(text.count("\n", 0, m.start()) + 1, m) for m in FIGURE.finditer(text)]


def field_of(record: dict, path: str) -> object:
    value: object = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(path)
        value = value[part]
    return value


def printed(number: float, like: str, percent: bool) -> str:
    """`number` as the README prints `like`: its decimals, thousands commas, percent."""
    decimals = len(like.split(".")[1]) if "." in like else 0
    number = number * 100 if percent else number
    text = f"{number:,.{decimals}f}" if "," in like else f"{number:.{decimals}f}"
    return text


def check(line: int, m: re.Match) -> list[str]:
    path = ROOT / m["record"]
    if not path.is_file():
        return [f"README.md:{line}: {m['record']} is not a committed record"]
    try:
        value = field_of(json.loads(path.read_text(encoding="utf-8")), m["field"])
    except KeyError:
        return [f"README.md:{line}: {m['record']} has no field {m['field']}"]
    metric = value if isinstance(value, dict) else {"value": value}
    wrong = []
    for part, key in (("value", "value"), ("low", "ci_low"), ("high", "ci_high")):
        if m[part] is None:
            continue
        want = printed(float(metric[key]), m[part], bool(m["percent"])) \
            if metric.get(key) is not None else "none"
        if want != m[part]:
            wrong.append(f"README.md:{line}: {m[part]} ({part}) but {m['record']} "
                         f"{m['field']} gives {want}")
    return wrong


def test_cited_figures_match_their_records():
    figures = cited_figures((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(figures) >= 5, "README cites too few figures: has the comment syntax changed?"
    problems = [p for line, m in figures for p in check(line, m)]
    assert problems == []


@pytest.mark.parametrize("figure, ok", [
    ("0.929 [0.921, 0.939]", True),   # the record's value and CI, rounded as printed
    ("0.930 [0.921, 0.939]", False),  # a value copied wrong
    ("0.929 [0.921, 0.940]", False),  # a CI bound copied wrong
    ("92.9%", True),                  # as a percentage
    ("0.93", True),                   # fewer decimals, still the same figure
])
def test_a_wrong_figure_is_caught(figure, ok):
    record = "results/banking77/cells/3a32dfeae9130fd57a322d3d.json"
    ((line, m),) = cited_figures(f"{figure}<!-- {record} metrics.macro_f1 -->")
    assert (check(line, m) == []) is ok
