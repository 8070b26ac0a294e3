"""Shared fixtures. Tests use a throw-away request cache and results dir, but share the converted
bundled model with the user's cache (RVF_MODELS_DIR), so it is converted once per machine."""

from __future__ import annotations

import importlib.util
import os
import tomllib
from pathlib import Path

import pytest
from platformdirs import user_cache_dir

ROOT = Path(__file__).resolve().parents[1]
# The shipped Banking77 copy (the built-in ticket data); no test reads ../shared.
BANKING77 = ROOT / "tasks" / "ticket_categorization" / "banking77"
EXAMPLE_PLUGIN = ROOT / "examples" / "rvf-example-plugin"
EXAMPLE_STRATEGY = ROOT / "examples" / "rvf-example-strategy"
EXAMPLE_QA = ROOT / "examples" / "rvf-example-qa"

# `pytester` runs pytest sessions inside tests: how the rvf pytest plugin is tested black-box.
pytest_plugins = ["pytester"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `llamacpp` need llama-cpp-python, a 7-10 minute C++ build on 2 cores that the
    README's test command leaves out (`tox -e llamacpp` builds it and runs them; CI runs both).
    Without it they skip with that reason, unless RVF_REQUIRE_LLAMACPP=1 (set by tox -e llamacpp)
    makes a missing build fail them instead."""
    if importlib.util.find_spec("llama_cpp") is not None or os.environ.get("RVF_REQUIRE_LLAMACPP"):
        return
    skip = pytest.mark.skip(reason="llama-cpp-python is not installed: `tox -e llamacpp` builds "
                                   "it and runs the llama.cpp tests")
    for item in items:
        if "llamacpp" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("rvf-cache")
    os.environ["RVF_CACHE_DIR"] = str(cache)
    os.environ.setdefault("RVF_MODELS_DIR", str(Path(user_cache_dir("rvf")) / "models"))
    return cache


@pytest.fixture(scope="session")
def smol():
    """The bundled SmolLM2 through the real hf backend (fp32: exact and fastest on most CPUs)."""
    from harness.backends.local import local

    return local("smollm2-135m-instruct", dtype="fp32")


@pytest.fixture(scope="session")
def registry():
    from harness.registry import default_registry

    return default_registry()


def write_dist_info(folder: Path, name: str, entry_points: dict[str, str],
                    group: str = "rvf.plugins") -> Path:
    """Make `folder` hold an "installed" distribution `name` with these entry points, without pip.

    importlib.metadata finds a distribution by its `<name>-<version>.dist-info` folder on
    sys.path; METADATA and entry_points.txt are all that plugin discovery reads. Put `folder` and
    the plugin's source on PYTHONPATH (or sys.path) and rvf sees the plugin as installed.
    """
    info = folder / f"{name.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\n")
    lines = [f"[{group}]"] + [f"{key} = {value}" for key, value in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return folder


def installed_example(tmp_path_factory: pytest.TempPathFactory, example: Path) -> list[Path]:
    """Paths that make an examples/ package discoverable as if pip-installed: its metadata
    (entry points read from its own pyproject.toml) and its source folder."""
    project = tomllib.loads((example / "pyproject.toml").read_text())["project"]
    folder = write_dist_info(tmp_path_factory.mktemp(example.name), project["name"],
                             project["entry-points"]["rvf.plugins"])
    return [folder, example / "src"]


@pytest.fixture(scope="session")
def example_plugin(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return installed_example(tmp_path_factory, EXAMPLE_PLUGIN)


@pytest.fixture(scope="session")
def example_strategy(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return installed_example(tmp_path_factory, EXAMPLE_STRATEGY)


@pytest.fixture(scope="session")
def example_qa(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return installed_example(tmp_path_factory, EXAMPLE_QA)
