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
__all__ = ["ZARRH5MDReader", "ZARRMDWriter", "CoreReader", "CoreWriter", "list_groups", "storage_pairs",
           "FrameDataset", "ChunkShuffleSampler", "RandomBatchSampler", "to_torch",
           "ZarrtrajError", "AuthError", "CorruptDataError", "ExistsError", "FormatError", "FrameRangeError",
           "GroupError", "InvalidArgumentError", "NetworkError", "NoFrameDataError", "NotFoundError",
           "OutOfMemoryError", "StateError", "StoreIOError", "StoreTimeoutError"]

try:
    import MDAnalysis  # noqa: F401  (imported first: its H5MD reader registers, then ours replaces it)
except ImportError:  # the low-level API works without MDAnalysis
    HAS_MDANALYSIS = False
else:
    HAS_MDANALYSIS = True
    from .reader import ZARRH5MDReader
    from .writer import ZARRMDWriter
