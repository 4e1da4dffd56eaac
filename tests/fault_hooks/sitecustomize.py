"""Test-only fault hook (tests/faults.py): with RLOPS_TEST_ENOSPC_DIR set, every file written under
that directory fails with ENOSPC once RLOPS_TEST_ENOSPC_AFTER bytes were written there, for as
long as the file named by RLOPS_TEST_ENOSPC_FLAG exists. Nothing happens without the variables."""

import builtins
import errno
import io
import os

_DIR = os.environ.get("RLOPS_TEST_ENOSPC_DIR")
if _DIR:
    _ROOT = os.path.realpath(_DIR)
    _BUDGET = [int(os.environ.get("RLOPS_TEST_ENOSPC_AFTER", "0"))]
    _FLAG = os.environ.get("RLOPS_TEST_ENOSPC_FLAG", "")
    _open = io.open

    class _Limited:
        def __init__(self, handle):
            self._handle = handle

        def write(self, data):
            if os.path.exists(_FLAG):
                _BUDGET[0] -= len(data)
                if _BUDGET[0] < 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self._handle.write(data)

        def __getattr__(self, name):
            return getattr(self._handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._handle.close()

        def __iter__(self):
            return iter(self._handle)

    def _limited_open(file, mode="r", *args, **kwargs):
        handle = _open(file, mode, *args, **kwargs)
        if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+"):
            path = os.path.realpath(os.fsdecode(file))
            if path.startswith(_ROOT + os.sep):
                return _Limited(handle)
        return handle

    io.open = builtins.open = _limited_open
