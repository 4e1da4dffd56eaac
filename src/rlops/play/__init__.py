"""Play sessions (runner ``play``): a person, an agent or both act in an env that runs server-side.

``session`` is the program the run executes (the env, its frames, its records); ``keymaps`` says
which key does what per env; ``actions`` checks what a page sends before the env sees it; ``wire``
frames the messages between the session and the dashboard's WebSocket relay.
"""
