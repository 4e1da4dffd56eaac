"""Rendering on a machine with no display: choose the back ends that work there, before any
renderer is imported.

Without a display, SDL (pygame, which Gymnasium's classic-control envs draw with) prints "error:
XDG_RUNTIME_DIR is invalid or not set" on every render, and MuJoCo's default GLFW back end aborts
the process (signal 6) at the first frame; its EGL back end renders off-screen. A value the user
set is kept; this only fills in what is unset, and the environment passes to every run rlops starts.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

HEADLESS_DEFAULTS = {
    "SDL_VIDEODRIVER": "dummy",  # pygame draws into memory; rgb_array frames are the same
    "SDL_AUDIODRIVER": "dummy",  # no sound card to open either
    "MUJOCO_GL": "egl",  # off-screen OpenGL; osmesa fails here, glfw needs a display
}


def has_display(environ: MutableMapping[str, str]) -> bool:
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def choose_headless_rendering(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set the headless back ends where there is no display and none was chosen; returns what it set."""
    environ = os.environ if environ is None else environ
    if has_display(environ):
        return {}
    chosen = {name: value for name, value in HEADLESS_DEFAULTS.items() if name not in environ}
    environ.update(chosen)
    return chosen
