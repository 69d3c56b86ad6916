"""Shared fixtures: the zarrtraj CLI built by CMake and a scratch directory,
plus helpers that let the same tests cross-check against zarr-python 2 (the
oldest environment) and zarr-python 3 (the newest): writing Zarr v2
hierarchies with zarr-python and reading an array's codecs through it."""
import json
import os
import shutil
import subprocess

import pytest

try:
    import zarr
except ImportError:  # tests that need zarr-python import it themselves
    zarr = None
ZARR3 = zarr is not None and int(zarr.__version__.split(".")[0]) >= 3


@pytest.fixture(scope="session")
def cli():
    path = os.environ.get("ZT_CLI")
    if not path or not os.path.exists(path):
        pytest.skip("ZT_CLI not set (run through ctest)")
    return path


@pytest.fixture(scope="session")
def data_dir():
    d = os.environ.get("ZT_DATA_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
    if not os.path.exists(os.path.join(d, "expected.json")):
        pytest.skip("shared data folder not found (ZT_DATA_DIR)")
    return d


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


def run(*args, check=True, **kw):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{args} failed ({p.returncode}): {p.stderr}")
    return p


def write_h5md_h5py(path, pos, **value_kw):
    """A minimal H5MD file (positions, step, time, a time-independent box) written with h5py, independently
    of zarrtraj; value_kw go to the position value dataset (chunks, compression)."""
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        f.create_group("h5md").attrs["version"] = np.array([1, 1])
        p = f.create_group("particles/trajectory/position")
        p.create_dataset("value", data=pos, **value_kw)
        p["step"] = np.arange(len(pos), dtype="i8")
        p["time"] = np.arange(len(pos), dtype="f8")
        b = f.create_group("particles/trajectory/box")
        b.attrs["dimension"], b.attrs["boundary"] = 3, np.array([b"none"] * 3)


def _load_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


@pytest.fixture(scope="session")
def emulators():
    """Endpoints of the local test servers (scripts/emulators/run.sh): the env
    file exported by `make check`, or servers started here with a lifetime."""
    envf = os.environ.get("ZT_EMU_ENV") or os.environ.get("ZT_EMULATOR_ENV")
    if not envf or not os.path.exists(envf):
        src = os.environ.get("ZT_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
        p = subprocess.run(["sh", os.path.join(src, "scripts", "emulators", "run.sh"), "start", "--ttl", "1800"],
                           capture_output=True, text=True, timeout=600)
        lines = p.stdout.strip().splitlines()
        envf = lines[-1] if p.returncode == 0 and lines else None
    if not envf or not os.path.exists(envf):
        if os.environ.get("ZT_REQUIRE_EMULATORS") == "1":
            pytest.fail("test servers unavailable (ZT_REQUIRE_EMULATORS=1)")
        pytest.skip("test servers unavailable (node/npm missing?)")
    env = _load_env(envf)
    os.environ.update({k: v for k, v in env.items() if k == "STORAGE_EMULATOR_HOST"})
    return env


# ---- zarr-python 2 and 3 --------------------------------------------------------------------------

def zarr_v2_group(path):
    """A new Zarr v2 root group at `path`, written by zarr-python (2 or 3)."""
    if ZARR3:
        return zarr.open_group(str(path), mode="w", zarr_format=2)
    return zarr.group(store=zarr.DirectoryStore(str(path)), overwrite=True)


def zarr_v2_array(group, name, data, chunks=None, compressor="default", filters=None, order="C", fill_value=0,
                  separator="."):
    """Array `name` of `group` holding `data`, written by zarr-python: `compressor`
    "default" is zarr-python's own default, None no compression."""
    data = __import__("numpy").asarray(data)
    chunks = chunks or data.shape or ()
    if ZARR3:
        kw = dict(name=name, shape=data.shape, dtype=data.dtype, chunks=chunks, fill_value=fill_value, order=order,
                  chunk_key_encoding={"name": "v2", "separator": separator}, filters=filters)
        if compressor != "default":
            kw["compressors"] = compressor
        a = group.create_array(**kw)
    else:
        kw = dict(shape=data.shape, dtype=data.dtype, chunks=chunks, fill_value=fill_value, order=order,
                  dimension_separator=separator, filters=filters)
        if compressor != "default":
            kw["compressor"] = compressor
        a = group.create_dataset(name, **kw)
    a[...] = data
    return a


def zarr_codecs(arr):
    """(compressor, [filters]) of a Zarr v2 array as zarr-python parsed them
    (numcodecs objects; None when uncompressed)."""
    if ZARR3:
        comps = tuple(arr.compressors or ())
        return (comps[0] if comps else None), list(arr.filters or ())
    return arr.compressor, list(arr.filters or ())


def zarr_open(path, consolidated=False):
    """A zarr-python group opened read-only (consolidated: through .zmetadata)."""
    if consolidated:
        return zarr.open_consolidated(str(path), mode="r")
    return zarr.open_group(str(path), mode="r")


def zarray_json(path, array):
    with open(os.path.join(str(path), array, ".zarray")) as f:
        return json.load(f)
