"""Who wrote a photo's text: the model, profile, date and tool, kept in XMP under our own namespace, plus a digest
of the caption, description and keywords as we left them. A person's later edit changes those values, so "tagged
by ImageWorks" is claimed only while the digest still matches (a file written before the digest existed cannot be
checked, and keeps its claim)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping

from imageworks.metadata.plan import Provenance, Value

PROV_MODEL = "XMP-imageworks:Model"
PROV_PROFILE = "XMP-imageworks:Profile"
PROV_PROFILE_VERSION = "XMP-imageworks:ProfileVersion"
PROV_DATE = "XMP-imageworks:Date"
PROV_TOOL = "XMP-imageworks:Tool"
PROV_DIGEST = "XMP-imageworks:Digest"
PROVENANCE_FIELDS = (PROV_MODEL, PROV_PROFILE, PROV_PROFILE_VERSION, PROV_DATE, PROV_TOOL, PROV_DIGEST)


def content_digest(caption: str | None, description: str | None, keywords: Iterable[str]) -> str:
    """A short digest of what a person sees; keyword order is ignored (tools re-sort them without editing)."""
    payload = json.dumps([caption or "", description or "", sorted(set(keywords))], ensure_ascii=False)
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def provenance_values(p: Provenance) -> tuple[str, ...]:
    """The values for PROVENANCE_FIELDS, in order."""
    return (p.model, p.profile, p.profile_version, p.date, p.tool, p.digest)


def read_provenance(fields: Mapping[str, Value]) -> Provenance | None:
    model = fields.get(PROV_MODEL)
    if not isinstance(model, str) or not model:
        return None

    def text(name: str) -> str:
        value = fields.get(name)
        return value if isinstance(value, str) else ""

    return Provenance(
        model=model,
        profile=text(PROV_PROFILE),
        profile_version=text(PROV_PROFILE_VERSION),
        date=text(PROV_DATE),
        tool=text(PROV_TOOL),
        digest=text(PROV_DIGEST),
    )


def still_ours(p: Provenance, caption: str | None, description: str | None, keywords: Iterable[str]) -> bool:
    """True while the photo's text is what we wrote with ``p`` (or ``p`` predates the digest)."""
    return not p.digest or p.digest == content_digest(caption, description, keywords)
