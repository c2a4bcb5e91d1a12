"""Job kinds and their typed records.

``base`` holds the protocols a kind implements, ``records`` the record each kind produces, ``kinds`` the table
of kinds (``echo``, ``tag``). This package module imports none of them, so ``imageworks.tagging.job`` can import
``jobs.base`` while ``jobs.kinds`` imports it, with no circle.
"""
