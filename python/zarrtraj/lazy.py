"""Lazy timeseries as dask arrays.

One task per range of storage chunks along frames. A task opens the trajectory
(URL + options, the "spec") once per worker process and thread, keeps the C
reader for later tasks, and reads its frames x atoms block with one call of
``zt_reader_timeseries``: every needed chunk is fetched concurrently and decoded
once, with the GIL released. Tasks carry only the spec, the frame range and a
reference to the atom selection, so they pickle small and run on any
``dask.distributed`` worker that can reach the store.
"""
import collections
import functools
import os
import threading

import numpy as np

from . import _core

__all__ = ["lazy_timeseries", "read_block"]

#: Open readers of this process: (pid, thread, spec) -> _core.Reader (LRU).
_readers = collections.OrderedDict()
_readers_lock = threading.Lock()
_MAX_READERS = 16
#: Readers inherited through fork(): never closed in the child (their
#: threads did not survive the fork), only kept from being deallocated.
_inherited = []

#: Default size of a task's block when storage chunks are small.
TASK_BYTES = 8 << 20


def _after_fork():
    _inherited.extend(_readers.values())
    _readers.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def reader_for(spec):
    """The cached C reader of this process and thread for `spec`
    ``(url, group, cache_bytes, storage_pairs, convert_units)``."""
    key = (os.getpid(), threading.get_ident(), spec)
    with _readers_lock:
        r = _readers.get(key)
        if r is not None and not r.closed:
            _readers.move_to_end(key)
            return r
    url, group, cache, storage, convert = spec
    r = _core.Reader(url, group, cache, storage, convert, 0, 0)
    evicted = []
    with _readers_lock:
        _readers[key] = r
        while len(_readers) > _MAX_READERS:
            evicted.append(_readers.popitem(last=False)[1])
    for e in evicted:
        e.close()
    return r


def read_block(spec, element, f0, f1, stride, sel):
    """Frames f0:f1:stride of `element` for atom selection `sel` (None: all, (a, b):
    a range, int64 array: indices) as float32 (n_frames, n_atoms, 3)."""
    r = reader_for(spec)
    if sel is None:
        return r.timeseries(element, f0, f1, stride)
    if isinstance(sel, tuple):
        return r.timeseries(element, f0, f1, stride, None, sel[0], sel[1])
    return r.timeseries(element, f0, f1, stride, np.ascontiguousarray(sel, dtype=np.int64))


def plan_blocks(frames, flags, bit, chunk_rows, bytes_per_frame, frames_per_task=None):
    """Split `frames` (an increasing arithmetic ``range``) into blocks of
    consecutive frames: [(i0, i1)] index ranges into `frames`.

    Frames are grouped by the storage chunk holding their sample of the element
    (sample = number of earlier frames that sample it); consecutive groups are
    merged while a block stays under TASK_BYTES. With `frames_per_task`, blocks
    hold that many frames instead (cut at chunk boundaries where possible)."""
    n = len(frames)
    if n == 0:
        return []
    fr = np.arange(frames.start, frames.stop, frames.step, dtype=np.int64)
    has = (np.asarray(flags) & bit) != 0
    sample = np.cumsum(has, dtype=np.int64) - 1
    chunk = np.maximum(sample[fr], 0) // max(int(chunk_rows), 1)
    cuts = np.flatnonzero(np.diff(chunk)) + 1
    groups = list(zip(np.r_[0, cuts], np.r_[cuts, n]))
    target = frames_per_task if frames_per_task else max(1, TASK_BYTES // max(bytes_per_frame, 1))
    segments = []
    for a, b in groups:
        a, b = int(a), int(b)
        while frames_per_task and b - a > target:  # long chunk groups are split
            segments.append((a, a + target))
            a += target
        segments.append((a, b))
    blocks = []
    s0, s1 = segments[0]
    for a, b in segments[1:]:
        if b - s0 <= target:  # short consecutive groups are merged
            s1 = b
        else:
            blocks.append((s0, s1))
            s0, s1 = a, b
    blocks.append((s0, s1))
    return blocks


def lazy_timeseries(spec, element, frames, sel, nsel, flags, bit, chunk_rows, frames_per_task=None):
    """Dask array (n_frames, nsel, 3) float32 of `element` over `frames` (a range,
    any step) for selection `sel`; see :meth:`ZARRH5MDReader.lazytimeseries`."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    reverse = frames.step < 0
    if reverse:
        frames = frames[::-1]
    name = "zarrtraj-timeseries-" + tokenize(spec, element, frames.start, frames.stop, frames.step, sel,
                                             frames_per_task)
    blocks = plan_blocks(frames, flags, bit, chunk_rows, nsel * 12, frames_per_task)
    dsk = {}
    sel_arg = sel
    if isinstance(sel, np.ndarray):
        sel_arg = name + "-atoms"  # stored once in the graph, referenced by every task
        dsk[sel_arg] = sel
    fn = functools.partial(read_block, spec, element)
    counts = []
    for b, (i0, i1) in enumerate(blocks):
        f0 = frames[i0]
        f1 = frames[i1 - 1] + 1
        dsk[(name, b, 0, 0)] = (fn, f0, f1, frames.step, sel_arg)
        counts.append(i1 - i0)
    chunks = (tuple(counts) if counts else (0,), (nsel,), (3,))
    if not counts:
        return da.zeros((0, nsel, 3), dtype=np.float32)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    arr = da.Array(graph, name, chunks, dtype=np.float32)
    return arr[::-1] if reverse else arr
