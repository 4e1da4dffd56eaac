"""The dashboard's static files (``static/``: ES modules, CSS and a vendored chart library, no
build step). No business logic: the page calls the HTTP API (rlops.api) and nothing else.
"""
