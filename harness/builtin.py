"""The built-in plugin: registers rvf's own strategies, backends and scorers.

It is an `rvf.plugins` entry point like any external plugin. The modules it imports keep torch,
transformers and friends out of module scope, so `rvf list` and a fully cached run stay fast.
"""

from __future__ import annotations

from harness.backends.gguf import gguf_backend
from harness.backends.hf import hf
from harness.backends.local import local
from harness.backends.openai_compat import openai_backend
from harness.registry import Registry
from harness.scoring.classification import LabelScorer
from harness.scoring.text import QAScorer
from harness.strategies.classifier import classifier, embed_backend
from harness.strategies.hosted_ft import hosted_ft
from harness.strategies.lora import lora
from harness.strategies.prompt import prompt
from harness.strategies.rag import rag


def register(registry: Registry) -> None:
    registry.backend("hf", hf)
    registry.backend("gguf", gguf_backend)
    registry.backend("local", local)
    registry.backend("openai", openai_backend)
    registry.backend("embed", embed_backend)
    registry.strategy("prompt", prompt)
    registry.strategy("lora", lora)
    registry.strategy("rag", rag)
    registry.strategy("hosted_ft", hosted_ft)
    registry.strategy("classifier", classifier)
    registry.scorer("labels", LabelScorer, "Accuracy, macro-F1 (bootstrap CIs), invalid rate.")
    registry.scorer("qa", QAScorer, "Token-F1, exact match, abstention, recall@k/MRR, ragas non-LLM.")
