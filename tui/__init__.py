"""The Textual TUI (`imageworks tui`). Talks to the daemon only through ``imageworks.client``; never imports torch,
transformers or the daemon package (tests/test_layers.py)."""
