"""Offline replay: recorded events through normalization, pack SQL, result log and alerts."""
