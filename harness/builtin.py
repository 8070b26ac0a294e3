"""The built-in plugin: registers rvf's own strategies, backends and scorers.

It is an `rvf.plugins` entry point like any external plugin. The modules it imports keep torch,
transformers and friends out of module scope, so `rvf list` and a fully cached run stay fast.
"""

from __future__ import annotations

from harness.backends.hf import hf
from harness.backends.local import local
from harness.registry import Registry
from harness.scoring.classification import LabelScorer
from harness.strategies.lora import lora
from harness.strategies.prompt import prompt


def register(registry: Registry) -> None:
    registry.backend("hf", hf)
    registry.backend("local", local)
    registry.strategy("prompt", prompt)
    registry.strategy("lora", lora)
    registry.scorer("labels", LabelScorer, "Accuracy, macro-F1 (bootstrap CIs), invalid rate.")
