"""The training-log schema v1 (``schema``: one dataclass per record type, encode and decode, the
checks), docs/events.md's tables made from it (``doc``), the log validator and reader, the pure
metrics math and the window accumulator.

Imports nothing of rlops but ``errors``: every other package may import it.
"""
