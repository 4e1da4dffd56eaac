"""What every request to the UI's API must pass, before any route sees it.

- **Host**: only the names the server answers to (loopback names and the bound address). A page on
  evil.example that rebinds its DNS to 127.0.0.1 sends ``Host: evil.example``: refused. Bound to
  every interface (0.0.0.0), any name is accepted, since the token is then required anyway.
- **Origin**, on anything but GET and HEAD, and on a WebSocket's handshake: absent (a CLI) or the
  server's own origin. A page on another origin cannot make the browser start or stop runs (CSRF)
  nor drive a play session.
- **Token**: when set (required beyond loopback), ``Authorization: Bearer <token>`` or ``?token=``
  (for ``<video src>`` and ``EventSource``, which cannot send a header), compared in constant
  time. The page's own files (``/`` and ``/static/``) are the same for everyone and hold no data:
  they load without it, and the page then sends the token it was opened with. An empty or blank
  token is no token (the options turn it into none, ``token_for`` generates one beyond loopback),
  and the guard refuses to be built with one, or beyond loopback with none.
"""

from __future__ import annotations

import hmac
import json
import secrets
from urllib.parse import parse_qs, urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from rlops.api.errors import error
from rlops.api.reach import is_loopback
from rlops.errors import UsageError

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]", "::1"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
WILDCARDS = {"0.0.0.0", "::", "[::]", ""}


class RequestGuard:
    def __init__(self, app: ASGIApp, bound_host: str, token: str | None = None) -> None:
        if token is not None and not token.strip():
            raise UsageError("an empty token would let every request in", hint="give a token, or none (one is "
                                                                                "generated beyond loopback)")
        if token is None and not is_loopback(bound_host):
            raise UsageError(f"binding to {bound_host or 'every interface'} needs a token",
                             hint="set --ui.token, or bind 127.0.0.1")
        self.app = app
        self.hosts = LOOPBACK_NAMES | {bound_host}
        self.token = token
        # Bound to every interface, the server is reached by whatever name the network gives the
        # machine; the token (required there) is then what keeps rebinding pages out.
        self.any_host = bound_host in WILDCARDS and token is not None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            if scope["type"] == "websocket":  # closed before the handshake is accepted: the client sees a 403
                await send({"type": "websocket.close", "code": 1008, "reason": refusal_reason(refusal)})
                return
            await refusal(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str]):  # noqa: ANN202 - a response or None
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        if name not in self.hosts and not self.any_host:
            return error(403, f"requests for host {host!r} are not served here",
                         "use the address rlops ui printed (a DNS-rebinding page is refused)")
        # A WebSocket's handshake is a GET that then carries actions: its Origin is checked like a POST's.
        method = scope.get("method", "WEBSOCKET")
        if method not in SAFE_METHODS and "origin" in headers:
            origin = urlsplit(headers["origin"])
            if origin.netloc != host:
                return error(403, f"a {method} from origin {headers['origin']!r} is refused",
                             "state-changing requests come from the dashboard's own page or from a client without "
                             "an Origin header")
        if self.token is not None and not _public(scope["path"]):
            given = headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not given:
                given = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return error(401, "a token is required", "send 'Authorization: Bearer <token>' (rlops ui printed it)")
        return None


def refusal_reason(response) -> str:  # noqa: ANN001 - the JSON error response
    """The refusal's message, short enough for a WebSocket close reason (123 bytes)."""
    try:
        return json.loads(response.body)["error"]["message"][:120]
    except (ValueError, KeyError, TypeError):
        return "refused"


def token_for(host: str, token: str | None) -> str | None:
    """The token a server bound to ``host`` requires: the one given, or beyond loopback a new one
    when none is given (an empty or blank one is none)."""
    token = token.strip() if token else None
    if not token and not is_loopback(host):
        return secrets.token_urlsafe(24)
    return token or None


def _public(path: str) -> bool:
    return path == "/" or (path.startswith("/static/") and ".." not in path and "\\" not in path)
