"""Scorers and the statistics behind them (bootstrap confidence intervals)."""
