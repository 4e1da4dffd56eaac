"""OTLP over HTTP: an answer the SDK takes for a delivered batch without being one is counted lost.

The SDK's HTTP client calls any status below 400 a success and its transport follows no redirect,
so a collector answering 302/307/308 had the batch "delivered" to nowhere: lost, uncounted, unsaid.
The session rlops hands the SDK refuses every answer outside 2xx that the SDK would take for one
(a collector answers a delivered batch with 2xx). The SDK then reports a failed export, and the
sink's ``Delivery`` counts the batch in ``dropped.otel`` and warns once, in this module's words.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import requests

from rlops.errors import BackendError

# The SDK's experimental variables naming a requests.Session factory (an entry point): when one is
# set, that session is the one to guard, not a new one that would drop its credentials.
CREDENTIAL_PROVIDERS = ("OTEL_PYTHON_EXPORTER_OTLP_HTTP_{}_CREDENTIAL_PROVIDER",
                        "OTEL_PYTHON_EXPORTER_OTLP_HTTP_CREDENTIAL_PROVIDER")


def guarded_session(signal: str, endpoint: str, refused: Callable[[str], None]) -> requests.Session:
    """A session for the SDK's OTLP/HTTP exporter of ``signal`` that fails an answer outside 2xx,
    after telling ``refused`` why (the one warning's words)."""
    session = _credential_session(signal) or requests.Session()

    def refuse_unless_delivered(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if 200 <= response.status_code < 300 or response.status_code >= 400:
            return  # delivered, or an error the SDK fails (and may retry) on its own
        why = not_delivered(signal, endpoint, response)
        response.close()  # its body is never read: give the connection back
        refused(why)
        raise BackendError(why)  # the SDK's transport takes a raised request for a failed export

    session.hooks["response"].append(refuse_unless_delivered)
    return session


def not_delivered(signal: str, endpoint: str, response: requests.Response) -> str:
    """Why the batch failed, for the warning that already names ``endpoint``."""
    status = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
    again = "`rlops export RUN --to otlp` can send the run's records again from its log"
    location = response.headers.get("Location")
    if location:
        return (f"the collector answered {status}, a redirect to {urljoin(endpoint, location)[:200]}: rlops does not "
                f"follow an OTLP collector's redirects (the batch and its headers would go to an address that was "
                f"never configured), so the batch is not delivered; point {signal}.endpoint (or metrics.endpoint, "
                f"which every signal falls back to) at the final address; {again}")
    return (f"the collector answered {status}, which is not a delivery (a collector answers a delivered batch with "
            f"2xx); check that {signal}.endpoint (or metrics.endpoint) is the collector's OTLP/HTTP address; {again}")


def _credential_session(signal: str) -> requests.Session | None:
    names = (CREDENTIAL_PROVIDERS[0].format(signal.upper()), CREDENTIAL_PROVIDERS[1])
    if not any(os.environ.get(name) for name in names):
        return None
    from opentelemetry.exporter.otlp.proto.http._common import _load_session_from_envvar

    return _load_session_from_envvar(names[0])  # reads the generic variable first, as the SDK does
