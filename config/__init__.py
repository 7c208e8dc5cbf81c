"""Data, not code: the default settings file and a sample agency registry."""
