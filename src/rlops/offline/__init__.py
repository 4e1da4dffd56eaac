"""The ``offline`` runner: trains on a dataset (``rlops.datasets``) with d3rlpy in its own
interpreter (``d3rlpy_adapter.py``, which imports nothing of rlops), then registers and scores
the exported TorchScript policy from rlops's side (``session.py``)."""
