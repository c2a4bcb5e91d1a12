"""The optional OpenAI-compatible endpoint: an HTTP server inside the daemon's process and event loop.

aiohttp, not starlette + uvicorn: it is already installed with us (textual-serve depends on it), it runs as a plain
``AppRunner``/``TCPSite`` on the daemon's own asyncio loop (uvicorn wants to own the loop and the signals), and it
cancels a request's handler when its client disconnects, which is how a dropped client's generation is stopped.
"""
