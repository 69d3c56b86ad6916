"""MDAnalysis reader for H5MD (HDF5) and zarrmd (Zarr v2) trajectories.

Importing :mod:`zarrtraj` registers :class:`ZARRH5MDReader` for the formats
``H5MD``, ``H5``, ``ZARRMD`` and ``ZARR`` (replacing MDAnalysis' own H5MD
reader, as Zarrtraj does). Local paths and URLs are accepted::

    import zarrtraj, MDAnalysis as mda
    u = mda.Universe("top.pdb", "s3://bucket/traj.zarrmd",
                     storage_options={"endpoint_url": "http://127.0.0.1:9000"})

Every frame is read by the C library straight into the Timestep's arrays, in
one call that also fills the observables; iteration issues sequential calls,
which lets the library's read-ahead work.
"""
import warnings

import numpy as np
from MDAnalysis.coordinates import base
from MDAnalysis.exceptions import NoDataError
from MDAnalysis.lib.util import store_init_arguments

from . import _core, _units
from ._options import is_url, storage_pairs, trajectory_url, url_path

__all__ = ["ZARRH5MDReader"]

_ELEMENTS = ("position", "velocity", "force")
_BIT = {"position": 1, "velocity": 2, "force": 4, "box": 8}
_EL_ALIASES = {"position": "position", "positions": "position", "velocity": "velocity",
               "velocities": "velocity", "force": "force", "forces": "force"}
_EXTENSIONS = (".h5md", ".h5", ".hdf5", ".zarrmd", ".zarr")

_MSG_NO_H5MD = "H5MD file must contain an 'h5md' group"
_MSG_NO_TIME = ("MDAnalysis requires that time data is available for every time-dependent dataset. "
                "Element '{}' does not have a time dataset (pass require_time=False to read it anyway: "
                "frames without time then use frame * dt)")
_MSG_NO_UNITS = ("H5MD file must have readable units if ``convert_units`` is set to ``True``. MDAnalysis sets "
                 "``convert_units=True`` by default. Set ``convert_units=False`` to load Universe without units. "
                 "Missing: {}")


def _reraise_with(e, prefix):
    """Same exception class and code, message prefixed."""
    new = type(e)(f"{prefix}: {e}")
    for attr in ("code", "errname"):
        if hasattr(e, attr):
            setattr(new, attr, getattr(e, attr))
    return new


def open_core(url, group=None, cache_size=100 * 1024 ** 2, storage_options=None, convert_units=True,
              readahead_size=256 * 1024 ** 2, threads=0):
    """Open a :class:`zarrtraj._core.Reader`; errors named as Zarrtraj names them."""
    try:
        return _core.Reader(url, group, int(cache_size), storage_pairs(storage_options), bool(convert_units),
                            int(readahead_size), int(threads))
    except _core.FormatError as e:
        if getattr(e, "errname", "") == "ZT_ENOTH5MD":
            raise _reraise_with(e, _MSG_NO_H5MD) from None
        raise


class ZARRH5MDReader(base.ReaderBase):
    """Reader for H5MD files and zarrmd hierarchies, local or in object storage.

    Parameters
    ----------
    filename : str or os.PathLike
        Local path, ``file://``, ``s3://``, ``gs://``/``gcs://``, ``az://``/``abfs://``
        or ``http(s)://`` URL of an ``.h5md``/``.h5`` file or a ``.zarrmd`` directory.
    storage_options : dict, optional
        fsspec-style options for the store (``endpoint_url``, ``key``, ``secret``,
        ``anon``, ``account_name``, ``connection_string``, ``token``, ...).
    convert_units : bool
        Convert to MDAnalysis units (Angstrom, ps, Angstrom/ps, kJ/(mol Angstrom)),
        using the unit attributes of the file; the file must then have units.
    group : str, optional
        Particle group; required when the file has several.
    cache_size : int
        Bytes of decoded chunks kept in memory (default 100 MiB).
    readahead_size : int
        Read-ahead window of sequential iteration in bytes (0 disables it).
    threads : int
        Decode threads (0: number of cores).
    require_time : bool
        As Zarrtraj and MDAnalysis, refuse files whose position/velocity/force
        store no time (:exc:`~MDAnalysis.exceptions.NoDataError`). ``False`` reads
        them; frames without a time then get ``frame * dt``.
    **kwargs
        General reader arguments (``dt``, ``time_offset``).
    """

    format = ["H5MD", "H5", "ZARRMD", "ZARR"]
    # Native units of the file (set per instance); values served are in
    # MDAnalysis units when convert_units is true.
    units = {"time": None, "length": None, "velocity": None, "force": None}

    @store_init_arguments
    def __init__(self, filename, storage_options=None, convert_units=True, group=None, cache_size=100 * 1024 ** 2,
                 readahead_size=256 * 1024 ** 2, threads=0, require_time=True, **kwargs):
        self._core = None
        super().__init__(filename, convert_units=convert_units, **kwargs)
        url = trajectory_url(filename)
        self.filename = filename if isinstance(filename, str) else url
        self._url = url
        self.storage_options = storage_options
        self._group_arg = group
        self._cache_size = int(cache_size)
        self._readahead_size = int(readahead_size)
        self._threads = int(threads)
        self._require_time = bool(require_time)
        self._core = open_core(url, group, cache_size, storage_options, convert_units, readahead_size, threads)
        try:
            self._setup()
        except BaseException:
            self._core.close()
            raise
        self._frame = -1
        self._read_next_timestep()

    # ---- set-up ----------------------------------------------------------------

    def _setup(self):
        c = self._core
        self.group = c.group
        self.n_atoms = c.n_atoms
        self._n_frames = c.n_frames
        self._has = {el: c.has(el) for el in _ELEMENTS}
        self._has["box"] = c.box_kind != "none"
        if not any(self._has[el] for el in _ELEMENTS):
            raise NoDataError("Provide at least a position, velocity or force group in the h5md file.")
        if self._require_time:
            for el in _ELEMENTS:
                if self._has[el] and not c.has_time(el):
                    raise NoDataError(_MSG_NO_TIME.format(el))
        self._steps, self._times = c.steps()
        self._flags = c.frame_flags()
        self.units = {
            "time": _units.to_mda("time", c.time_unit),
            "length": _units.to_mda("length", c.unit("position") or c.unit("box")),
            "velocity": _units.to_mda("velocity", c.unit("velocity")),
            "force": _units.to_mda("force", c.unit("force")),
        }
        if self.convert_units:
            missing = []
            if c.time_unit is None and np.isfinite(self._times).any():
                missing.append("time")
            for el in _ELEMENTS:
                if self._has[el] and c.unit(el) is None:
                    missing.append(el)
            if self._has["box"] and c.unit("box") is None:
                missing.append("box/edges")
            if missing:
                raise ValueError(_MSG_NO_UNITS.format(", ".join(missing)))
        # Observables: time-dependent ones are read with every frame (same C
        # call); time-independent ones once.
        self._td = []
        self._ti = {}
        self._data_names = []
        self._data_index = {}
        for i, d in enumerate(c.data_info()):
            self._data_index[d["name"]] = i
            if d["kind"] != "observable":
                continue
            self._data_names.append(d["name"])
            dtype = np.dtype(d["dtype"]) if d["dtype"][1:2] in ("f", "i", "u", "b") else np.dtype(np.float64)
            if d["time_dependent"]:
                self._td.append((d["name"], i, d["sample_size"], d["shape"], dtype))
            else:
                values = c.read_data_all(i)[0]
                self._ti[d["name"]] = _as_value(values.reshape(d["shape"]), dtype)
        total = c.set_frame_data([t[1] for t in self._td])
        self._data_buf = np.zeros(max(total, 1), dtype=np.float64)
        self._offsets = []
        off = 0
        for name, i, size, shape, dtype in self._td:
            self._offsets.append((name, off, size, shape, dtype))
            off += size
        ts_kwargs = dict(self._ts_kwargs)
        if "dt" not in ts_kwargs:
            dt = self._native_dt()
            if dt is not None:
                ts_kwargs["dt"] = dt
        self.ts = self._Timestep(self.n_atoms, positions=self._has["position"], velocities=self._has["velocity"],
                                 forces=self._has["force"], **ts_kwargs)
        for name in self._data_names:
            self.ts.data[name] = None

    def _native_dt(self):
        t = self._times
        if len(t) > 1 and np.isfinite(t[0]) and np.isfinite(t[1]):
            return float(t[1] - t[0])
        return None

    def _get_dt(self):
        dt = self._native_dt()
        if dt is None:
            raise AttributeError("no time data")
        return dt

    # ---- the reader protocol -------------------------------------------------------

    @property
    def n_frames(self):
        """number of frames (the sorted union of the steps of position, velocity, force and box)"""
        return self._n_frames

    def _ensure_open(self):
        if self._core is None or self._core.closed:
            self._core = open_core(self._url, self._group_arg, self._cache_size, self.storage_options,
                                   self.convert_units, self._readahead_size, self._threads)
            self._core.set_frame_data([t[1] for t in self._td])

    def _fill(self, ts, i):
        f = int(self._flags[i])
        hp, hv, hf = bool(f & 1), bool(f & 2), bool(f & 4)
        # Flags first: turning a flag on zero-fills the array MDAnalysis keeps.
        if self._has["position"]:
            ts.has_positions = hp
        if self._has["velocity"]:
            ts.has_velocities = hv
        if self._has["force"]:
            ts.has_forces = hf
        step, time, mask, dims, present = self._core.read_frame(
            i, ts._pos if hp else None, ts._velocities if hv else None, ts._forces if hf else None, self._data_buf)
        ts.frame = i
        ts.data["step"] = step
        if time == time:
            ts.time = time
        else:
            ts.data.pop("time", None)
        ts.dimensions = dims
        buf = self._data_buf
        for (name, off, size, shape, dtype), p in zip(self._offsets, present):
            ts.data[name] = _as_value(buf[off:off + size].reshape(shape), dtype) if p else None
        for name, value in self._ti.items():
            ts.data[name] = value
        return ts

    def _read_frame(self, frame):
        """Read frame `frame` into the Timestep (one call into the C library)."""
        if frame < 0 or frame >= self.n_frames:
            raise IOError(f"frame {frame} out of range (n_frames {self.n_frames})")
        self._ensure_open()
        self._fill(self.ts, frame)
        self._frame = frame
        return self.ts

    def _read_next_timestep(self, ts=None):
        if ts is None:
            ts = self.ts
        frame = self._frame + 1
        if frame >= self.n_frames:
            raise EOFError("end of trajectory")
        self._ensure_open()
        self._fill(ts, frame)
        self._frame = frame
        return ts

    def _reopen(self):
        self._ensure_open()
        self._frame = -1
        self.ts.frame = -1

    def close(self):
        """Close the trajectory (reopened on the next iteration)."""
        if getattr(self, "_core", None) is not None:
            self._core.close()

    # ---- pickling: the C handle pickles as its URL + options and reopens ---------

    def __setstate__(self, state):
        # The C handle was re-created by unpickling (same URL and options);
        # restore what it reads with every frame. The Timestep comes back as it
        # was pickled (modifications included, as MDAnalysis requires) and the
        # position in the trajectory with it.
        self.__dict__ = state
        self._core.set_frame_data([t[1] for t in self._td])

    # ---- extras ---------------------------------------------------------------------

    def Writer(self, filename, n_atoms=None, **kwargs):
        """A :class:`~zarrtraj.ZARRMDWriter` for `filename` with this trajectory's atoms
        and elements."""
        from .writer import ZARRMDWriter

        if n_atoms is None:
            n_atoms = self.n_atoms
        kwargs.setdefault("positions", self._has["position"])
        kwargs.setdefault("velocities", self._has["velocity"])
        kwargs.setdefault("forces", self._has["force"])
        return ZARRMDWriter(filename, n_atoms, **kwargs)

    @staticmethod
    def _format_hint(thing):
        """URLs with a query string or a trailing slash (``https://host/t.h5md?sig=...``,
        ``s3://b/t.zarrmd/``) and open h5py files."""
        if type(thing).__module__.startswith("h5py") and hasattr(thing, "filename"):
            return True
        if isinstance(thing, str) and is_url(thing):
            return url_path(thing).lower().endswith(_EXTENSIONS)
        return False

    @classmethod
    def parse_n_atoms(cls, filename, storage_options=None, group=None, so=None, **kwargs):
        """Number of atoms of the trajectory at `filename` (a path or URL)."""
        core = open_core(trajectory_url(filename), group, 1 << 20, storage_options or so, False, 0, 1)
        try:
            if not any(core.has(el) for el in _ELEMENTS):
                raise NoDataError("Could not construct minimal topology from the H5MD trajectory file, as it did "
                                  "not contain a 'position', 'velocity', or 'force' group. You must include a "
                                  "topology file.")
            return core.n_atoms
        finally:
            core.close()

    def stats(self):
        """I/O statistics of the underlying C reader (requests, bytes, decodes, cache)."""
        self._ensure_open()
        return self._core.stats()

    def array_info(self, element="position"):
        """Storage of an element's value array: path, dtype, shape, chunks, codecs, unit."""
        self._ensure_open()
        return self._core.array_info(element)

    # ---- timeseries ---------------------------------------------------------------------

    def _selection(self, asel, atomgroup):
        if asel is not None:
            # as MDAnalysis' own readers (since 2.7)
            warnings.warn("asel argument to timeseries will be renamed to'atomgroup' in 3.0, see #3911",
                          category=DeprecationWarning, stacklevel=3)
        if asel is not None and atomgroup is not None:
            raise ValueError("Cannot provide both asel and atomgroup kwargs")
        sel = atomgroup if atomgroup is not None else asel
        if sel is None:
            return None, self.n_atoms
        idx = sel.indices if hasattr(sel, "indices") else sel
        idx = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)
        if len(idx) == 0:
            raise ValueError("Timeseries requires at least one atom to analyze")
        if idx.min() < 0 or idx.max() >= self.n_atoms:
            raise IndexError(f"atom index out of range (n_atoms {self.n_atoms})")
        if len(idx) > 1 and idx[-1] - idx[0] == len(idx) - 1 and np.all(np.diff(idx) == 1):
            return (int(idx[0]), int(idx[-1]) + 1), len(idx)  # contiguous: a range
        return idx, len(idx)

    def _element(self, element):
        el = _EL_ALIASES.get(element)
        if el is None:
            raise ValueError(f"element must be 'positions', 'velocities' or 'forces', not {element!r}")
        if not self._has[el]:
            raise NoDataError(f"{self.filename}: the trajectory has no {el}")
        return el

    @staticmethod
    def _reorder(a, order, moveaxis):
        if order == "fac":
            return a
        try:
            newidx = ["fac".index(i) for i in order]
        except ValueError:
            raise ValueError(f"Unrecognized order key in {order}, must be permutation of 'fac'") from None
        if sorted(order) != ["a", "c", "f"]:
            raise ValueError(f"Repeated or missing keys passed to argument `order`: {order}, each key must be "
                             "used once")
        return moveaxis(a, newidx, [0, 1, 2])

    def timeseries(self, asel=None, atomgroup=None, start=None, stop=None, step=None, order="fac",
                   element="positions"):
        """Coordinates of an atom selection over a range of frames, in one C call.

        Same signature and result as MDAnalysis' ``timeseries``: float32 array of
        shape (n_frames, n_atoms, 3) for ``order='fac'``, axes permuted for the
        other orders. Frames where the element is not sampled are NaN.
        ``element`` may also be ``'velocities'`` or ``'forces'``.
        """
        el = self._element(element)
        sel, nsel = self._selection(asel, atomgroup)
        start, stop, step = self.check_slice_indices(start, stop, step)
        frames = range(start, stop, step)
        self._ensure_open()
        if len(frames) == 0:
            out = np.empty((0, nsel, 3), dtype=np.float32)
        else:
            lo, hi, stride = (frames[0], frames[-1] + 1, step) if step > 0 else (frames[-1], frames[0] + 1, -step)
            out = _read_block_with(self._core, el, lo, hi, stride, sel)
            if step < 0:
                out = out[::-1]
        return self._reorder(out, order, np.moveaxis)

    def lazytimeseries(self, asel=None, atomgroup=None, start=None, stop=None, step=None, order="fac",
                       element="positions", frames_per_task=None):
        """:meth:`timeseries` as a lazy dask array.

        Chunks along frames follow the storage chunks of the element (consecutive
        small chunks are merged until a task reads about 8 MiB, or
        ``frames_per_task`` frames when given); each task opens the trajectory once
        per worker process and thread (same URL and options) and reads its frames
        with one C call. Works with the threaded scheduler and with
        ``dask.distributed`` clusters of worker processes.
        """
        from .lazy import lazy_timeseries

        el = self._element(element)
        sel, nsel = self._selection(asel, atomgroup)
        start, stop, step = self.check_slice_indices(start, stop, step)
        spec = (self._url, self._group_arg, self._cache_size, storage_pairs(self.storage_options),
                bool(self.convert_units))
        self._ensure_open()
        chunk_rows = self._core.array_info(el)["chunks"][0]
        arr = lazy_timeseries(spec, el, range(start, stop, step), sel, nsel, self._flags, _BIT[el], chunk_rows,
                              frames_per_task)
        import dask.array as da

        return self._reorder(arr, order, da.moveaxis)

    def read_data(self, name, frame=None):
        """Observable or particle data `name` at `frame` (None: the current frame)
        as a float64 array, or None when not sampled there."""
        self._ensure_open()
        i = self._data_index.get(name)
        if i is None:
            raise KeyError(f"{self.filename}: no observable or particle data named {name!r} "
                           f"(have: {', '.join(self._data_index)})")
        return self._core.read_data(i, self.ts.frame if frame is None else frame)


def _read_block_with(core, el, lo, hi, stride, sel):
    if sel is None:
        return core.timeseries(el, lo, hi, stride)
    if isinstance(sel, tuple):
        return core.timeseries(el, lo, hi, stride, None, sel[0], sel[1])
    return core.timeseries(el, lo, hi, stride, sel)


def _as_value(a, dtype):
    """Observable value as Zarrtraj gives it: NumPy scalar or array of the stored dtype."""
    if dtype.kind in "iub":
        a = np.rint(a) if dtype.kind != "b" else a
    v = a.astype(dtype)
    return v[()] if v.ndim == 0 else v
