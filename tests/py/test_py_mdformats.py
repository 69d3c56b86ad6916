"""The C readers of XTC/DCD (src/mdformats/) through the Python extension's
low-level Reader (zarrtraj._core), against MDAnalysis' readers. The
MDAnalysis-facing zarrtraj reader keeps delegating these formats to
MDAnalysis; this is the C API only."""
import numpy as np
import pytest

from test_mdformats import DCD, XTC

pytest.importorskip("MDAnalysis")


def test_core_reader_opens_xtc_dcd_trr():
    core = pytest.importorskip("zarrtraj._core")
    from MDAnalysis.coordinates.DCD import DCDReader
    from MDAnalysis.coordinates.XTC import XTCReader

    for path, R in ((XTC[0], XTCReader), ([p for p in DCD if "tip125" in p][0], DCDReader)):
        r = core.Reader(path, convert_units=1)  # MDAnalysis units: Angstrom, ps
        m = R(path)
        assert r.n_frames == m.n_frames and r.n_atoms == m.n_atoms
        x = r.read_frames("position", np.arange(r.n_frames, dtype=np.int64))
        for i, ts in enumerate(m):
            np.testing.assert_allclose(x[i], ts.positions, rtol=1e-6, atol=1e-5)
        steps, times = r.steps()
        np.testing.assert_allclose(times, [ts.time for ts in m], rtol=1e-6, atol=1e-6)
        r.close()


def test_core_reader_opens_amber_netcdf():
    """AMBER NetCDF (classic formats, our reader) through the low-level Reader:
    positions, scaled velocities and forces as MDAnalysis' NCDFReader reads them."""
    core = pytest.importorskip("zarrtraj._core")
    from MDAnalysis.coordinates.TRJ import NCDFReader

    from test_mdformats import NC

    for path in NC:
        m = NCDFReader(path, convert_units=False)
        with core.Reader(path) as r:
            assert r.n_frames == m.n_frames and r.n_atoms == m.n_atoms, path
            idx = np.arange(r.n_frames, dtype=np.int64)[::-1].copy()
            for el, has, get in (("position", m.ts.has_positions, lambda ts: ts.positions),
                                 ("velocity", m.ts.has_velocities, lambda ts: ts.velocities),
                                 ("force", m.ts.has_forces, lambda ts: ts.forces)):
                if not has:
                    continue
                x = r.read_frames(el, idx)
                for k, i in enumerate(idx):
                    np.testing.assert_array_equal(x[k], get(m[int(i)]), err_msg=f"{path} {el} frame {i}")
