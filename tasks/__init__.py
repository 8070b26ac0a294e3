"""rvf's built-in tasks, installed as the import package `rvf_tasks`.

Each task registers through the `rvf.plugins` entry-point group exactly as an external plugin
package would (see pyproject.toml and docs/plugins.md).
"""
