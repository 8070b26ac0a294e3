"""`rvf run --executor ray` on a local Ray, as a user runs it (subprocesses, real files).

- the same plan gives the same records with the local and the ray executor;
- a worker process that dies is retried by Ray; an exception in a cell fails that cell only;
- without Ray installed, `--executor ray` exits 2 and says how to install it.

Each run starts its own local Ray (about 10 s here); the records are written by the driver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from tests.conftest import write_dist_info
from tests.test_reliability import comparable, rvf

SMALL_PLAN = ["--strategy", "prompt", "--limit", "4", "--seed", "1", "--seed", "2", "--strategy-arg", "k=1"]


def test_ray_and_local_executors_give_the_same_records(tmp_path):
    """Separate caches, so the ray run really generates instead of reading the local answers."""
    local = rvf("run", *SMALL_PLAN, "--results", str(tmp_path / "local"),
                cache=tmp_path / "cache-local")
    assert local.returncode == 0, local.stderr[-3000:]
    on_ray = rvf("run", "--executor", "ray", *SMALL_PLAN, "--results", str(tmp_path / "ray"),
                 cache=tmp_path / "cache-ray")
    assert on_ray.returncode == 0, on_ray.stderr[-3000:]
    assert "ray: a local Ray" in on_ray.stderr

    want, got = comparable(tmp_path / "local"), comparable(tmp_path / "ray")
    assert len(want) == 2 and set(got) == set(want)
    for key, (record, rows) in want.items():
        assert got[key][0]["metrics"] == record["metrics"]
        assert got[key][1] == rows  # raw and parsed answers, scores, tokens
        # How many decoding workers ran is a fact of where: a Ray task given one CPU gets one
        # (OMP_NUM_THREADS=1), the local executor one per core. Everything else is the same.
        ray_facts, local_facts = got[key][0]["model"]["facts"], record["model"]["facts"]
        assert ray_facts.pop("workers") == 1
        assert local_facts.pop("workers") >= 1
        assert got[key][0] == record
    # The ray run generated everything itself, in its own cache.
    for path in (tmp_path / "ray" / "cells").glob("*.json"):
        usage = json.loads(path.read_text())["usage"]
        assert usage["model_calls"] == 4 and usage["cache_hits"] == 0

    again = rvf("run", "--executor", "ray", *SMALL_PLAN, "--results", str(tmp_path / "ray"),
                cache=tmp_path / "cache-ray")
    assert again.returncode == 0, again.stderr[-3000:]
    reused = [line for line in again.stderr.splitlines() if line.startswith("reused ")]
    assert len(reused) == 2 and "ray:" not in again.stderr  # nothing was scheduled


PLUGIN = textwrap.dedent('''
    """Test backends: `crashy/once` kills its worker process on its first call, then answers;
    `crashy/always-fails` raises. Answers are a fixed label, so no model is needed."""
    import os
    from pathlib import Path

    from harness.types import Generation


    class Crashy:
        def __init__(self, name, marker=""):
            self.spec, self.name, self.marker = f"crashy/{name}", name, marker

        def identity(self):
            return {"backend": "crashy", "model": self.name}

        def generate(self, requests):
            if self.name == "always-fails":
                raise RuntimeError("this backend always fails")
            if self.marker and not Path(self.marker).exists():
                Path(self.marker).write_text(str(os.getpid()))
                os._exit(1)  # the worker process dies, as on a lost node or the OOM killer
            for i, _ in enumerate(requests):
                yield i, Generation("refund_request", 10, 2, 0.01)


    def register(registry):
        registry.backend("crashy", Crashy)
''')


def test_dead_worker_is_retried_and_a_failing_cell_fails_alone(tmp_path):
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "rvf_crashy_plugin.py").write_text(PLUGIN)
    write_dist_info(plugin, "rvf-crashy-plugin", {"crashy": "rvf_crashy_plugin:register"})
    marker = tmp_path / "crashed-once"
    results = tmp_path / "results"
    done = rvf("run", "--executor", "ray", "--limit", "4", "--results", str(results),
               "--model", "crashy/once", "--model", "crashy/always-fails",
               "--backend-arg", f"crashy.marker={marker}", cache=tmp_path / "cache",
               PYTHONPATH=os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")]))

    assert done.returncode == 1, done.stderr[-3000:]
    assert marker.exists(), "the first attempt should have killed its worker"
    assert "RuntimeError: this backend always fails" in done.stderr
    records = [json.loads(p.read_text()) for p in (results / "cells").glob("*.json")]
    assert [r["model"]["spec"] for r in records] == ["crashy/once"]  # the retry finished it
    assert records[0]["usage"]["model_calls"] == 4 and records[0]["task"]["n"] == 4
    assert not list((results / "cells").glob(".*.tmp"))


def test_executor_ray_without_ray_exits_2_with_install_hint(tmp_path):
    """`sys.modules["ray"] = None` makes `import ray` fail, as on an install without the extra."""
    code = ("import sys; sys.modules['ray'] = None; sys.argv = ['rvf'] + sys.argv[1:]; "
            "from harness.cli import main; main()")
    done = subprocess.run([sys.executable, "-c", code, "run", "--strategy", "prompt", "--executor", "ray",
                           "--results", str(tmp_path)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 2, done.stderr
    assert "pip install 'rvf[ray]'" in done.stderr
    assert not (tmp_path / "cells").exists()
