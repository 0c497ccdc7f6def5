"""Pretext tasks: one module per paper, plus the permutation helpers they share."""
