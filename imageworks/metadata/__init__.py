"""Photo metadata: read, plan and apply captions, descriptions and keywords in XMP, IPTC and EXIF.

    existing = metadata.read(path)                    # what the photo holds (and whether ImageWorks tagged it)
    plan = metadata.plan(path, Proposed(...), "merge")  # the exact field changes; plan.describe() for people
    metadata.apply(plan, job_id=...)                  # backup, then an atomic replace; refused if the file changed
    metadata.restore(path) / metadata.restore(job_id=...)
    metadata.backup_usage() / metadata.prune_backups(older_than_s) / metadata.backups_total_bytes()

RAW files are never modified: their metadata goes to an ``.xmp`` sidecar. Errors are ``MetadataError`` with a
one-line message and a ``code``.
"""

from imageworks.metadata.backup import (
    BackupEntry,
    BackupStore,
    BackupUsage,
    backup_usage,
    backups_total_bytes,
    prune_backups,
    restore,
)
from imageworks.metadata.core import apply, has_tags, plan, read
from imageworks.metadata.plan import (
    MODES,
    Applied,
    Existing,
    FieldChange,
    Fingerprint,
    LastWrite,
    MetadataError,
    MetaSnapshot,
    Mode,
    Plan,
    Proposed,
    Provenance,
    Restored,
)

__all__ = [
    "MODES",
    "Applied",
    "BackupEntry",
    "BackupStore",
    "BackupUsage",
    "Existing",
    "FieldChange",
    "Fingerprint",
    "LastWrite",
    "MetaSnapshot",
    "MetadataError",
    "Mode",
    "Plan",
    "Proposed",
    "Provenance",
    "Restored",
    "apply",
    "backup_usage",
    "backups_total_bytes",
    "has_tags",
    "plan",
    "prune_backups",
    "read",
    "restore",
]
