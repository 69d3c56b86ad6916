"""zarrtraj: stream H5MD and zarrmd molecular-dynamics trajectories from local
disk and object storage (S3, GCS, Azure, HTTPS) into MDAnalysis.

``import zarrtraj`` registers with MDAnalysis:

* :class:`ZARRH5MDReader` for the formats H5MD, H5, ZARRMD and ZARR (local
  paths and ``s3://``, ``gs://``/``gcs://``, ``az://``/``abfs://``, ``https://``
  URLs), replacing MDAnalysis' own H5MD reader;
* :class:`ZARRMDWriter` for ZARRMD.

:class:`FrameDataset` and :class:`ChunkShuffleSampler` serve shuffled frames
for machine learning (NumPy; works with torch's DataLoader, never imports it).

The work is done by libzarrtraj (C) through the extension ``zarrtraj._core``,
whose errors are raised as the exception classes exported here (each also an
instance of the matching builtin: FileNotFoundError, ValueError, ...).
"""
from . import _core
from ._core import (AuthError, CorruptDataError, ExistsError, FormatError, FrameRangeError, GroupError,
                    InvalidArgumentError, NetworkError, NoFrameDataError, NotFoundError, OutOfMemoryError,
                    StateError, StoreIOError, StoreTimeoutError, ZarrtrajError)
from ._core import Reader as CoreReader
from ._core import Writer as CoreWriter
from ._core import list_groups
from ._options import storage_pairs
from .dataset import ChunkShuffleSampler, FrameDataset, RandomBatchSampler, to_torch

__version__ = _core.LIB_VERSION  # one source: ZT_VERSION_STRING in include/zarrtraj.h


def glob(pattern, storage_options=None):
    """Sorted URLs matching a glob pattern on its store (local, memory://, S3, GCS, Azure, HTTP with an
    index): one listing per directory level; in URLs `*` and `[..]` match and `?` starts the query."""
    return _core.glob(pattern, storage_pairs(storage_options))


__all__ = ["ZARRH5MDReader", "ZARRMDWriter", "CoreReader", "CoreWriter", "list_groups", "glob", "storage_pairs",
           "FrameDataset", "ChunkShuffleSampler", "RandomBatchSampler", "to_torch",
           "ZarrtrajError", "AuthError", "CorruptDataError", "ExistsError", "FormatError", "FrameRangeError",
           "GroupError", "InvalidArgumentError", "NetworkError", "NoFrameDataError", "NotFoundError",
           "OutOfMemoryError", "StateError", "StoreIOError", "StoreTimeoutError", "convert"]


def _frames_spec(frames):
    if isinstance(frames, slice):
        return ":".join("" if v is None else str(_int("frames", v)) for v in (frames.start, frames.stop, frames.step))
    if isinstance(frames, str):
        return frames
    return str(_int("frames", frames))


def _int(name, value):
    import operator
    if isinstance(value, bool):
        raise TypeError(f"convert: {name} must be an integer, not bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"convert: {name} must be an integer, not {type(value).__name__}") from None


def _size(name, value):
    return value if isinstance(value, str) else str(_int(name, value))


def convert(src, dst, *, preset=None, precision=None, quantum=None, compressor=None, chunk_bytes=None,
            zarr_format=None, shard_bytes=None, inner_frames=None, frames=None, group=None, out_group=None,
            overwrite=False, storage_options=None, src_storage_options=None, dst_storage_options=None,
            progress=None):
    """Copy a trajectory (zarrmd, H5MD, XTC, TRR, DCD, AMBER NetCDF) to ``dst``: zarrmd, or H5MD when
    ``dst`` ends in ``.h5md``/``.h5``, or XTC for ``.xtc``; local paths or URLs on either side.

    The same as ``zarrtraj convert`` (C, no MDAnalysis involved; the GIL is released): ``preset="compact"``
    (``quantum`` e.g. ``"0.001 nm"``), ``precision`` (decimal digits kept), ``compressor`` (numcodecs JSON or
    short form), ``chunk_bytes``/``shard_bytes`` (int or ``"12M"``), ``zarr_format`` 2 or 3, ``inner_frames``,
    ``frames`` (a slice, an index or ``"A:B:S"``; steps must increase), ``group``/``out_group``, ``overwrite``.
    ``storage_options`` apply to both sides, ``src_storage_options``/``dst_storage_options`` (added on top)
    to one. ``progress(done, total)`` is called after every frame; an exception raised there stops the
    conversion and propagates. Errors raise the library's exceptions with its message.
    """
    import os
    settings = {}
    if preset is not None:
        settings["preset"] = str(preset)
    if precision is not None:
        settings["precision"] = str(_int("precision", precision))
    if quantum is not None:
        if isinstance(quantum, bool) or not isinstance(quantum, (int, float, str)):
            raise TypeError(f"convert: quantum must be a number or a string like '0.001 nm', not {quantum!r}")
        settings["quantum"] = repr(float(quantum)) if not isinstance(quantum, str) else quantum
    if compressor is not None:
        settings["compressor"] = compressor if isinstance(compressor, str) else __import__("json").dumps(compressor)
    if chunk_bytes is not None:
        settings["chunk_bytes"] = _size("chunk_bytes", chunk_bytes)
    if zarr_format is not None:
        settings["zarr_format"] = str(_int("zarr_format", zarr_format))
    if shard_bytes is not None:
        settings["shard_bytes"] = _size("shard_bytes", shard_bytes)
    if inner_frames is not None:
        settings["inner_frames"] = str(_int("inner_frames", inner_frames))
    if frames is not None:
        settings["frames"] = _frames_spec(frames)
    if group is not None:
        settings["group"] = str(group)
    if out_group is not None:
        settings["out_group"] = str(out_group)
    if overwrite:
        settings["overwrite"] = "1"
    both = dict(storage_pairs(storage_options))
    src_so = tuple({**both, **dict(storage_pairs(src_storage_options))}.items())
    dst_so = tuple({**both, **dict(storage_pairs(dst_storage_options))}.items())
    _core.convert(os.fspath(src), os.fspath(dst), tuple(settings.items()), src_so, dst_so, progress)

try:
    import MDAnalysis  # noqa: F401  (imported first: its H5MD reader registers, then ours replaces it)
except ImportError:  # the low-level API works without MDAnalysis
    HAS_MDANALYSIS = False
else:
    HAS_MDANALYSIS = True
    from .reader import ZARRH5MDReader
    from .writer import ZARRMDWriter
