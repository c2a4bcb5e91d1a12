"""One schema-version convention for every SQLite store: ``PRAGMA user_version`` and an ordered list of migrations.

A store lists its migrations in order: migration ``i`` takes a file from version ``i`` to ``i + 1``, so the store's
version is ``len(migrations)`` and a new file (version 0) runs them all. ``migrate`` runs the ones due once, when the
store opens, all in one transaction: a crash leaves the old version whole, and a second process opening the same
file waits for the write lock and then finds nothing left to do. A file of a newer version than the list knows is
refused with one line (``SchemaError``); a disposable cache moves it aside instead, a store of a person's work
keeps it for the newer ImageWorks. A migration is SQL (one statement or several) or a function of the connection,
for a step that must look before it changes anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress

from imageworks.errors import ImageWorksError

Migration = str | Callable[[sqlite3.Connection], None]


class SchemaError(ImageWorksError):
    """A store file written by a newer ImageWorks (its schema version is past this one's list of migrations)."""

    code = "newer_schema"


def version_of(con: sqlite3.Connection) -> int:
    """The file's schema version (0: a new file, or one from before the store kept a version)."""
    return int(con.execute("PRAGMA user_version").fetchone()[0])


def _refuse_newer(found: int, known: int, name: str) -> None:
    if found > known:
        raise SchemaError(f"{name} was written by a newer ImageWorks (schema {found} > {known}); upgrade ImageWorks")


def statements(script: str) -> Iterator[str]:
    """The statements of an SQL script, one by one (``executescript`` would commit the open transaction)."""
    current = ""
    for char in script:
        current += char
        if char == ";" and sqlite3.complete_statement(current):
            if current.strip(" \n\t;"):
                yield current
            current = ""
    if current.strip():
        yield current


def migrate(con: sqlite3.Connection, migrations: Sequence[Migration], name: str) -> int:
    """Bring the store on ``con`` to version ``len(migrations)``; return the version it had (0 for a new file).
    Raises SchemaError for a newer file, and sqlite3.Error as SQLite does (a file that is no database)."""
    known = len(migrations)
    found = version_of(con)
    _refuse_newer(found, known, name)
    if found == known:
        return found
    saved = con.isolation_level
    con.isolation_level = None  # our own BEGIN/COMMIT, whatever the caller's transaction handling
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            found = version_of(con)  # again, under the write lock: another opener may have migrated meanwhile
            _refuse_newer(found, known, name)
            for step in migrations[found:]:
                if isinstance(step, str):
                    for statement in statements(step):
                        con.execute(statement)
                else:
                    step(con)
            con.execute(f"PRAGMA user_version = {known}")
            con.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            raise
    finally:
        con.isolation_level = saved
    return found
