"""Versioned, frozen event, command and API models: the project's shared vocabulary.

This package imports nothing from the rest of TaskForge, so every other layer may
depend on it.
"""
