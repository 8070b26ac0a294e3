"""rvf: prompt, RAG or fine-tune? One task definition, every strategy, one leaderboard."""

import os

# Waiting OpenMP threads sleep instead of spinning, so that process CPU time (what local compute
# is priced by) measures the work and not how busy the machine was: see harness/compute.py. Set
# before torch loads libgomp, which reads it once; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
