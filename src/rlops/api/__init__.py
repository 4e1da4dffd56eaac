"""The HTTP API (FastAPI) that the dashboard and scripts use: one module of routes per concern
(``health_api``, ``runs_api``, ``run_files_api``, ``run_stream_api``, ``run_control_api``,
``tensorboard_api``, ``logs_api``, ``registry_api``...), assembled by ``app``; following a growing
file as server-sent events (``follow``); the one JSON error shape (``errors``); the request guard.

Routes are a few lines over the library: they may import options, events, store, services,
orchestrator, play and datasets; nothing below imports api, and api never imports cli.
"""
