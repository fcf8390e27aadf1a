"""Shared two-way sync core: link store, diff, merge, reference resolution."""
