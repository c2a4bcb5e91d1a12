"""Review: Preview → Edit → Approve → Commit the person's values. Drafts are written by the daemon only.

drafts.py       Draft, Values, DraftKeyword, FileFingerprint, Generated, Conflict, keyword_key
edits.py        edits as data (SetCaption, AddKeyword, Approve, RenameKeywordEverywhere, ...) and apply_edit
rows.py         the drafts' rows in SQLite: open and migrate, get, list_drafts, changes_since, the one save
store.py        DraftStore: every change (upsert_generated, record_commit, apply, apply_lines, undo/redo)
history.py      the undo history: a person's step, a batch, a commit job's write
query.py        the filter language (kw:beach status:pending -kw:people caption:"sunset") → SQL or predicate
vocabulary.py   the photographer's keywords: autocomplete, mapping proposals, hierarchy paths for the writer
commit.py       planning a commit (field diff against our last write, staleness) and doing one
fingerprint.py  the file's pixel hash (image data only: a metadata change is no staleness)
job.py          the ``commit`` job kind (no model): one draft per item, written in the runner's finalize thread
"""
