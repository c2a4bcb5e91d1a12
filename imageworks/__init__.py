"""ImageWorks core: config, protocol, client, scan cache, tagging logic, metadata writer, CLI.

Importing this package never imports textual or torch (checked by tests/test_layers.py).
"""

__version__ = "0.1.0"
