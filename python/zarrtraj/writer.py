"""MDAnalysis writer for zarrmd trajectories (local or object storage).

Importing :mod:`zarrtraj` registers :class:`ZARRMDWriter` for the ``ZARRMD``
format, so, as in Zarrtraj's documentation::

    import numcodecs, zarrtraj, MDAnalysis as mda
    with mda.Writer("s3://bucket/out.zarrmd", n_atoms=u.atoms.n_atoms,
                    precision=3, compressor=numcodecs.Blosc(cname="zstd", clevel=9)) as W:
        for ts in u.trajectory:
            W.write(u.atoms)
"""
import json
import math
import warnings

import numpy as np
from MDAnalysis.coordinates import base

from . import _core, _units
from ._options import storage_pairs, trajectory_url

__all__ = ["ZARRMDWriter", "compressor_spec", "codec_config"]


_BLOSC_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


def codec_config(codec):
    """numcodecs (Zarr v2) config dict of a codec object: a numcodecs codec
    (``get_config()``), a ``numcodecs.zarr3`` wrapper, or one of zarr-python 3's
    built-in codecs (``zarr.codecs.BloscCodec``, ``ZstdCodec``, ``GzipCodec``)."""
    if hasattr(codec, "get_config"):
        return codec.get_config()
    d = codec.to_dict() if hasattr(codec, "to_dict") else None
    if not isinstance(d, dict) or "name" not in d:
        raise TypeError(f"expected a numcodecs codec, a zarr codec, a config dict or a str, not "
                        f"{type(codec).__name__}")
    name, cfg = d["name"], dict(d.get("configuration") or {})
    if name.startswith("numcodecs."):
        cfg = {"id": name[len("numcodecs."):], **cfg}
        try:  # numcodecs fills in the parameters left at their defaults
            import numcodecs

            return numcodecs.get_codec(cfg).get_config()
        except ImportError:
            return cfg
    if name == "blosc":
        shuffle = cfg.get("shuffle", "shuffle")
        return {"id": "blosc", "cname": cfg.get("cname", "lz4"), "clevel": int(cfg.get("clevel", 5)),
                "shuffle": _BLOSC_SHUFFLE.get(shuffle, shuffle), "blocksize": int(cfg.get("blocksize", 0))}
    if name == "zstd":
        return {"id": "zstd", "level": int(cfg.get("level", 0))}
    if name == "gzip":
        return {"id": "gzip", "level": int(cfg.get("level", 5))}
    raise ValueError(f"codec {name!r} has no Zarr v2 (numcodecs) equivalent that zarrtraj writes")


def compressor_spec(compressor):
    """A compressor for the C writer: a codec object (numcodecs, numcodecs.zarr3,
    zarr.codecs: see :func:`codec_config`), a config dict
    (``{"id": "zstd", "level": 5}``), a JSON string or a short form
    (``"zstd:level=5"``, ``"none"``); None keeps the default (Blosc lz4)."""
    if compressor is None:
        return None
    if isinstance(compressor, str):
        spec = compressor
    elif isinstance(compressor, dict):
        spec = json.dumps(compressor)
    else:
        spec = json.dumps(codec_config(compressor))
    _core.codec_spec_to_json(spec)  # a codec the C library cannot write is an error now, not at the first frame
    return spec


def _precision_from_filters(filters):
    """Zarrtraj readers hand their filters to Writer(); a Quantize filter is the
    writer's `precision`, other filters are not supported."""
    precision = None
    for f in filters or ():
        cfg = dict(f) if isinstance(f, dict) else codec_config(f)
        if cfg.get("id") == "quantize":
            precision = int(cfg["digits"])
        else:
            raise ValueError(f"filter {cfg.get('id')!r} is not supported by ZARRMDWriter (only Quantize, "
                             "which is the `precision` argument)")
    return precision


class ZARRMDWriter(base.WriterBase):
    """Write a trajectory as zarrmd (H5MD layout in a Zarr v2 hierarchy), or as
    H5MD (HDF5) when `filename` ends in ``.h5md``/``.h5``.

    Arguments and behaviour are upstream Zarrtraj's (``ZARRMDWriter``); where
    this writer deliberately differs it says so below.

    Parameters
    ----------
    filename : str
        Local path or URL (``s3://``, ``gs://``, ``az://``, ...) of the ``.zarrmd``
        directory to create (replaced when it exists, as MDAnalysis writers do;
        ``overwrite=False`` refuses instead). Created when the first frame is
        written, as upstream does.
    n_atoms : int
        Atoms per frame.
    n_frames : int, optional
        Frames that will be written (sizes the chunks; not required). Writing
        fewer or more frames works and warns at close (RuntimeWarning), as upstream.
    storage_options : dict, optional
        fsspec-style options of the store.
    convert_units : bool
        True (default): values are stored in the units of the trajectory being
        written (``ag.universe.trajectory.units``, e.g. nm and ps for an XTC), as
        upstream Zarrtraj and MDAnalysis' H5MDWriter do, unless a unit is given
        with `lengthunit` etc.; kinds the source has no unit for (an in-memory
        universe, velocities of an XTC) are stored in MDAnalysis' base units
        (Angstrom, ps, Angstrom/ps, kJ/(mol Angstrom)) and labelled so (upstream
        raises or stores them unlabelled). ``precision`` applies in the stored
        unit: precision=3 of an XTC source keeps 0.001 nm. False: values are
        stored as they are, labelled only with the units given explicitly.
    positions, velocities, forces : bool
        Which elements to write (when the Timestep has them).
    timeunit, lengthunit, velocityunit, forceunit : str, optional
        Units to store, in MDAnalysis notation (``"nm"``, ``"nm/ps"``) or as H5MD
        strings (``"nm ps-1"``).
    precision : int, optional
        Decimal digits kept for positions, velocities, forces and box (numcodecs
        Quantize filter); default lossless. Unlike upstream, time stays lossless
        float64 and steps int64 (upstream quantizes time to float32 and stores
        int32 steps).
    compressor : codec, dict or str, optional
        Compressor of every array (default, or ``"default"``: Blosc lz4 level 5
        with byte shuffle, zarr-python 2's default): a numcodecs codec (any
        numcodecs version, ``numcodecs.zarr3`` wrappers included), one of
        zarr-python 3's ``zarr.codecs.BloscCodec``/``ZstdCodec``/``GzipCodec``,
        a numcodecs config dict, or a string (``"zstd:level=3"``).
    filters : list of codecs, optional
        Zarrtraj's readers hand their filters to ``Writer()``: a ``Quantize``
        filter (numcodecs or numcodecs.zarr3) is taken as `precision`.
    chunk_bytes : int, optional
        Target bytes per value chunk (default 12 MiB, whole frames per chunk).
    preset : str, optional
        ``"compact"``: smaller than XTC with standard codecs only (docs/codecs.md):
        positions as int32 on a fixed quantum, differenced along time in
        Fortran-order chunks of 100 frames by blocks of atoms, Blosc zstd with bit
        shuffle; velocities and forces too when `precision` is given. zarr-python
        2 and 3 and upstream Zarrtraj read such files without plugins.
    quantum : str or float, optional
        With ``preset="compact"``: the positions' quantum, ``"0.001 nm"`` (any
        length unit) or a number in the stored length unit; default
        ``10**-precision``, else 0.001 nm (XTC's grid). Every value read back lies
        within half a quantum (plus float32 rounding) of the value written.
    zarr_format : {2, 3}, optional
        Zarr format of the output (default 2). Zarr v3 output is sharded:
        shards of about `shard_bytes` (default 64 MiB) holding inner chunks of
        `inner_frames` frames (default about 256 KiB each); see docs/zarr3.md.
    group : str
        Particle group name (default ``"trajectory"``).
    author, author_email, creator, creator_version : str, optional
        ``h5md`` metadata (creator defaults to zarrtraj and its version).
    """

    format = "ZARRMD"
    multiframe = True
    #: Timestep.data entries that are not observables.
    data_blacklist = ["step", "time", "dt", "time_offset"]
    units = dict(_units.BASE)

    def __init__(self, filename, n_atoms, n_frames=None, storage_options=None, convert_units=True,
                 positions=True, velocities=True, forces=True, timeunit=None, lengthunit=None, velocityunit=None,
                 forceunit=None, author="N/A", author_email=None, creator="zarrtraj", creator_version=None,
                 precision=None, compressor=None, chunk_bytes=None, group="trajectory", overwrite=True,
                 filters=None, zarr_format=None, shard_bytes=None, inner_frames=None, preset=None, quantum=None,
                 **kwargs):
        self._w = None
        if zarr_format not in (None, 2, 3):
            raise ValueError("zarr_format must be 2 or 3")
        self._v3 = (int(zarr_format or 0), int(shard_bytes or 0), int(inner_frames or 0))
        self.filename = filename
        if n_atoms is None or int(n_atoms) <= 0:
            raise ValueError("ZARRMDWriter: no atoms in output trajectory")
        self.n_atoms = int(n_atoms)
        if n_frames is not None and int(n_frames) <= 0:
            raise ValueError("ZARRMDWriter: Please provide a positive value for 'n_frames' kwarg")
        self.n_frames = None if n_frames is None else int(n_frames)
        self.storage_options = storage_options
        self.convert_units = convert_units
        self._write_positions = positions
        self._write_velocities = velocities
        self._write_forces = forces
        if not any([positions, velocities, forces]):
            raise ValueError("At least one of positions, velocities, or forces must be set to ``True``.")
        if precision is None:
            precision = _precision_from_filters(filters)
        if precision is not None and int(precision) < 0:
            raise ValueError("Precision must be greater than or equal to 0")
        self.precision = precision
        if isinstance(compressor, str) and compressor == "default":
            compressor = None
        self.compressor = compressor
        self._compressor_spec = compressor_spec(compressor)  # validates before any frame is written
        self.chunk_bytes = chunk_bytes
        if preset not in (None, "default", "compact"):
            raise ValueError(f"preset must be 'default' or 'compact', not {preset!r}")
        if quantum is not None and preset != "compact":
            raise ValueError("quantum needs preset='compact'")
        if quantum is not None and not isinstance(quantum, str):
            quantum = repr(float(quantum))  # a number in the stored length unit
        self.preset, self.quantum = preset, quantum
        self.group = group
        self.overwrite = bool(overwrite)
        self._meta = (author, author_email, creator,
                      creator_version if creator_version is not None else _core.LIB_VERSION)
        self._requested = {}
        for kind, u in {"time": timeunit, "length": lengthunit, "velocity": velocityunit,
                        "force": forceunit}.items():
            self._requested[kind] = None if u is None else self._h5md_unit(kind, u)
        self._h5md_units = None
        self._factor = None
        self._counter = 0
        self._warned = set()

    @staticmethod
    def _h5md_unit(kind, unit):
        try:
            return _units.to_h5md(kind, unit)
        except _core.ZarrtrajError:
            raise ValueError(f"{unit} is not a {kind} unit zarrtraj knows (use MDAnalysis notation such as "
                             "'nm', 'ps', 'nm/ps', 'kJ/(mol*nm)' or H5MD strings)") from None

    def _determine_units(self, ag):
        """Units of the file (H5MD strings), as upstream: the source trajectory's,
        replaced by those given explicitly."""
        units = {}
        try:
            source = dict(ag.universe.trajectory.units or {})
        except AttributeError:
            source = {}
        for kind in _units.KINDS:
            if self._requested[kind] is not None:
                units[kind] = self._requested[kind]
            elif not self.convert_units:
                units[kind] = ""
            else:
                units[kind] = _units.MDA_TO_H5MD[kind].get(source.get(kind) or "", "") or \
                    _units.MDA_TO_H5MD[kind][_units.BASE[kind]]
        self._h5md_units = units
        self._factor = {k: (_units.factor(k, v) if self.convert_units and v else 1.0) for k, v in units.items()}
        self.units = {k: _units.to_mda(k, v) if v else None for k, v in units.items()}

    def _open(self, ag):
        self._determine_units(ag)
        u = self._h5md_units
        author, email, creator, creator_version = self._meta
        self._w = _core.Writer(
            trajectory_url(self.filename), self.n_atoms, int(self.n_frames or 0),
            -1 if self.precision is None else int(self.precision), self._compressor_spec,
            int(self.chunk_bytes or 0), self.group, u["length"], u["time"], u["velocity"], u["force"], author,
            email, creator, creator_version, storage_pairs(self.storage_options), self.overwrite, None, *self._v3,
            self.preset, self.quantum)

    # ---- writing ---------------------------------------------------------------------

    def _values(self, arr, kind):
        """float32 C-contiguous values in the output unit (no copy when possible),
        converted as MDAnalysis' convert_*_to_native does (a float32 multiply by
        the inverse factor), so the same source gives the same bits as upstream."""
        f = self._factor[kind]
        if f == 1.0:
            return np.ascontiguousarray(arr, dtype=np.float32)
        return np.ascontiguousarray(np.multiply(np.asarray(arr, dtype=np.float32), np.float32(1.0 / f)))

    def _observables(self, ts):
        out = []
        seen = set()
        for key, value in ts.data.items():
            if value is None or key in self.data_blacklist:
                continue
            name = str(key)
            if "/" in name:  # per-group observable of the source ("trajectory/temperature")
                name = name.split("/", 1)[1]
            try:
                v = np.ascontiguousarray(np.asarray(value, dtype=np.float64).reshape(-1))
            except (TypeError, ValueError):
                if key not in self._warned:
                    warnings.warn(f"ZARRMDWriter: ts.data[{key!r}] is not numeric; not written", stacklevel=4)
                    self._warned.add(key)
                continue
            if name in seen:
                if key not in self._warned:
                    warnings.warn(f"ZARRMDWriter: observable {key!r} has the same name as another one once its "
                                  "group prefix is removed; not written", stacklevel=4)
                    self._warned.add(key)
                continue
            seen.add(name)
            out.append((name, v))
        return out

    def _write_next_frame(self, ag):
        """Write the frame of an AtomGroup or Universe."""
        try:
            ts = ag.ts
        except AttributeError:
            try:
                ts = ag.trajectory.ts
            except AttributeError:
                raise TypeError("Input obj is neither an AtomGroup or Universe") from None
        if ts.n_atoms != self.n_atoms:
            raise IOError("ZARRMDWriter: Timestep does not have the correct number of atoms")
        if self._w is None:
            if self._counter:
                raise ValueError("ZARRMDWriter: writing to a closed writer")
            self._open(ag)
        elif self._w.closed:
            raise ValueError("ZARRMDWriter: writing to a closed writer")
        step = int(ts.data["step"]) if "step" in ts.data and ts.data["step"] is not None else int(ts.frame)
        t = ts.time
        time = float(t) * (1.0 / self._factor["time"]) if t is not None and t == t else math.nan
        dims = ts.dimensions
        box = None
        if dims is not None and np.all(np.asarray(dims[:3]) > 0):
            box = self._values(ts.triclinic_dimensions, "length").reshape(9).astype(np.float64)
        pos = self._values(ts.positions, "length") if self._write_positions and ts.has_positions else None
        vel = self._values(ts.velocities, "velocity") if self._write_velocities and ts.has_velocities else None
        frc = self._values(ts.forces, "force") if self._write_forces and ts.has_forces else None
        self._w.write_frame(step, time, pos, vel, frc, box, self._observables(ts))
        self._counter += 1

    def close(self):
        """Flush, finalise the metadata (.zmetadata) and close. Idempotent. Warns
        (RuntimeWarning) when `n_frames` was given and differs from the frames
        written, as upstream does."""
        w = getattr(self, "_w", None)
        if w is not None and not w.closed:
            w.close()
            n, want = self._counter, self.n_frames
            if want is not None and n != want:
                warnings.warn(f"ZARRMDWriter: `n_frames` kwarg set to {want} but {'only ' if n < want else ''}"
                              f"{n} frame(s) were written to the trajectory.", RuntimeWarning, stacklevel=2)

    def __repr__(self):
        return f"<ZARRMDWriter {self.filename!r} for {self.n_atoms} atoms>"
