"""Supervised runs: the runners (how a run of each kind is launched), the lifecycle (``service``:
queue, launch, supervise, settle), the worker that runs a program and writes its log, the
program's event protocol, artifacts, retention, sweeps and the Ray backend.

May import options, events, pipeline, sinks, store, services, play and offline; never api or cli.
"""
