"""Frames for machine learning: a map-style dataset, a chunk-aware sampler and
background prefetch, with plain NumPy (PyTorch optional, never imported here).

:class:`FrameDataset` serves frames of one trajectory or of many (a list or a
local glob of URLs; global index = the files' frames concatenated). A batch is
read with one ``zt_reader_read_frames`` call per element and file: every chunk
of the batch is in flight at once, the GIL released; the frames of different
files are read concurrently from a small thread pool. Readers open lazily, at
most ``max_open`` stay open (least recently used closed first), and a pickled
dataset carries the URLs, options and the metadata learned so far, never an
open handle: every process (fork or spawn) opens its own readers.
"""
import collections
import glob as _glob
import os
import queue
import threading
import weakref

import numpy as np

from . import _core
from ._options import storage_pairs, trajectory_url

__all__ = ["FrameDataset", "ChunkShuffleSampler", "RandomBatchSampler", "to_torch"]

_ELEMENTS = {"position": "position", "positions": "position", "velocity": "velocity", "velocities": "velocity",
             "force": "force", "forces": "force"}
_BIT = {"position": 1, "velocity": 2, "force": 4}
#: Requests in flight per batch on network stores (the engine keeps 64 connections per host).
_BATCH_CONCURRENCY = 64

#: Readers of datasets inherited through fork(): never closed in the child
#: (their threads did not survive the fork), only kept from being deallocated.
_inherited = []
_live = weakref.WeakSet()


def _after_fork():
    for ds in list(_live):
        ds._drop_process_state(inherited=True)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _expand(urls, storage_options=None):
    """List of URLs from a URL, a path, a glob pattern (local or on a store
    that lists: S3, GCS, Azure, ...) or a sequence of them."""
    if isinstance(urls, (str, os.PathLike)):
        urls = [urls]
    out = []
    for u in urls:
        s = os.fspath(u) if isinstance(u, os.PathLike) else u
        if not isinstance(s, str):
            raise TypeError(f"FrameDataset: expected a URL, a path or a list of them, got {type(u).__name__}")
        if "://" not in s and _glob.has_magic(s):
            hits = sorted(_glob.glob(s))
            if not hits:
                raise FileNotFoundError(f"FrameDataset: no file matches {s!r}")
            out += [trajectory_url(h) for h in hits]
        elif "://" in s and any(c in s.split("://", 1)[1].split("?", 1)[0] for c in "*["):
            hits = _core.glob(s, storage_pairs(storage_options))  # zarrtraj.glob: one listing per directory level
            if not hits:
                raise FileNotFoundError(f"FrameDataset: nothing matches {s!r}")
            out += hits
        else:
            out.append(trajectory_url(s))
    if not out:
        raise ValueError("FrameDataset: no trajectory given")
    return out


def _atoms_arg(atoms):
    if atoms is None or isinstance(atoms, slice):
        return atoms
    a = np.asarray(atoms)
    if a.dtype == bool:
        a = np.flatnonzero(a)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
        raise TypeError("atoms: expected None, a slice, or a 1-D array of atom indices or booleans")
    return np.ascontiguousarray(a, dtype=np.int64)


class _Open:
    """One open reader of this process and what was loaded with it."""
    __slots__ = ("reader", "obs", "busy")

    def __init__(self, reader):
        self.reader = reader
        self.obs = None  # name -> (values per frame (n_frames, *shape) float64)
        self.busy = 0


class FrameDataset:
    """Map-style dataset of trajectory frames (PyTorch ``Dataset`` protocol,
    without importing torch).

    ``ds[i]`` is a dict of NumPy arrays for frame ``i``: each element in
    `elements` (``"position"``, ``"velocity"``, ``"force"``: float32
    (n_atoms, 3), NaN where the element is not sampled at that frame), ``"box"``
    (float32 [a, b, c, alpha, beta, gamma], zeros without a box), ``"time"``
    (float64, NaN when absent), ``"step"`` (int64) and every name in
    `observables` (float64 of the observable's shape, NaN when not sampled at
    that frame's step). ``ds.__getitems__(indices)`` (called by
    ``torch.utils.data.DataLoader`` for a whole batch) returns the list of
    those dicts, which the default collate stacks; :meth:`read_batch` returns
    one dict of stacked arrays (frames first) instead, which is what
    ``batch_dict=True`` makes ``__getitems__`` return (use
    ``collate_fn=zarrtraj.to_torch`` or an identity collate with it).

    Parameters
    ----------
    urls : str, os.PathLike or sequence of them
        Trajectories (H5MD file or zarrmd hierarchy, local or any URL the C
        library opens); local paths may be glob patterns (sorted). Several
        files are concatenated in the given order.
    elements : sequence of str
        Per-atom elements to read (may be empty: metadata and observables only).
    atoms : None, slice or index array
        Atoms to keep (the whole frame is read, then subset).
    storage_options : dict
        fsspec-style options (as for :class:`ZARRH5MDReader`).
    box, time, step : bool
        Whether to include those entries.
    observables : sequence of str
        Observable names (as in ``zarrtraj.CoreReader.data_info()``).
    convert_units : bool
        False (default): values as stored, as zarr-python and h5py read them;
        True: MDAnalysis base units (Angstrom, ps, ...).
    group : str
        Particle group (default: the only one).
    max_open : int
        Open readers kept per process (LRU).
    n_frames : sequence of int
        Frame counts of the files when known, so ``len()`` opens nothing.
    cache_bytes, readahead_bytes, threads :
        Per-reader options of :class:`zarrtraj.CoreReader`. A batch is
        fetched in rounds of at most a third of `cache_bytes` of chunks, the
        next round in flight while one is copied out (which needs
        `readahead_bytes` > 0); memory is bounded by about `max_open` x
        (`cache_bytes` + `readahead_bytes`).
    batch_dict : bool
        ``__getitems__`` returns :meth:`read_batch`'s dict instead of a list.
    """

    def __init__(self, urls, elements=("position",), atoms=None, storage_options=None, box=True, time=True,
                 step=True, observables=(), convert_units=False, group=None, max_open=16, n_frames=None,
                 cache_bytes=128 << 20, readahead_bytes=64 << 20, threads=0, batch_dict=False):
        self.urls = _expand(urls, storage_options)
        if isinstance(elements, str):
            elements = (elements,)
        els = []
        for e in elements:
            if e not in _ELEMENTS:
                raise ValueError(f"FrameDataset: element must be 'position', 'velocity' or 'force', not {e!r}")
            els.append(_ELEMENTS[e])
        self.elements = tuple(els)
        self.atoms = _atoms_arg(atoms)
        self.storage_options = storage_pairs(storage_options)
        self.box, self.time, self.step = bool(box), bool(time), bool(step)
        self.observables = (observables,) if isinstance(observables, str) else tuple(observables)
        self.convert_units = bool(convert_units)
        self.group = group
        if int(max_open) < 1:
            raise ValueError("FrameDataset: max_open must be >= 1")
        self.max_open = int(max_open)
        self.cache_bytes, self.readahead_bytes, self.threads = int(cache_bytes), int(readahead_bytes), int(threads)
        self.batch_dict = bool(batch_dict)
        self._counts = [None] * len(self.urls)
        self._atoms_n = [None] * len(self.urls)
        self._groups = [None] * len(self.urls)
        if n_frames is not None:
            n_frames = [int(n) for n in n_frames]
            if len(n_frames) != len(self.urls):
                raise ValueError(f"FrameDataset: n_frames has {len(n_frames)} entries for {len(self.urls)} files")
            self._counts = n_frames
        self._cum = None
        self._init_process_state()

    # ---- per-process state (never pickled) -------------------------------------------

    def _init_process_state(self):
        self._pool = collections.OrderedDict()  # file index -> _Open
        self._lock = threading.Lock()
        self._executor = None
        self._pid = os.getpid()
        _live.add(self)

    def _drop_process_state(self, inherited=False):
        pool = getattr(self, "_pool", None)
        if pool:
            if inherited:
                _inherited.extend(o.reader for o in pool.values())
            else:
                for o in pool.values():
                    o.reader.close()
        self._pool = collections.OrderedDict()
        self._lock = threading.Lock()
        self._executor = None
        self._pid = os.getpid()

    def __getstate__(self):
        st = self.__dict__.copy()
        for k in ("_pool", "_lock", "_executor", "_pid"):
            st.pop(k, None)
        return st

    def __setstate__(self, st):
        self.__dict__.update(st)
        self._init_process_state()

    def close(self):
        """Close the open readers of this process (reopened on the next read)."""
        if os.getpid() != self._pid:
            self._drop_process_state(inherited=True)
            return
        with self._lock:
            pool, self._pool = self._pool, collections.OrderedDict()
        for o in pool.values():
            o.reader.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            if getattr(self, "_pid", None) == os.getpid() and self._executor is not None:
                self._executor.shutdown(wait=False)
        except Exception:  # interpreter shutdown
            pass

    # ---- readers ---------------------------------------------------------------------

    def _open(self, fi):
        return _core.Reader(self.urls[fi], self.group, self.cache_bytes, self._options(self.urls[fi]),
                            self.convert_units, self.readahead_bytes, self.threads)

    def _options(self, url):
        """Storage options for `url`: a network store keeps a whole batch in
        flight (one round trip for 64 inner chunks instead of two waves of the
        store's default 32) unless the caller set max_concurrency."""
        so = self.storage_options
        scheme = url.split("://", 1)[0].lower() if "://" in url else "file"
        if scheme != "file" and not any(k == "max_concurrency" for k, _ in so):
            so = tuple(so) + (("max_concurrency", str(_BATCH_CONCURRENCY)),)
        return so

    def _acquire(self, fi):
        """The open reader of file `fi` in this process, marked busy (not evicted)."""
        if os.getpid() != self._pid:  # forked without register_at_fork
            self._drop_process_state(inherited=True)
        with self._lock:
            o = self._pool.get(fi)
            if o is not None and not o.reader.closed:
                self._pool.move_to_end(fi)
                o.busy += 1
                return o
        r = self._open(fi)  # outside the lock: opening costs round trips
        with self._lock:
            o = self._pool.get(fi)
            if o is not None and not o.reader.closed:
                extra = r  # opened twice concurrently: keep the first
            else:
                extra = None
                o = self._pool[fi] = _Open(r)
            self._pool.move_to_end(fi)
            o.busy += 1
        if extra is not None:
            extra.close()
        try:
            self._learn(fi, o.reader)
        except BaseException:
            self._release(o)
            raise
        return o

    def _release(self, o):
        evicted = []
        with self._lock:
            o.busy -= 1
            if len(self._pool) > self.max_open:
                for k in list(self._pool):
                    if len(self._pool) <= self.max_open:
                        break
                    if self._pool[k].busy == 0:
                        evicted.append(self._pool.pop(k))
        for e in evicted:
            e.reader.close()

    def _learn(self, fi, r):
        n = r.n_frames
        if self._counts[fi] is not None and self._counts[fi] != n:
            raise ValueError(f"FrameDataset: {self.urls[fi]}: {n} frames, but n_frames said {self._counts[fi]}")
        self._counts[fi] = n
        self._atoms_n[fi] = r.n_atoms

    def _map(self, fn, items):
        """fn over items, concurrently (the C calls release the GIL)."""
        items = list(items)
        if len(items) <= 1:
            return [fn(x) for x in items]
        with self._lock:
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor
                self._executor = ThreadPoolExecutor(max_workers=min(8, max(2, self.max_open)),
                                                    thread_name_prefix="zarrtraj-dataset")
            ex = self._executor
        return list(ex.map(fn, items))

    def _probe(self, files):
        def one(fi):
            o = self._acquire(fi)
            self._release(o)
        self._map(one, files)

    # ---- indexing --------------------------------------------------------------------

    @property
    def n_files(self):
        return len(self.urls)

    def file_lengths(self):
        """Frames of every file (opens the files whose count is not known yet)."""
        missing = [i for i, c in enumerate(self._counts) if c is None]
        if missing:
            self._probe(missing)
        return list(self._counts)

    def _offsets(self):
        if self._cum is None:
            self._cum = np.concatenate([[0], np.cumsum(self.file_lengths(), dtype=np.int64)])
        return self._cum

    def __len__(self):
        return int(self._offsets()[-1])

    def locate(self, indices):
        """(file index, frame in file) arrays for global `indices` (negative counts from the end)."""
        cum = self._offsets()
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = int(cum[-1])
        idx = np.where(idx < 0, idx + n, idx)
        bad = (idx < 0) | (idx >= n)
        if bad.any():
            raise IndexError(f"FrameDataset: index {int(np.asarray(indices).reshape(-1)[np.argmax(bad)])} "
                             f"out of range ({n} frames)")
        fi = np.searchsorted(cum, idx, side="right") - 1
        return fi, idx - cum[fi]

    def chunk_groups(self):
        """Global index of the first frame of every chunk group: runs of
        consecutive frames whose first element lives in the same storage chunk
        (the shard or chunk along frames that ``array_info`` reports), file
        after file. Opens files not yet seen."""
        missing = [i for i, g in enumerate(self._groups) if g is None]
        if missing:
            def one(fi):
                o = self._acquire(fi)
                try:
                    self._groups[fi] = self._file_groups(o.reader)
                finally:
                    self._release(o)
            self._map(one, missing)
        cum = self._offsets()
        return np.concatenate([g + cum[i] for i, g in enumerate(self._groups)]).astype(np.int64)

    def _file_groups(self, r):
        n = r.n_frames
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        el = self.elements[0] if self.elements else "position"
        info = r.array_info(el)
        if info is None:
            return np.zeros(1, dtype=np.int64)
        rows = max(int(info["chunks"][0]), 1)
        has = (np.asarray(r.frame_flags()) & _BIT[el]) != 0
        chunk = np.maximum(np.cumsum(has, dtype=np.int64) - 1, 0) // rows
        return np.concatenate([[0], np.flatnonzero(np.diff(chunk)) + 1]).astype(np.int64)

    # ---- reading ---------------------------------------------------------------------

    def _subset(self, arr):
        a = self.atoms
        if a is None:
            return arr
        return arr[:, a] if isinstance(a, slice) else np.take(arr, a, axis=1)

    def _observables(self, o):
        """Observable values per frame of an open file, loaded once per reader."""
        if o.obs is not None:
            return o.obs
        r = o.reader
        infos = {d["name"]: (k, d) for k, d in enumerate(r.data_info())}
        steps = np.asarray(r.steps()[0])
        obs = {}
        for name in self.observables:
            if name not in infos:
                raise _core.NotFoundError(f"{r.url}: no observable named {name!r} "
                                          f"(available: {', '.join(sorted(infos)) or 'none'})")
            k, d = infos[name]
            values, s, _ = r.read_data_all(k)
            shape = tuple(d["shape"])
            if not d["time_dependent"]:
                obs[name] = np.broadcast_to(values.reshape((1,) + shape), (len(steps),) + shape)
                continue
            pos = np.searchsorted(s, steps)
            ok = pos < len(s)
            ok[ok] = s[pos[ok]] == steps[ok]
            full = np.full((len(steps),) + shape, np.nan)
            full[ok] = values.reshape((len(s),) + shape)[pos[ok]]
            obs[name] = full
        o.obs = obs
        return obs

    def _read_file(self, job):
        """Dict of stacked arrays for frames `local` of file `fi`."""
        fi, local = job
        frames = np.ascontiguousarray(local, dtype=np.int64)
        o = self._acquire(fi)
        try:
            r = o.reader
            out = {}
            need_info = self.box or self.time or self.step
            info = None
            for k, el in enumerate(self.elements):
                if k == 0 and need_info:
                    arr, *info = r.read_frames(el, frames, info=True)
                else:
                    arr = r.read_frames(el, frames)
                out[el] = self._subset(arr)
            if need_info and info is None:  # no element: metadata frame by frame (no chunk is fetched)
                res = [r.read_frame(int(i)) for i in frames]
                info = (np.array([x[0] for x in res], dtype=np.int64), np.array([x[1] for x in res]),
                        np.array([x[3] if x[3] is not None else (0.0,) * 6 for x in res], dtype=np.float64)
                        .reshape(len(res), 6), None)
            if need_info:
                steps, times, dims = info[0], info[1], info[2]
                if self.box:
                    out["box"] = dims.astype(np.float32)
                if self.time:
                    out["time"] = times
                if self.step:
                    out["step"] = steps
            if self.observables:
                for name, full in self._observables(o).items():
                    out[name] = np.ascontiguousarray(full[frames])
            return out
        finally:
            self._release(o)

    def _keys(self):
        return (list(self.elements) + (["box"] if self.box else []) + (["time"] if self.time else [])
                + (["step"] if self.step else []) + list(self.observables))

    def read_batch(self, indices):
        """Frames `indices` (any order, repeats allowed) as one dict of arrays
        stacked along a first axis of len(indices), in the order asked for."""
        fi, local = self.locate(indices)
        n = len(fi)
        if n == 0:
            return self._empty()
        files = np.unique(fi)
        jobs, where = [], []
        for f in files:
            sel = np.flatnonzero(fi == f)
            jobs.append((int(f), local[sel]))
            where.append(sel)
        parts = self._map(self._read_file, jobs)
        if len(parts) == 1:
            return parts[0]
        out = {}
        for key in self._keys():
            shapes = {p[key].shape[1:] for p in parts}
            if len(shapes) != 1:
                raise ValueError(f"FrameDataset: {key!r} has shapes {sorted(shapes)} in the files of this batch; "
                                 "stack per file or use __getitems__ (a list of frames)")
            first = parts[0][key]
            buf = np.empty((n,) + first.shape[1:], dtype=first.dtype)
            for sel, p in zip(where, parts):
                buf[sel] = p[key]
            out[key] = buf
        return out

    def _empty(self):
        if self._atoms_n[0] is None and self.elements:
            self._probe([0])
        n_atoms = self._atoms_n[0] or 0
        na = len(np.arange(n_atoms)[self.atoms]) if self.atoms is not None else n_atoms
        out = {el: np.zeros((0, na, 3), np.float32) for el in self.elements}
        if self.box:
            out["box"] = np.zeros((0, 6), np.float32)
        if self.time:
            out["time"] = np.zeros(0)
        if self.step:
            out["step"] = np.zeros(0, np.int64)
        for name in self.observables:
            out[name] = np.zeros(0)
        return out

    def _read_list(self, indices):
        if len(self.urls) == 1 or not len(indices):
            b = self.read_batch(indices)
            return [{k: v[j] for k, v in b.items()} for j in range(len(indices))]
        # several files: per-file arrays, so files of different sizes mix in a list
        fi, local = self.locate(indices)
        files = np.unique(fi)
        jobs = [(int(f), local[fi == f]) for f in files]
        parts = dict(zip(files.tolist(), self._map(self._read_file, jobs)))
        seen = collections.Counter()
        res = []
        for f in fi.tolist():
            p = parts[f]
            j = seen[f]
            seen[f] += 1
            res.append({k: v[j] for k, v in p.items()})
        return res

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.read_batch(np.arange(len(self))[i])
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"FrameDataset indices must be integers or slices, not {type(i).__name__}")
        return self._read_list([int(i)])[0]

    def __getitems__(self, indices):
        """A whole batch (what torch's DataLoader calls): the list of frame
        dicts, or with ``batch_dict=True`` one dict of stacked arrays."""
        if self.batch_dict:
            return self.read_batch(indices)
        return self._read_list(list(indices))

    def frame_bytes(self):
        """Bytes of one frame as returned (an estimate across files)."""
        na = max((n for n in self._atoms_n if n is not None), default=None)
        if na is None:
            self._probe([0])
            na = self._atoms_n[0]
        if self.atoms is not None:
            na = len(np.arange(na)[self.atoms])
        return 12 * na * len(self.elements) + 24 * self.box + 16 + 8 * len(self.observables)

    def batches(self, sampler=None, batch_size=64, shuffle=True, seed=None, drop_last=False, prefetch=2,
                memory_bytes=256 << 20):
        """Iterate batches (dicts of stacked arrays, :meth:`read_batch`) with
        the next ones read in a background thread while the current one is used.

        `sampler` yields lists of indices (a batch sampler such as
        :class:`ChunkShuffleSampler`) or single indices (grouped by
        `batch_size`); by default a uniform shuffle (:class:`RandomBatchSampler`
        with `seed`) or, with ``shuffle=False``, the frames in order. At most
        `prefetch` batches are read ahead, fewer when they would exceed
        `memory_bytes` (0 when one batch does: reads then happen in the loop)."""
        if sampler is None:
            sampler = RandomBatchSampler(self, batch_size, seed=seed, shuffle=shuffle, drop_last=drop_last)
        depth = max(0, min(int(prefetch), int(memory_bytes) // max(1, batch_size * self.frame_bytes())))
        return _Prefetch(self, lambda: _as_batches(sampler, batch_size, drop_last), depth)

    def __repr__(self):
        n = len(self.urls)
        what = self.urls[0] if n == 1 else f"{n} files"
        return f"<zarrtraj.FrameDataset {what} elements={self.elements}>"


def _as_batches(sampler, batch_size, drop_last):
    cur = []
    for x in sampler:
        if isinstance(x, (int, np.integer)):
            cur.append(int(x))
            if len(cur) == batch_size:
                yield cur
                cur = []
        else:
            yield list(x)
    if cur and not drop_last:
        yield cur


class _Prefetch:
    """Iterable of batches read `depth` ahead by one background thread (each
    iteration walks the sampler again)."""

    def __init__(self, ds, make_batches, depth):
        self._ds, self._make, self._depth = ds, make_batches, depth

    def __iter__(self):
        batches = self._make()
        if self._depth == 0:
            for b in batches:
                yield self._ds.read_batch(b)
            return
        slots = threading.Semaphore(self._depth)
        q = queue.Queue()
        stop = threading.Event()

        def work():
            try:
                for b in batches:
                    while not slots.acquire(timeout=0.1):
                        if stop.is_set():
                            return
                    if stop.is_set():
                        return
                    q.put(("ok", self._ds.read_batch(b)))
                q.put(("end", None))
            except BaseException as e:  # handed to the consumer
                q.put(("err", e))

        thread = threading.Thread(target=work, name="zarrtraj-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                kind, v = q.get()
                if kind == "end":
                    return
                if kind == "err":
                    raise v
                yield v
                slots.release()  # the consumer is done with the batch it just had
        finally:
            stop.set()
            thread.join()


class RandomBatchSampler:
    """Uniformly shuffled batches of indices (reproducible per seed and epoch):
    the default of :meth:`FrameDataset.batches`, equivalent to a torch
    ``BatchSampler(RandomSampler(ds))``."""

    def __init__(self, dataset, batch_size, seed=None, shuffle=True, drop_last=False):
        self.n = len(dataset)
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), bool(shuffle), bool(drop_last)
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.seed = int(np.random.SeedSequence().entropy % (1 << 63)) if seed is None else int(seed)
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def order(self):
        if not self.shuffle:
            return np.arange(self.n, dtype=np.int64)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)

    def __iter__(self):
        o = self.order()
        for s in range(0, len(o), self.batch_size):
            b = o[s:s + self.batch_size]
            if len(b) < self.batch_size and self.drop_last:
                return
            yield b.tolist()

    def __len__(self):
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)


class ChunkShuffleSampler(RandomBatchSampler):
    """Two-level shuffling that trades randomness for throughput, on purpose.

    The chunk groups of the dataset (:meth:`FrameDataset.chunk_groups`: runs of
    frames stored in the same chunk or shard, in every file) are shuffled;
    then the frames of each `window` consecutive groups of that order are
    shuffled together and cut into batches. A batch therefore draws from about
    `window` chunks instead of up to `batch_size`, so it costs fewer and
    better-cached chunk reads, while frames near each other in time land in the
    same batches more often than with a uniform shuffle (larger `window`: more
    random, more chunks per batch). Every index comes exactly once per epoch;
    the order is a function of (`seed`, epoch); call :meth:`set_epoch` each
    epoch (as with torch's ``DistributedSampler``) for a new order.

    `group_frames` replaces the storage chunks by runs of that many frames
    per file (e.g. a few shards' worth when the reported chunks are single
    frames); `group_starts` gives the groups' first global indices directly.

    Yields lists of indices: pass it as ``batch_sampler=`` to a torch
    ``DataLoader`` or as `sampler` to :meth:`FrameDataset.batches`.
    """

    def __init__(self, dataset, batch_size, seed=0, window=4, drop_last=False, group_frames=None, group_starts=None):
        super().__init__(dataset, batch_size, seed=seed, drop_last=drop_last)
        if int(window) < 1:
            raise ValueError("window must be >= 1")
        self.window = int(window)
        if group_starts is not None:
            starts = np.asarray(group_starts, dtype=np.int64)
        elif group_frames is not None:  # fixed runs per file instead of the storage chunks
            if int(group_frames) < 1:
                raise ValueError("group_frames must be >= 1")
            cum = dataset._offsets()
            starts = np.concatenate([np.arange(cum[i], cum[i + 1], int(group_frames)) for i in range(len(cum) - 1)])
        else:
            starts = dataset.chunk_groups()
        self.starts = np.unique(np.concatenate([[0], starts[starts < self.n]])) if self.n else starts[:0]

    def order(self):
        n = self.n
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        rng = np.random.default_rng([self.seed, self.epoch])
        g = len(self.starts)
        rank = np.empty(g, dtype=np.int64)
        rank[rng.permutation(g)] = np.arange(g)  # position of each group in the shuffled order
        group_of = np.repeat(np.arange(g), np.diff(np.concatenate([self.starts, [n]])))
        window = rank[group_of] // self.window
        return np.lexsort((rng.random(n), window)).astype(np.int64)


def to_torch(batch):
    """Collate function for ``batch_dict=True`` datasets: the batch dict with
    NumPy arrays as torch tensors (zero copy)."""
    import torch

    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}
