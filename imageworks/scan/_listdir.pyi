"""The C lister (_listdir.c): one directory of a scan, as ``Walker._list_python`` would list it."""

Record = tuple[str, str, int, int, int, int, int]

def list_dir(
    fd: int, prefix: bytes, exts: tuple[tuple[bytes, int], ...], /
) -> tuple[list[Record], list[str], list[tuple[int, int]], list[str], int, int, list[tuple[str, int]]] | None: ...
