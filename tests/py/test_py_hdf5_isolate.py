"""libhdf5 parses HDF5 metadata in a forked child (src/hdf5/h5iso.c), also when the
caller is CPython: files that crash libhdf5 1.10.8 (the fuzzer's reproducers) raise a
zarrtraj error in this interpreter, which keeps running, with no child process or file
descriptor left behind; pytest's faulthandler (on by default) is not triggered in the
child. A valid file reads the same isolated or not (h5py as the reference)."""
import glob
import os

import numpy as np
import pytest

zarrtraj = pytest.importorskip("zarrtraj", reason="zarrtraj extension not built (PYTHONPATH=build/python)")
core = zarrtraj._core

HERE = os.path.dirname(os.path.abspath(__file__))
REPRO = sorted(glob.glob(os.path.join(HERE, "..", "fuzz", "corpus", "fuzz_hdf5", "regress-libhdf5-*")))


def _fds():
    return len(os.listdir("/proc/self/fd"))


def _no_children():
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.mark.parametrize("src", REPRO, ids=[os.path.basename(p)[16:28] for p in REPRO])
def test_libhdf5_crash_is_an_error(src, tmp_path):
    p = tmp_path / (os.path.basename(src) + ".h5md")
    p.write_bytes(open(src, "rb").read())
    before = _fds()
    try:
        r = core.Reader(str(p))
    except (ValueError, OSError) as e:  # FormatError, CorruptError, ... name the file
        assert str(p) in str(e)
    else:
        r.close()
    assert _fds() == before
    assert _no_children()


def test_same_values_isolated_or_not(data_dir, monkeypatch):
    h5py = pytest.importorskip("h5py")
    path = os.path.join(data_dir, "mdanalysis", "test.h5md")
    with h5py.File(path, "r") as f:
        pos = f["particles/trajectory/position/value"]
        n_frames, n_atoms = pos.shape[0], pos.shape[1]
        steps = np.asarray(f["particles/trajectory/position/step"][()]).ravel()
    for iso in ("1", "0"):
        monkeypatch.setenv("ZARRTRAJ_HDF5_ISOLATE", iso)
        r = core.Reader(path)
        try:
            assert (r.n_frames, r.n_atoms) == (n_frames, n_atoms), iso
            np.testing.assert_array_equal(np.asarray(r.steps()[0]).ravel(), steps, err_msg=iso)  # (steps, times)
        finally:
            r.close()
    assert _no_children()
