"""Watching a model in production: how it ranks and calibrates once outcomes are known."""
