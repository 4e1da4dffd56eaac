"""The ``rlops`` command (typer): each command a few lines over the library (options, store,
services, orchestrator, api for ``rlops ui``), imported inside the command so that ``rlops --help``
stays quick (``lazy``). The top of the house: nothing in rlops imports cli.
"""
