"""How far an option given over HTTP may reach beyond the run: the one check that a start request
(``POST /api/runs``) and the form's check (``POST /api/options/check``) share.

Each option whose value names something outside the option set says so in the schema
(``names``, see ``rlops.options.schema.NAMES``). From a request such a value must be the server's
own (its configuration) or fall within what the server allows in ``[ui]``:

- code: never ``module:callable`` (it would import a module of the caller's choosing);
- checkpoint: a registry model id only (a path would unpickle a file of the caller's choosing);
- address, listen: a host that ``ui.allowed_endpoints`` admits. The host is then resolved, and
  each address it resolves to that is not public (private, loopback, link-local, cloud metadata,
  the unspecified 0.0.0.0 and ::) must itself be named there, by its host or its network: a
  wildcard never reaches one;
- path: inside a root of ``ui.allowed_paths`` once symlinks are resolved (``file:`` and
  ``sqlite:`` URIs read as their path; ``s3://bucket/prefix`` against the s3 roots);
- uri: an address or a path, by its form (``file:``, ``sqlite:`` and scheme-less values are paths);
- kwargs: keyword arguments handed to a library as they are; an entry named like a path or an
  address (``tensorboard_log``, ``*_dir``, ``*_path``, ``*_url``, ``host``...) or whose value looks
  like one (absolute, ``~``, ``..``, ``scheme://``) is held to the rules above.

A host that no entry admits is refused before any DNS lookup. A name is resolved when it is
checked: a name that points elsewhere by the time the run connects (rebinding) is why a wildcard
reaches public addresses only.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from rlops.errors import UsageError
from rlops.options.fields import OptionSpec
from rlops.options.schema import Options

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
NETWORK = ipaddress.IPv4Network | ipaddress.IPv6Network
METADATA = {"169.254.169.254": "a cloud metadata service", "fd00:ec2::254": "a cloud metadata service",
            "169.254.170.2": "a container credentials service", "100.100.100.200": "a cloud metadata service"}
METADATA_NAMES = {"metadata.google.internal": "a cloud metadata service", "metadata": "a cloud metadata service"}
DEFAULT_PORTS = {"http": 80, "https": 443, "s3": 443, "grpc": 4317, "postgresql": 5432, "mysql": 3306}
PATH_SCHEMES = {"file", "sqlite"}
HOST = re.compile(r"[a-z0-9_.:-]+")
# Keyword arguments named like these are paths or addresses whatever they hold.
PATH_KEY = re.compile(r"(^|_)(dir|directory|path|file|filename|folder|root|log|logdir|db|database|cache)$")
ADDRESS_KEY = re.compile(r"(^|_)(host|hostname|endpoint|address|addr|server)$")
URI_KEY = re.compile(r"(^|_)(url|uri)$")


@dataclass(frozen=True)
class Endpoint:
    """One entry of ``ui.allowed_endpoints``: a host (a name, ``*``, ``*.domain`` or an IP) with an
    optional port, or a network."""

    host: str | None
    network: NETWORK | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        entry = text.strip().lower()
        if "/" in entry and "://" not in entry:
            try:
                return cls(None, ipaddress.ip_network(entry, strict=False))
            except ValueError:
                pass
        wildcard = entry.startswith("*")  # "*" or "*.domain": spelled as a host for the parser
        try:
            _, host, port = split_address("x" + entry[1:] if wildcard else entry, default_port=False)
        except ValueError:
            host, port = "", None
        if wildcard and host:
            host = "*" + host[1:]
        if not host:
            raise UsageError(f"ui.allowed_endpoints entry {text!r} is not a host, host:port or network",
                             hint="e.g. mlflow.lab:5000, *.example.com, * (public addresses) or 10.1.0.0/16")
        return cls(host, None, port)

    def admits(self, host: str, port: int | None) -> bool:
        """Whether the entry covers ``host:port`` by its spelling (no DNS)."""
        if self.port is not None and port != self.port:
            return False
        if self.network is not None:
            literal = ip_literal(host)
            return literal is not None and literal in self.network
        assert self.host is not None
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host or ip_literal(host) is not None and ip_literal(host) == ip_literal(self.host)

    def names(self, host: str, port: int | None, address: IP) -> bool:
        """Whether the entry names this host or address itself (a wildcard names nothing)."""
        if self.port is not None and port != self.port:
            return False
        if self.network is not None:
            return address in self.network
        assert self.host is not None
        return not self.host.startswith("*") and (host == self.host or ip_literal(self.host) == address)


@dataclass(frozen=True)
class Reach:
    """What the server lets a request's options name: its allowlists, and its own options (a value
    equal to the server's own came from its configuration, not from the request)."""

    endpoints: tuple[Endpoint, ...] = ()
    roots: tuple[str, ...] = ()
    own: Options = field(default_factory=Options)

    @classmethod
    def of(cls, options: Options | None) -> Reach:
        options = options or Options()
        return cls(tuple(Endpoint.parse(entry) for entry in options.ui.allowed_endpoints),
                   tuple(options.ui.allowed_paths), options)

    def problem(self, spec: OptionSpec, value: Any) -> str | None:
        """Why ``value`` of option ``spec`` may not come from a request, or None."""
        if spec.names is None or value is None:
            return None
        own = getattr(getattr(self.own, spec.section), spec.key)
        if spec.names == "kwargs":
            return self._kwargs_problem(spec.dotted, value, own)
        if value == own:
            return None
        return self._value_problem(spec.names, value)

    def _value_problem(self, kind: str, value: Any) -> str | None:
        text = str(value).strip()
        if not text:
            return None
        if kind == "code":
            return None if ":" not in text else "over HTTP this takes a registered name (a 'module:callable' " \
                                                "starts from the CLI)"
        if kind == "checkpoint":
            return None if text.isdigit() else "over HTTP this takes a registry model id (a checkpoint path " \
                                               "starts from the CLI)"
        if kind in ("address", "listen"):
            return self.address_problem(text, listen=kind == "listen")
        if kind == "path":
            return self.path_problem(text)
        return self.address_problem(text) if is_network_uri(text) else self.path_problem(text)

    def _kwargs_problem(self, option: str, value: Any, own: Any) -> str | None:
        for key, item, mine in _entries(value, own):
            if not isinstance(item, str) or item == mine:
                continue
            name = key.rsplit(".", 1)[-1].lower()
            kind = ("path" if PATH_KEY.search(name) else "address" if ADDRESS_KEY.search(name)
                    else "uri" if URI_KEY.search(name) or _looks_like_a_place(item) else None)
            problem = self._value_problem(kind, item) if kind else None
            if problem:
                return f"{option}.{key}: {problem}"
        return None

    def address_problem(self, text: str, listen: bool = False) -> str | None:
        try:
            _, host, port = split_address(text)
        except ValueError as exc:
            return f"{text!r} is not an address ({exc})"
        verb = "listen on" if listen else "reach"
        if not any(entry.admits(host, port) for entry in self.endpoints):
            allowed = ", ".join(entry_text(entry) for entry in self.endpoints) or "none"
            literal = ip_literal(host)
            what = METADATA_NAMES.get(host) or (not_public(literal) if literal is not None else None)
            shown = f"{host} ({what})" if what else repr(host)
            return (f"over HTTP a run may {verb} only what ui.allowed_endpoints allows ({allowed}), and {shown} is "
                    f"not among them: set it in the server's configuration")
        try:
            addresses = resolve(host, port)
        except OSError as exc:
            return f"host {host!r} cannot be resolved ({exc.strerror or exc})"
        for address in sorted(addresses, key=str):
            what = not_public(address)
            if what and not any(entry.names(host, port, address) for entry in self.endpoints):
                plain = getattr(address, "ipv4_mapped", None) or address
                shown = host if host == str(address) else f"{host!r} resolves to {plain}, which"
                return (f"{shown} is {what}: a run started over HTTP reaches such an address only where "
                        f"ui.allowed_endpoints names it (its host or network)")
        return None

    def path_problem(self, text: str) -> str | None:
        if "\x00" in text:
            return "a path with a NUL character is refused"
        if text.lower().startswith("s3://"):
            return self._bucket_problem(text)
        try:
            path = local_path(text)
        except ValueError as exc:
            return str(exc)
        target = Path(os.path.realpath(os.path.expanduser(path)))
        roots = [Path(os.path.realpath(os.path.expanduser(root))) for root in self.roots
                 if not root.lower().startswith("s3://")]
        if any(target.is_relative_to(root) for root in roots):
            return None
        listed = ", ".join(str(root) for root in roots) or "none"
        return (f"{text!r} ({target}) is outside ui.allowed_paths ({listed}): over HTTP a run writes and reads only "
                f"under the roots the server allows")

    def _bucket_problem(self, text: str) -> str | None:
        location = s3_location(text)
        roots = [s3_location(root) for root in self.roots if root.lower().startswith("s3://")]
        if location is not None and any(root is not None and root[0] == location[0]
                                        and location[1][:len(root[1])] == root[1] for root in roots):
            return None
        return (f"{text!r} is not under an s3:// root of ui.allowed_paths: over HTTP a run writes to the buckets "
                f"the server allows")


def split_address(text: str, default_port: bool = True) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL or of ``host[:port]``; the host lowercased, brackets off."""
    parts = urlsplit(text if "://" in text else f"//{text}")
    host = (parts.hostname or "").rstrip(".")
    if not host or not HOST.fullmatch(host):
        raise ValueError("no host name or IP address in it")
    port = parts.port  # a bad port raises ValueError
    scheme = parts.scheme.lower()
    return scheme, host, port if port is not None or not default_port else DEFAULT_PORTS.get(scheme)


def is_network_uri(text: str) -> bool:
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.lower() not in PATH_SCHEMES and scheme.lower() != "s3"


def local_path(text: str) -> str:
    """The filesystem path a value names: itself, or the path of a ``file:`` or ``sqlite:`` URI."""
    scheme, colon, rest = text.partition(":")
    if not colon or scheme.lower() not in PATH_SCHEMES:
        return text
    parts = urlsplit(text)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"{text!r} names a file on another machine ({parts.netloc})")
    path = unquote(parts.path)
    if scheme.lower() == "sqlite":  # sqlite:///relative.db, sqlite:////absolute.db
        path = path[1:] if path.startswith("/") else path
    if "\x00" in path:
        raise ValueError("a path with a NUL character is refused")
    return path or "."


def s3_location(text: str) -> tuple[str, list[str]] | None:
    parts = urlsplit(text)
    segments = [segment for segment in unquote(parts.path).split("/") if segment]
    if not parts.netloc or any(segment in (".", "..") for segment in segments):
        return None
    return parts.netloc.lower(), segments


def ip_literal(host: str) -> IP | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def resolve(host: str, port: int | None) -> set[IP]:
    literal = ip_literal(host)
    if literal is not None:
        return {literal}
    infos = socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    return {ip_literal(str(info[4][0])) for info in infos} - {None}  # type: ignore[return-value]


def not_public(address: IP) -> str | None:
    """What an address is when it is not a public one (None when it is)."""
    mapped = getattr(address, "ipv4_mapped", None)
    address = mapped or address
    if str(address) in METADATA:
        return METADATA[str(address)]
    if address.is_unspecified:
        return "the address of every interface"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or not address.is_global:
        return "a private address"
    return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    literal = ip_literal(host.strip("[]"))
    return literal is not None and literal.is_loopback


def entry_text(entry: Endpoint) -> str:
    if entry.network is not None:
        return str(entry.network)
    return f"{entry.host}:{entry.port}" if entry.port is not None else str(entry.host)


def _looks_like_a_place(text: str) -> bool:
    return text.startswith(("/", "~", "./", "../", "\\")) or text in (".", "..") or "://" in text \
        or text.lower().startswith(("file:", "sqlite:"))


def _entries(value: Any, own: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """Each leaf of nested keyword arguments as (dotted key, value, the server's own value there)."""
    if isinstance(value, dict):
        mine = own if isinstance(own, dict) else {}
        return [leaf for key, item in value.items()
                for leaf in _entries(item, mine.get(key), f"{prefix}{key}" if not prefix else f"{prefix}.{key}")]
    if isinstance(value, list):
        mine = own if isinstance(own, list) else []
        return [leaf for index, item in enumerate(value)
                for leaf in _entries(item, mine[index] if index < len(mine) else None, f"{prefix}[{index}]")]
    return [(prefix, value, own)]
