"""Evaluation: the scoring contract, full-ranking metrics, baselines, statistics and the backtest."""
