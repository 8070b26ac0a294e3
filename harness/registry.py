"""Names -> factories for tasks, strategies, backends and scorers, filled from `rvf.plugins` entry points.

Every plugin (the built-ins included) is an entry point in the `rvf.plugins` group whose object is
`register(registry)`. Nothing registers on import: a plugin's code runs only when `load_plugins`
calls its `register`. Factories are plain functions with typed keyword arguments, so that
`--task-arg k=v` strings are converted and checked against the signature.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from harness.errors import DataError, UsageError

KINDS = ("task", "strategy", "backend", "scorer")


@dataclass(frozen=True)
class Entry:
    """A registered factory and where it came from (`<distribution>:<entry point>`)."""

    kind: str
    name: str
    factory: Callable[..., Any]
    origin: str
    description: str


class Registry:
    """All known tasks, strategies, backends (by model-spec prefix) and scorers."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in KINDS}
        self._origin = "<code>"
        self.plugin_errors: list[str] = []

    # -- registration (called from plugins' register functions) --------------------------------
    def add(self, kind: str, name: str, factory: Callable[..., Any], description: str = "") -> None:
        if kind not in KINDS:
            raise UsageError(f"unknown plugin kind {kind!r}; expected one of {KINDS}")
        known = self._entries[kind]
        if name in known:
            raise UsageError(
                f"duplicate {kind} name {name!r}: registered by {known[name].origin} "
                f"and again by {self._origin}"
            )
        doc = description or (inspect.getdoc(factory) or "").split("\n")[0]
        known[name] = Entry(kind, name, factory, self._origin, doc)

    def task(self, name: str, factory: Callable[..., Any], description: str = "") -> None:
        self.add("task", name, factory, description)

    def strategy(self, name: str, factory: Callable[..., Any], description: str = "") -> None:
        self.add("strategy", name, factory, description)

    def backend(self, prefix: str, factory: Callable[..., Any], description: str = "") -> None:
        self.add("backend", prefix, factory, description)

    def scorer(self, name: str, factory: Callable[..., Any], description: str = "") -> None:
        self.add("scorer", name, factory, description)

    # -- lookup -----------------------------------------------------------------------------------
    def entries(self, kind: str) -> list[Entry]:
        return sorted(self._entries[kind].values(), key=lambda e: e.name)

    def get(self, kind: str, name: str) -> Entry:
        known = self._entries[kind]
        if name in known:
            return known[name]
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"
        raise UsageError(f"unknown {kind} {name!r}{hint}")

    def make(self, kind: str, name: str, args: dict[str, str] | None = None) -> Any:
        """Call the named factory with string arguments converted to its annotated types.

        A task reads its data here, so bad or missing data is reported with the plugin it came
        from: the fix is in that plugin's package, or in the data it was pointed at.
        """
        entry = self.get(kind, name)
        kwargs = convert_args(entry, args or {})
        try:
            return entry.factory(**kwargs)
        except (DataError, OSError) as exc:
            raise DataError(f"{kind} {name!r} (plugin {entry.origin}): {exc}") from exc

    def normalized_args(self, kind: str, name: str, args: dict[str, str]) -> dict[str, Any]:
        """The full argument set (defaults filled in) that a factory call would use."""
        entry = self.get(kind, name)
        sig = inspect.signature(entry.factory)
        bound = sig.bind_partial(**convert_args(entry, args))
        bound.apply_defaults()
        return dict(bound.arguments)

    def expand_sweeps(self, kind: str, name: str, args: dict[str, str]) -> list[dict[str, str]]:
        """`train_size=100,300,all` -> one argument set per value (cartesian over swept args).

        A comma sweeps only arguments whose annotation does not accept a plain string, so a
        string argument such as `target_modules=q_proj,v_proj` keeps its comma.
        """
        entry = self.get(kind, name)
        hints = typing.get_type_hints(entry.factory)
        axes = []
        for key, value in args.items():
            accepts_str = str in _options(hints.get(key, str)) or Any in _options(hints.get(key, str))
            values = value.split(",") if "," in value and not accepts_str else [value]
            axes.append([(key, v.strip()) for v in values])
        return [dict(combo) for combo in itertools.product(*axes)]

    # -- plugin discovery -----------------------------------------------------------------------
    def load_plugins(self, group: str = "rvf.plugins") -> Registry:
        """Call every plugin's `register`. A broken plugin is reported, the others still load.

        rvf's own plugins load first, so a duplicate name is blamed on the external plugin that
        repeats it, never on the built-in it would otherwise shadow.
        """
        def order(ep: Any) -> tuple[bool, bool, str]:
            return (_dist_name(ep) != "rvf", ep.name != "builtin", ep.name)

        for ep in sorted(entry_points(group=group), key=order):
            dist = _dist_name(ep)
            self._origin = f"{dist}:{ep.name}"
            try:
                ep.load()(self)
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the rest
                self.plugin_errors.append(f"plugin {self._origin} ({ep.value}) failed: {exc}")
        self._origin = "<code>"
        return self


def _dist_name(ep: Any) -> str:
    return ep.dist.name if ep.dist else "?"


def convert_args(entry: Entry, args: dict[str, str]) -> dict[str, Any]:
    """Convert `k=v` strings using the factory's annotations; unknown keys are a usage error."""
    sig = inspect.signature(entry.factory)
    hints = typing.get_type_hints(entry.factory)
    out: dict[str, Any] = {}
    for key, raw in args.items():
        if key not in sig.parameters:
            close = difflib.get_close_matches(key, list(sig.parameters), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            accepted = ", ".join(sig.parameters) or "none"
            raise UsageError(
                f"{entry.kind} {entry.name!r} has no argument {key!r}{hint} (accepts: {accepted})"
            )
        out[key] = _convert(raw, hints.get(key, str), f"{entry.kind} {entry.name!r} argument {key!r}")
    return out


def _options(hint: Any) -> tuple[Any, ...]:
    """The members of a union annotation, or the annotation alone."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _convert(raw: Any, hint: Any, what: str) -> Any:
    if not isinstance(raw, str):
        return raw
    options = _options(hint)
    if type(None) in options and raw.lower() in ("none", "null", "all", ""):
        return None  # an optional limit: `train_size=all` reads as "no limit"
    errors = []
    for option in options:
        try:
            if option is bool:
                if raw.lower() in ("1", "true", "yes", "on"):
                    return True
                if raw.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError("not a boolean")
            if option in (int, float, str):
                return option(raw)
        except ValueError as exc:
            errors.append(str(exc))
    if any(o in (str, Any) for o in options):
        return raw
    raise UsageError(f"{what}: expected {' or '.join(_in_words(o) for o in options)}, got {raw!r}")


def _in_words(option: Any) -> str:
    """A type as a user reads it in an error message."""
    return {int: "a whole number", float: "a number", bool: "true or false",
            type(None): "none"}.get(option, option.__name__ if isinstance(option, type)
                                    else str(option))


def default_registry() -> Registry:
    """A registry with every installed plugin loaded."""
    return Registry().load_plugins()
