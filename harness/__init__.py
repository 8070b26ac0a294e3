"""rvf: prompt, RAG or fine-tune? One task definition, every strategy, one leaderboard."""

__version__ = "0.1.0"
