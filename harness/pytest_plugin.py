"""The rvf pytest plugin (entry point `pytest11`).

Reserved: benchmark fixtures and markers land here. Kept import-light on purpose, because pytest
loads it in every session of an environment where rvf is installed.
"""
