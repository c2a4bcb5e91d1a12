"""Model backends: one small interface (``base.Backend``), the echo and transformers backends, and the table that
picks one by config (``registry``)."""
