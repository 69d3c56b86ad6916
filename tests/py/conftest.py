"""Shared fixtures: the zarrtraj CLI built by CMake and a scratch directory."""
import os
import shutil
import subprocess

import pytest


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
