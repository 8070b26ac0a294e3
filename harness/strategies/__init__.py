"""Strategies: how a model is made to do a task (`prompt`, and more as they land)."""
