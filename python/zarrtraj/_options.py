"""Trajectory locations and storage options.

Storage options follow fsspec's ``storage_options``: a dict of str/bool/number
values (``{"key": ..., "secret": ..., "anon": True}``), including the nested
forms s3fs users write (``client_kwargs={"endpoint_url": ..., "region_name": ...}``,
``config_kwargs={"s3": {"addressing_style": "path"}}``). The C library takes
flat string pairs; :func:`storage_pairs` converts.
"""
import os
import warnings

__all__ = ["storage_pairs", "trajectory_url", "is_url"]

#: URL schemes the C library opens (local files, HTTP(S), S3, GCS, Azure).
URL_SCHEMES = ("file", "memory", "http", "https", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "reference")

_CLIENT_KWARGS = {"endpoint_url": "endpoint_url", "region_name": "region", "verify": "verify"}


def _scalar(key, value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"storage option {key!r}: expected str, bool or number, got {type(value).__name__}")


def storage_pairs(storage_options):
    """Flatten fsspec-style ``storage_options`` to a tuple of ``(str, str)``."""
    if storage_options is None:
        return ()
    if isinstance(storage_options, (tuple, list)):
        items = list(storage_options)
    else:
        items = list(dict(storage_options).items())
    out = {}
    for key, value in items:
        if value is None:
            continue
        if key == "client_kwargs" and isinstance(value, dict):
            for k, v in value.items():
                if k in _CLIENT_KWARGS and v is not None:
                    out[_CLIENT_KWARGS[k]] = _scalar(k, v)
                else:
                    warnings.warn(f"storage_options: client_kwargs[{k!r}] is not used by zarrtraj", stacklevel=3)
            continue
        if key == "config_kwargs" and isinstance(value, dict):
            s3 = value.get("s3") or {}
            if "addressing_style" in s3:
                out["addressing_style"] = _scalar("addressing_style", s3["addressing_style"])
            continue
        if isinstance(value, dict):
            warnings.warn(f"storage_options: nested option {key!r} is not used by zarrtraj", stacklevel=3)
            continue
        out[str(key)] = _scalar(key, value)
    return tuple(out.items())


def is_url(name):
    """Whether ``name`` is a URL of a scheme zarrtraj opens (not a local path)."""
    if not isinstance(name, str) or "://" not in name:
        return False
    return name.split("://", 1)[0].lower() in URL_SCHEMES


def trajectory_url(filename):
    """The string the C library opens for ``filename``: URLs unchanged, local
    paths (str, os.PathLike, an open ``h5py.File``) as absolute paths."""
    if hasattr(filename, "filename") and type(filename).__module__.startswith("h5py"):
        filename = filename.filename  # an open h5py.File: reopen its file
    if isinstance(filename, os.PathLike):
        filename = os.fspath(filename)
    if not isinstance(filename, str):
        filename = str(filename)
    if "://" in filename:
        return filename
    return os.path.abspath(filename)


def url_path(name):
    """Path part of a URL or path without a query string or trailing slash."""
    if "://" in name:
        name = name.split("?", 1)[0].split("#", 1)[0]
    return name.rstrip("/")
