"""The ImageWorks daemon: ZeroMQ server, job system and journal, model worker subprocess, model backends.

Never imports textual; heavy imports (torch, transformers) happen inside the worker process only.
"""
