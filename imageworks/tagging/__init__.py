"""Tagging logic: prompt profiles, output parsing, keyword cleanup (pure functions), and the tag job kind."""
