"""Document corpora of rvf's built-in tasks, installed as the import package `rvf_corpora`.

Each corpus is a sub-package holding its data files (package data, so they ship in the wheel) and
the script that generated them. Tasks find the files with `importlib.resources`.
"""
