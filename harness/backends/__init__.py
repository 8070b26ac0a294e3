"""Backends turn generation requests into text: `hf/`, `local/` (and, as plugins, more)."""
