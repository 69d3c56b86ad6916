"""The install path: `pip install --no-build-isolation ./python` with Debian's
/usr/bin/python3 and no package index, into a temporary --target directory,
then a fresh interpreter imports zarrtraj from there (not from the build tree)
and reads a trajectory through MDAnalysis."""
import os
import subprocess
import sys

import pytest

SRC = os.environ.get("ZT_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
DATA = os.environ.get("ZT_DATA_DIR") or os.path.join(SRC, "..", "shared", "data")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def test_pip_install_target(tmp_path):
    if subprocess.run([PY, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        pytest.skip("pip not installed (apt-get install python3-pip)")
    site = tmp_path / "site"
    env = dict(os.environ, ZT_CMAKE_BUILD_DIR=str(tmp_path / "cmake"), PIP_NO_INPUT="1")
    env.pop("PYTHONPATH", None)
    p = subprocess.run([PY, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index",
                        "--target", str(site), os.path.join(SRC, "python")],
                       capture_output=True, text=True, env=env, timeout=1200)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert any(n.startswith("_core.") and n.endswith(".so") for n in os.listdir(site / "zarrtraj"))
    traj = os.path.join(DATA, "zarrtraj", "COORDINATES_SYNTHETIC_ZARRMD.zarrmd")
    code = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "import sys, zarrtraj, MDAnalysis as mda\n"
        f"assert zarrtraj.__file__.startswith({str(site)!r}), zarrtraj.__file__\n"
        "from MDAnalysis.coordinates.core import get_reader_for\n"
        "assert get_reader_for('s3://b/t.h5md') is zarrtraj.ZARRH5MDReader\n"
        f"u = mda.Universe({traj!r})\n"
        "print(len(u.trajectory), u.atoms.n_atoms, u.trajectory[4].positions[4].tolist())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    q = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert q.returncode == 0, q.stderr[-3000:]
    assert q.stdout.split()[:2] == ["5", "5"] and "[192.0, 208.0, 224.0]" in q.stdout
