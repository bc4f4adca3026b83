"""Renderers: pure functions from a Conversation to a string."""
