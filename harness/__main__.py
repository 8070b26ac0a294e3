"""`python -m harness` is the `rvf` command."""

from harness.cli import main

main()
