"""A CartPole policy trained once per module (a few hundred steps: a poor but real policy)."""

from __future__ import annotations

import pytest

from rlops.options import resolve_options
from rlops.services.training import prepare_options, train
from tests.helpers import tiny_args


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    args = tiny_args("ppo", "--store.model-dir", str(root / "rlruns"), "--registry.db-path", str(root / "rlops.db"))
    options = resolve_options(environ={}, args=args).options
    result = train(prepare_options(options), progress=False)
    return result
