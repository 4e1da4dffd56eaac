"""A tracking server that starts redirecting mid-run: said in rlops's words, not MLflow's.

With redirects off (``mlflow.limit_http_client``) MLflow hands a 3xx back as an error whose text
("API request to endpoint ... failed with error code 307 != 200") names neither the server, where
it points, nor what to do. The sink turns it into a ``BackendError`` that does, asking the server
once (without following) where that call points, since MLflow's error leaves the Location out.
"""

from __future__ import annotations

import http.client
import re
from pathlib import Path
from urllib.parse import urljoin, urlparse

from rlops.errors import BackendError

ASK_TIMEOUT_S = 3.0
# How MLflow reports a redirect it did not follow: the endpoint called and the status.
REDIRECTED_CALL = re.compile(r"API request to endpoint (\S+) failed with error code (3\d\d)\b")


def redirected_call(message: str) -> tuple[str, int] | None:
    """The endpoint and status of an MLflow error that was a redirect; None for any other error."""
    found = REDIRECTED_CALL.search(message)
    return (found.group(1), int(found.group(2))) if found else None


def where_it_points(uri: str, endpoint: str) -> str | None:
    """Where the server redirects ``endpoint`` to, asked with a GET that is not followed (no body,
    no credentials); None when it no longer redirects it or does not answer."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return None
    kind = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
    connection = kind(parsed.hostname, parsed.port, timeout=ASK_TIMEOUT_S)
    try:
        connection.request("GET", parsed.path.rstrip("/") + endpoint)
        response = connection.getresponse()
        response.read(256)
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
    location = response.getheader("Location")
    return urljoin(uri, location)[:200] if 300 <= response.status < 400 and location else None


def refused_mid_run(uri: str, endpoint: str, status: int, target: str | None, run_id: str,
                    log_path: Path) -> BackendError:
    where = f"to {target}" if target else "(it named no Location when asked again)"
    final = "the address that answers without redirecting"
    if target:  # the server it points at is the target less the endpoint called (else its origin)
        base = target.removesuffix(endpoint) if target.endswith(endpoint) else target.split("/", 3)[:3]
        base = base if isinstance(base, str) else "/".join(base)
        final += f" (if {base} is your tracking server, that one)"
    return BackendError(
        f"MLflow tracking server {uri} answered {endpoint} with a redirect (HTTP {status}) {where}: rlops does not "
        "follow a tracking server's redirects, since the request's credentials and body would go to an address that "
        "was never configured or allowed; so the records of this call did not reach MLflow (counted as dropped for "
        f"mlflow), and every one of them stays in the run's log {log_path}",
        hint=f"set --store.tracking-uri to {final}; once the run has ended, `rlops export {run_id} --to mlflow "
             "--store.tracking-uri <that address>` publishes the whole run from its log")
