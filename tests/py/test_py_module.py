"""What the extension declares to CPython, checked by CPython itself: multi-phase
initialisation (a second import after removing it from sys.modules works and
keeps the same exception classes), no support for subinterpreters with their
own GIL (refused cleanly, PEP 684), and the GIL is used (PEP 703: a
free-threaded interpreter re-enables it). That the extension, built against
NumPy 2 headers, runs with NumPy 1.24 is what the oldest environment's run of
every py test shows."""
import importlib
import subprocess
import sys
import sysconfig

import pytest

zarrtraj = pytest.importorskip("zarrtraj", reason="zarrtraj extension not built (PYTHONPATH=build/python)")


def test_multi_phase_init_reimport():
    core = sys.modules["zarrtraj._core"]
    err = core.FormatError
    assert core.__spec__ is not None and core.FREE_THREADING_SAFE == 0
    del sys.modules["zarrtraj._core"]
    again = importlib.import_module("zarrtraj._core")
    try:
        assert again is not core  # a new module object (multi-phase init)
        assert again.FormatError is err and issubclass(again.FormatError, ValueError)
        assert again.Reader is core.Reader and again.LIB_VERSION == core.LIB_VERSION
        with pytest.raises(core.NotFoundError) as ei:
            again.Reader("/nonexistent/not-a-trajectory.zarrmd")
        assert isinstance(ei.value, FileNotFoundError) and ei.value.errname == "ZT_ENOTFOUND"
    finally:
        sys.modules["zarrtraj._core"] = core


@pytest.mark.skipif(sys.version_info < (3, 13), reason="the _interpreters module (per-interpreter GIL) is 3.13+")
def test_subinterpreter_import_is_refused_cleanly():
    code = (
        "import _interpreters\n"
        "i = _interpreters.create()\n"
        "err = _interpreters.run_string(i, 'import zarrtraj._core')\n"
        "print(err.type.__name__ if err else 'imported', err.msg if err else '')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("ImportError") and "subinterpreters" in p.stdout, p.stdout


def test_gil_declared():
    if sysconfig.get_config_var("Py_GIL_DISABLED"):
        # importing re-enabled the GIL (the module declares Py_MOD_GIL_USED)
        assert sys._is_gil_enabled()
    else:
        assert zarrtraj._core.FREE_THREADING_SAFE == 0

