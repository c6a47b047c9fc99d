"""Intents: which learned intent each user belongs to, and profiles of the intents."""
