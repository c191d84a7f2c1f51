"""Evaluation: metrics, thresholds, protocols, robustness tiers and reports."""
