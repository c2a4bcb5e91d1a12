"""Model workers: the interface a model slot sees (``base``), the spawned-process worker (``process``) and a pool of
workers behind the same interface (``pool``)."""
