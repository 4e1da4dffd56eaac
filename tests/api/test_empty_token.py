"""SPEC §13 security: an empty or blank token is no token (issue 18, item 3). From the TOML file,
the environment or the CLI it resolves to none; beyond loopback one is then generated, and a
server configured for 0.0.0.0 (served here on 127.0.0.1) lets nothing in without it. The guard
and the policy server refuse to be built with an empty secret."""

from __future__ import annotations

import pytest

from rlops.api.app import create_app
from rlops.api.guard import RequestGuard, token_for
from rlops.errors import UsageError
from rlops.options import resolve_options
from tests.api.http_helpers import raw_get, serving

BLANKS = ["", "   ", "\t"]


def _toml(tmp_path, section: str, token: str):
    config = tmp_path / "rlops.toml"
    config.write_text(f'[{section}]\nhost = "0.0.0.0"\ntoken = "{token}"\n')
    return config


@pytest.mark.parametrize("blank", BLANKS)
def test_a_blank_token_resolves_to_none_from_every_source(tmp_path, blank):
    for section in ("ui", "serve"):
        from_file = resolve_options(config=_toml(tmp_path, section, blank), environ={}, args=[]).options
        from_env = resolve_options(environ={f"RL_{section.upper()}_TOKEN": blank}, args=[]).options
        from_cli = resolve_options(environ={}, args=[f"--{section}.token", blank]).options
        for options in (from_file, from_env, from_cli):
            assert getattr(options, section).token is None, (section, blank)
    assert resolve_options(environ={}, args=["--ui.token", "  s3cret "]).options.ui.token == "s3cret"


@pytest.mark.parametrize("blank", BLANKS)
def test_beyond_loopback_a_blank_token_gets_a_generated_one_that_every_request_needs(tmp_path, blank):
    options = resolve_options(config=_toml(tmp_path, "ui", blank), environ={}, args=[]).options
    token = token_for(options.ui.host, options.ui.token)
    assert token and len(token) >= 24 and token.strip() == token
    # Configured for every interface, served on loopback only: the guard decides as it would there.
    with serving(RequestGuard(create_app(options.store.db_path, options), options.ui.host, token)) as client:
        port = client.base_url.port
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer"},
                        {"Authorization": f"Bearer {blank}"}):
            assert raw_get(port, "/api/runs", headers)[0] == 401, headers  # as sent: no client tidies a blank
        assert client.get("/api/runs", headers={"Host": "evil.example", "Origin": "http://evil.example"}
                          ).status_code == 401
        assert client.get("/api/runs?token=").status_code == 401
        assert client.post("/api/runs", json={"options": {}}).status_code == 401
        assert client.get("/api/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert token_for("127.0.0.1", blank or None) is None  # loopback needs none
    assert token_for("0.0.0.0", "given") == "given"


@pytest.mark.parametrize("blank", BLANKS)
def test_the_guard_is_never_built_with_an_empty_secret_or_without_one_beyond_loopback(blank):
    app = create_app("rlruns/rlops.db")
    for host in ("0.0.0.0", "127.0.0.1", "192.0.2.10"):
        with pytest.raises(UsageError, match="empty token"):
            RequestGuard(app, host, blank)
    for host in ("0.0.0.0", "::", "", "192.0.2.10"):
        with pytest.raises(UsageError, match="needs a token"):
            RequestGuard(app, host, None)
    RequestGuard(app, "127.0.0.1", None)  # loopback without a token stays the default


@pytest.mark.parametrize("blank", BLANKS)
def test_the_policy_server_takes_a_blank_token_as_none(tmp_path, blank):
    from rlops.api.policy_server import PolicyHolder, serve
    from rlops.api.policy_server import create_app as policy_app

    with pytest.raises(UsageError, match="empty serve.token"):
        policy_app(PolicyHolder(None), blank)  # type: ignore[arg-type]
    # 192.0.2.10 (TEST-NET) is beyond loopback and on no interface here: nothing could bind to it.
    config = tmp_path / "serve.toml"
    config.write_text(f'[serve]\nhost = "192.0.2.10"\ntoken = "{blank}"\n[registry]\nenable = false\n')
    options = resolve_options(config=config, environ={}, args=[]).options
    with pytest.raises(UsageError, match="serve.token"):
        serve(options, None)  # type: ignore[arg-type]  # refused before any policy is touched
