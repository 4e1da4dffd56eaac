"""Which key does what, per env: the env's own ``get_keys_to_action()`` where it has one
(MountainCar, Atari), built-in maps for the usual envs, or one the page gives.

A key map is ``{"keys": {browser key name: action}, "noop": action or None, "turn_based": bool}``.
Key names are the browser's ``KeyboardEvent.key`` values (``ArrowLeft``, ``a``, `` ``). ``noop``
is what a real-time env gets when no key is held (gymnasium.utils.play's ``noop``); an env without
a true no-op gets a documented default: CartPole has none, so it is pushed left (action 0), as
gymnasium.utils.play does. Turn-based envs (the grid worlds) step only on a key press.
"""

from __future__ import annotations

from typing import Any

from rlops.errors import UsageError

LEFT, RIGHT, UP, DOWN = "ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"
# pygame's key codes, which get_keys_to_action() speaks, as browser key names.
PYGAME_KEYS = {276: LEFT, 275: RIGHT, 273: UP, 274: DOWN, 32: " "}

BUILT_IN: dict[str, dict[str, Any]] = {
    "CartPole": {"keys": {LEFT: 0, RIGHT: 1}, "noop": 0, "turn_based": False},
    "Acrobot": {"keys": {LEFT: 0, RIGHT: 2}, "noop": 1, "turn_based": False},
    "MountainCar": {"keys": {LEFT: 0, RIGHT: 2}, "noop": 1, "turn_based": False},
    "LunarLander": {"keys": {LEFT: 1, UP: 2, RIGHT: 3}, "noop": 0, "turn_based": False},
    "CarRacing": {"keys": {LEFT: [-1.0, 0.0, 0.0], RIGHT: [1.0, 0.0, 0.0], UP: [0.0, 1.0, 0.0],
                           DOWN: [0.0, 0.0, 0.8]}, "noop": [0.0, 0.0, 0.0], "turn_based": False},
    "FrozenLake": {"keys": {LEFT: 0, DOWN: 1, RIGHT: 2, UP: 3}, "noop": None, "turn_based": True},
    "FrozenLake8x8": {"keys": {LEFT: 0, DOWN: 1, RIGHT: 2, UP: 3}, "noop": None, "turn_based": True},
    "Taxi": {"keys": {DOWN: 0, UP: 1, RIGHT: 2, LEFT: 3, "p": 4, "d": 5}, "noop": None, "turn_based": True},
    "CliffWalking": {"keys": {UP: 0, RIGHT: 1, DOWN: 2, LEFT: 3}, "noop": None, "turn_based": True},
}


def base_name(env_id: str) -> str:
    """``CartPole-v1`` -> ``CartPole``; ``tabular/CliffWalking-v0`` -> ``CliffWalking``."""
    return env_id.rsplit("/", 1)[-1].split(":")[-1].rsplit("-v", 1)[0]


def key_map_for(env_id: str, env: Any = None) -> dict[str, Any] | None:
    """The built-in map of ``env_id``, else the one its env declares, else None."""
    built_in = BUILT_IN.get(base_name(env_id))
    if built_in is not None:
        return {**built_in, "keys": dict(built_in["keys"])}
    declared = getattr(getattr(env, "unwrapped", env), "get_keys_to_action", None)
    if declared is None:
        return None
    try:
        return from_keys_to_action(declared())
    except Exception:  # an env's own map that does not read as one: no map, said so by the caller
        return None


def from_keys_to_action(mapping: dict[Any, Any]) -> dict[str, Any] | None:
    """gymnasium.utils.play's ``{(key, ...): action}`` as single keys; ``()`` is the no-op."""
    keys: dict[str, Any] = {}
    noop = None
    for combo, action in mapping.items():
        combo = tuple(combo) if isinstance(combo, (tuple, list)) else (combo,)
        action = action.tolist() if hasattr(action, "tolist") else action
        if not combo:
            noop = action
        elif len(combo) == 1:
            key = combo[0]
            name = PYGAME_KEYS.get(key, chr(key) if isinstance(key, int) else str(key))
            keys[name] = action
    return {"keys": keys, "noop": noop, "turn_based": False} if keys else None


def checked_key_map(given: Any, validate_action: Any) -> dict[str, Any]:
    """A key map from the page: its shape, and every action valid for the env (``validate_action``
    raises UsageError naming a bad one)."""
    if not isinstance(given, dict) or not isinstance(given.get("keys"), dict) or not given["keys"]:
        raise UsageError("a key map is {\"keys\": {key: action, ...}, \"noop\": action or null}",
                         hint="map at least one key, e.g. {\"keys\": {\"ArrowLeft\": 0}}")
    keys = {str(name): validate_action(action) for name, action in given["keys"].items()}
    noop = given.get("noop")
    return {"keys": keys, "noop": None if noop is None else validate_action(noop),
            "turn_based": bool(given.get("turn_based", False))}


def no_map_error(env_id: str) -> UsageError:
    known = ", ".join(sorted(BUILT_IN))
    return UsageError(f"{env_id} has no key map (neither built in nor get_keys_to_action())",
                      hint=f"give one in the page's key map editor, play it in agent mode, or pick an env with a "
                           f"map ({known})")
