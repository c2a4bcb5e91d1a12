"""Review: Preview → Edit → Approve → Commit the person's values (issue 13). Drafts are written by the daemon only.

model.py        Draft, Values, DraftKeyword, FileFingerprint, Generated, Conflict, keyword_key
edits.py        edits as data (SetCaption, AddKeyword, Approve, RenameKeywordEverywhere, ...) and apply_edit
store.py        DraftStore over SQLite: upsert_generated, get, list_drafts, apply, undo/redo, changes_since
query.py        the filter language (kw:beach status:pending -kw:people caption:"sunset") → SQL or predicate
vocabulary.py   the photographer's keywords: autocomplete, mapping proposals, hierarchy paths for the writer
commit.py       planning a commit (field diff, staleness) and doing one; fingerprint.py: size, mtime, head/tail hash
job.py          the ``commit`` job kind (no model): one draft per item, written in the runner's finalize thread
"""
