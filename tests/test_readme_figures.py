"""Every README figure that names its record matches that record, and every result figure
names one.

A figure is followed (after an optional unit) by a comment naming where it comes from:

    0.929 [0.921, 0.939]<!-- results/banking77/cells/3a32dfea....json metrics.macro_f1 -->
    537.1 s<!-- results/demo/cells/f6b2....json usage.wall_seconds -->
    987 s<!-- results/BENCHMARKS.md 6a.median -->
    7,148 queries<!-- results/reference/REPRODUCE.md ticket_categorization -->

The test reads the record's field (a metric gives its value and CI; a plain number is a number;
`novelty.0.value` indexes a list), or the benchmark row's column, rounds it to the decimals the
README prints, and compares; a figure derived from several records (a break-even volume) must
appear in its task's verdict in REPRODUCE.md, which is rendered from the records. A figure copied
wrong, or left behind when its record was recomputed, fails here with the line it is on. In the
sections that report results (`RESULT_SECTIONS`), a number with decimals that names no source
fails too: that is how a figure from a run nobody committed gets in.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMBER = r"-?\d[\d,]*(?:\.\d+)?"
# A number, optionally its CI in brackets, a % sign, then the comment naming record and field.
FIGURE = re.compile(rf"(?P<value>{NUMBER})(?P<percent>%)?(?: \[(?P<low>{NUMBER}), (?P<high>{NUMBER})\])?"
                    r"(?: ?(?:s|min|h|GB|GiB|MiB|MB|x|q/s|queries|q))?"
                    r"<!-- (?P<record>results/\S+\.(?:json|md)) (?P<field>[\w.]+) -->")
# The README's sections that report measured results: every figure there names its source.
RESULT_SECTIONS = ("Quick start", "Reference leaderboard", "Banking77 (the built-in ticket data)",
                   "Constrained decoding", "Quantized models: `gguf/<path>`")
# Numbers there that are settings, not measurements: the hardware rate, similarity thresholds,
# the licence's version, the confidence level.
SETTING = re.compile(r"\$0\.10/h|CC BY 4\.0|C?Python 3\.11|(?:[<>]=?|under) ?0\.\d|0\.5-0\.8|95% CI")


def cited_figures(text: str) -> list[tuple[int, re.Match]]:
    return [(text.count("\n", 0, m.start()) + 1, m) for m in FIGURE.finditer(text)]


def field_of(record: dict, path: str) -> object:
    value: object = record
    for part in path.split("."):
        if isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(path)
    return value


def benchmark_cell(path: Path, field: str) -> float:
    """`6a.median` of results/BENCHMARKS.md: the number that cell of row 6a starts with."""
    row_id, _, column = field.partition(".")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells[0] == row_id and column in header:
            found = re.match(NUMBER, cells[header.index(column)])
            if found:
                return float(found[0].replace(",", ""))
    raise KeyError(field)


def printed(number: float, like: str, percent: bool) -> str:
    """`number` as the README prints `like`: its decimals, thousands commas, percent."""
    decimals = len(like.split(".")[1]) if "." in like else 0
    number = number * 100 if percent else number
    text = f"{number:,.{decimals}f}" if "," in like else f"{number:.{decimals}f}"
    return text


def verdict_section(text: str, task: str) -> str:
    """The `### <task> (n = ...)` section of a REPRODUCE.md (harness/reference.py writes it from
    the records, and tests/test_reference.py checks it is current)."""
    found = re.search(rf"^### {re.escape(task)} \(.*?(?=^#|\Z)", text, re.M | re.S)
    return found[0] if found else ""


def check(line: int, m: re.Match) -> list[str]:
    path = ROOT / m["record"]
    if not path.is_file():
        return [f"README.md:{line}: {m['record']} is not a committed record"]
    if path.name == "REPRODUCE.md":  # a figure derived from the records: in its task's verdict
        section = verdict_section(path.read_text(encoding="utf-8"), m["field"])
        if m["value"] in re.findall(NUMBER, section):
            return []
        return [f"README.md:{line}: {m['value']} is not in {m['record']}'s {m['field']} section"]
    try:
        value = benchmark_cell(path, m["field"]) if path.suffix == ".md" else \
            field_of(json.loads(path.read_text(encoding="utf-8")), m["field"])
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


def section_lines(text: str, titles: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line number, line) of the prose in the named sections (to the next heading of the same
    or a higher level), code blocks left out."""
    out, level, fenced = [], None, False
    for number, line in enumerate(text.splitlines(), 1):
        heading = re.match(r"(#+) (.*)", line)
        if heading and not fenced:
            depth = len(heading[1])
            if heading[2] in titles:
                level = depth
                continue
            if level is not None and depth <= level:
                level = None
        if line.startswith("```"):
            fenced = not fenced
            continue
        if level is not None and not fenced:
            out.append((number, line))
    return out


def uncited_figures(text: str) -> list[str]:
    """Numbers with decimals (or a percent sign) in the result sections that name no source."""
    found = []
    for number, line in section_lines(text, RESULT_SECTIONS):
        bare = SETTING.sub("", re.sub(r"`[^`]*`", "", FIGURE.sub("", line)))
        bare = re.sub(r"<!--.*?-->", "", bare)
        for figure in re.findall(r"(?<![\w.])\d[\d,]*\.\d+%?|(?<![\w.])\d+%", bare):
            found.append(f"README.md:{number}: {figure} names no record or benchmark row")
    return found


def test_cited_figures_match_their_records():
    figures = cited_figures((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(figures) >= 5, "README cites too few figures: has the comment syntax changed?"
    problems = [p for line, m in figures for p in check(line, m)]
    assert problems == []


def test_every_result_figure_names_its_source():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(section_lines(text, RESULT_SECTIONS)) > 50, "a result section was renamed"
    assert uncited_figures(text) == []


def test_an_uncited_result_figure_is_caught():
    record = "results/banking77/cells/3a32dfeae9130fd57a322d3d.json"
    text = ("## Reference leaderboard\n\nrag scored 0.866 on an H100; the classifier "
            f"0.929<!-- {record} metrics.macro_f1 --> at `--limit 0.5` and $0.10/h.\n"
            "## Using rvf\n\nnot a result: 0.02\n")
    assert uncited_figures(text) == ["README.md:3: 0.866 names no record or benchmark row"]


@pytest.mark.parametrize("figure, ok", [
    ("0.929 [0.921, 0.939]", True),   # the record's value and CI, rounded as printed
    ("0.930 [0.921, 0.939]", False),  # a value copied wrong
    ("0.929 [0.921, 0.940]", False),  # a CI bound copied wrong
    ("92.9%", True),                  # as a percentage
    ("0.93", True),                   # fewer decimals, still the same figure
    ("0.929 s", True),                # with a unit
])
def test_a_wrong_figure_is_caught(figure, ok):
    record = "results/banking77/cells/3a32dfeae9130fd57a322d3d.json"
    ((line, m),) = cited_figures(f"{figure}<!-- {record} metrics.macro_f1 -->")
    assert (check(line, m) == []) is ok


@pytest.mark.parametrize("figure, ok", [("987 s", True), ("988 s", False), ("3.4 s", False)])
def test_a_benchmark_figure_is_checked_against_its_row(tmp_path, figure, ok, monkeypatch):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "BENCHMARKS.md").write_text(
        "| # | measurement | median | min | max | n |\n|---|---|---|---|---|---|\n"
        "| 6a | default run, cold: wall time | 987 s | 987 s | 987 s | 1 |\n"
        "| 6b | default run, warm: wall time | 3.4 s | 2.7 s | 3.7 s | 3 |\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    ((line, m),) = cited_figures(f"{figure}<!-- results/BENCHMARKS.md 6a.median -->")
    assert (check(line, m) == []) is ok


@pytest.mark.parametrize("figure, ok", [("7,148 queries", True), ("7,149 queries", False)])
def test_a_derived_figure_is_found_in_its_tasks_verdict(tmp_path, figure, ok, monkeypatch):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "REPRODUCE.md").write_text(
        "### ticket_categorization (n = 3080)\n\n- paid back after 7,148 queries\n\n"
        "### icd10_coding (n = 600)\n\n- paid back after 7,149 queries\n", encoding="utf-8")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    ((line, m),) = cited_figures(f"{figure}<!-- results/REPRODUCE.md ticket_categorization -->")
    assert (check(line, m) == []) is ok
