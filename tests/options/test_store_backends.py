"""The names store.backend takes are said once, in the options (which import nothing of the sinks);
the sinks' registry has a sink for each, and the runners read them through the options."""

from __future__ import annotations

import pytest

from rlops.errors import OptionsError
from rlops.options import resolve_options
from rlops.options.schema import STORE_BACKENDS
from rlops.sinks.registry import FACTORIES, OPENED_OFF_THREAD

ALWAYS = {"sqlite", "otel"}  # sinks every run has (the run store), or that telemetry options turn on


def test_every_backend_name_has_a_sink_and_every_backend_sink_a_name():
    assert set(STORE_BACKENDS) - {"local"} == set(FACTORIES) - ALWAYS
    assert set(OPENED_OFF_THREAD) <= set(FACTORIES)


def test_the_backends_an_option_names_are_read_normalized_and_local_is_not_a_sink():
    store = resolve_options(environ={}, args=["--store.backend", " MLflow, local,tensorboard "]).options.store
    assert store.backend == "mlflow,local,tensorboard" and store.backends == ["mlflow", "tensorboard"]


def test_an_unknown_backend_is_refused_with_the_list():
    with pytest.raises(OptionsError) as refused:
        resolve_options(environ={}, args=["--store.backend", "mlfow"])
    assert ", ".join(sorted(STORE_BACKENDS)) in str(refused.value)
