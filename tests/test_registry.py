from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.registry import Registry


def _task(data: str | None = None, n: int = 3, rate: float = 0.5, flag: bool = False):
    """A toy factory."""
    return {"data": data, "n": n, "rate": rate, "flag": flag}


def test_builtins_come_from_entry_points(registry):
    origins = {(e.kind, e.name): e.origin for k in ("task", "strategy", "backend")
               for e in registry.entries(k)}
    assert origins[("task", "ticket_categorization")] == "rvf:ticket_categorization"
    assert origins[("strategy", "prompt")] == "rvf:builtin"
    assert origins[("backend", "hf")] == "rvf:builtin"
    assert origins[("backend", "local")] == "rvf:builtin"
    assert registry.plugin_errors == []


def test_duplicate_name_is_an_error():
    reg = Registry()
    reg.task("t", _task)
    with pytest.raises(UsageError, match="duplicate task name 't'"):
        reg.task("t", _task)


def test_unknown_name_suggests_close_matches(registry):
    with pytest.raises(UsageError, match="did you mean ticket_categorization"):
        registry.get("task", "ticket_categorisation")
    with pytest.raises(UsageError, match="did you mean prompt"):
        registry.get("strategy", "promt")


def test_string_args_are_converted_by_annotation():
    reg = Registry()
    reg.task("t", _task)
    made = reg.make("task", "t", {"n": "7", "rate": "0.25", "flag": "yes", "data": "none"})
    assert made == {"data": None, "n": 7, "rate": 0.25, "flag": True}
    assert reg.normalized_args("task", "t", {"n": "2"}) == {
        "data": None, "n": 2, "rate": 0.5, "flag": False}


def test_bad_args_name_the_argument():
    reg = Registry()
    reg.task("t", _task)
    with pytest.raises(UsageError, match="has no argument 'nn'; did you mean n"):
        reg.make("task", "t", {"nn": "1"})
    with pytest.raises(UsageError, match="argument 'n': expected a whole number, got 'seven'"):
        reg.make("task", "t", {"n": "seven"})


def test_a_broken_plugin_is_reported_and_others_still_load(monkeypatch):
    import harness.registry as mod

    class EP:
        def __init__(self, name, fn):
            self.name, self.value, self._fn = name, f"x:{name}", fn
            self.dist = type("D", (), {"name": "pkg"})()

        def load(self):
            return self._fn

    def broken(reg):
        raise ImportError("no module named nowhere")

    def good(reg):
        reg.task("good", _task)

    monkeypatch.setattr(mod, "entry_points", lambda group: [EP("bad", broken), EP("ok", good)])
    reg = Registry().load_plugins()
    assert [e.name for e in reg.entries("task")] == ["good"]
    assert reg.get("task", "good").origin == "pkg:ok"
    assert "plugin pkg:bad" in reg.plugin_errors[0] and "nowhere" in reg.plugin_errors[0]


def _strategy(train_size: int | None = None, lr: float = 1e-4, modules: str = "q,v"):
    return (train_size, lr, modules)


def test_comma_values_sweep_numeric_args_only():
    reg = Registry()
    reg.strategy("s", _strategy)
    sets = reg.expand_sweeps("strategy", "s", {"train_size": "100,300,all", "lr": "1e-4,1e-3",
                                               "modules": "q_proj,v_proj"})
    assert len(sets) == 6
    assert {s["train_size"] for s in sets} == {"100", "300", "all"}
    assert all(s["modules"] == "q_proj,v_proj" for s in sets)
    assert reg.make("strategy", "s", sets[0]) == (100, 1e-4, "q_proj,v_proj")
