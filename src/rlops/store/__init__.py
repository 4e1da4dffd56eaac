"""Information: the SQLite database (``db``, ``migrations``), the run store (``runs``) and the
registry's queries (``registry``), the only SQL in rlops (tests/test_house_rules.py); the run
directory's layout and file names (``run_dir``), the run statuses (``run_status``), the one reader
of complete lines from a byte offset (``lines``) and the ingest of a run's log (``ingest``).

Imports events and errors only, so that every layer above may use it.
"""
