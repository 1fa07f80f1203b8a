"""Evaluation: scoring models on held-out rows, metrics, paired comparisons, forgetting and gates."""
