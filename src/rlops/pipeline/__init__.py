"""The computation: env factory, observation wrappers, feature extractors, checkpoints,
evaluation, and the engines side by side (``sb3/``, ``vector/``) behind ``engine``.

A run's records leave only through ``sinks.recorder``. Imports options, events and errors, and of
sinks the recorder only; never the store, services, orchestrator, api or cli (tests/test_layers.py).
"""
