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

__all__ = ["ZARRMDWriter", "compressor_spec"]


def compressor_spec(compressor):
    """A compressor for the C writer: a numcodecs codec (its ``get_config()``),
    a config dict (``{"id": "zstd", "level": 5}``), a JSON string or a short form
    (``"zstd:level=5"``, ``"none"``); None keeps the default (Blosc lz4)."""
    if compressor is None:
        return None
    if isinstance(compressor, str):
        return compressor
    if isinstance(compressor, dict):
        return json.dumps(compressor)
    if hasattr(compressor, "get_config"):
        return json.dumps(compressor.get_config())
    raise TypeError(f"compressor: expected a numcodecs codec, a config dict or a str, not {type(compressor).__name__}")


def _precision_from_filters(filters):
    """Zarrtraj readers hand their filters to Writer(); a Quantize filter is the
    writer's `precision`, other filters are not supported."""
    precision = None
    for f in filters or ():
        cfg = f.get_config() if hasattr(f, "get_config") else dict(f)
        if cfg.get("id") == "quantize":
            precision = int(cfg["digits"])
        else:
            raise ValueError(f"filter {cfg.get('id')!r} is not supported by ZARRMDWriter (only Quantize, "
                             "which is the `precision` argument)")
    return precision


class ZARRMDWriter(base.WriterBase):
    """Write a trajectory as zarrmd (H5MD layout in a Zarr v2 hierarchy).

    Parameters
    ----------
    filename : str
        Local path or URL (``s3://``, ``gs://``, ``az://``, ...) of the ``.zarrmd``
        directory to create (replaced when it exists, as MDAnalysis writers do;
        ``overwrite=False`` refuses instead).
    n_atoms : int
        Atoms per frame.
    n_frames : int, optional
        Frames that will be written (sizes the chunks; not required).
    storage_options : dict, optional
        fsspec-style options of the store.
    convert_units : bool
        Timestep values are in MDAnalysis units and are stored in the units
        requested with `lengthunit` etc. (default: MDAnalysis' base units,
        Angstrom, ps, Angstrom/ps, kJ/(mol Angstrom)); with ``False`` values are
        stored as they are, labelled only with the units given explicitly.
    positions, velocities, forces : bool
        Which elements to write (when the Timestep has them).
    timeunit, lengthunit, velocityunit, forceunit : str, optional
        Units to store, in MDAnalysis notation (``"nm"``, ``"nm/ps"``) or as H5MD
        strings (``"nm ps-1"``).
    precision : int, optional
        Decimal digits kept for positions, velocities, forces and box (numcodecs
        Quantize filter); default lossless.
    compressor : numcodecs codec, dict or str, optional
        Compressor of every array (default Blosc lz4 level 5 with byte shuffle).
    chunk_bytes : int, optional
        Target bytes per value chunk (default 12 MiB, whole frames per chunk).
    group : str
        Particle group name (default ``"trajectory"``).
    author, author_email, creator, creator_version : str, optional
        ``h5md`` metadata.
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
                 filters=None, **kwargs):
        self._w = None
        self.filename = filename
        if n_atoms is None or int(n_atoms) <= 0:
            raise ValueError("ZARRMDWriter: no atoms in output trajectory")
        self.n_atoms = int(n_atoms)
        if n_frames is not None and int(n_frames) < 0:
            raise ValueError("ZARRMDWriter: n_frames must be >= 0")
        self.n_frames = n_frames
        self.storage_options = storage_options
        self.convert_units = convert_units
        self._write_positions = positions
        self._write_velocities = velocities
        self._write_forces = forces
        if not any([positions, velocities, forces]):
            raise ValueError("At least one of positions, velocities, or forces must be set to ``True``.")
        if precision is None:
            precision = _precision_from_filters(filters)
        self.precision = precision
        self.compressor = compressor
        self.group = group
        requested = {"time": timeunit, "length": lengthunit, "velocity": velocityunit, "force": forceunit}
        h5md_units = {}
        self._factor = {}
        for kind, u in requested.items():
            if u is None:
                h5md_units[kind] = _units.MDA_TO_H5MD[kind][_units.BASE[kind]] if convert_units else ""
                self._factor[kind] = 1.0
            else:
                try:
                    h5md_units[kind] = _units.to_h5md(kind, u)
                except _core.ZarrtrajError:
                    raise ValueError(f"{u} is not a {kind} unit zarrtraj knows (use MDAnalysis notation such as "
                                     "'nm', 'ps', 'nm/ps', 'kJ/(mol*nm)' or H5MD strings)") from None
                self._factor[kind] = _units.factor(kind, h5md_units[kind]) if convert_units else 1.0
        self.units = {k: _units.to_mda(k, v) if v else None for k, v in h5md_units.items()}
        self._warned = set()
        self._w = _core.Writer(
            trajectory_url(filename), self.n_atoms, int(n_frames or 0), -1 if precision is None else int(precision),
            compressor_spec(compressor), int(chunk_bytes or 0), group, h5md_units["length"], h5md_units["time"],
            h5md_units["velocity"], h5md_units["force"], author, author_email, creator,
            creator_version if creator_version is not None else _core.LIB_VERSION, storage_pairs(storage_options),
            bool(overwrite), None)

    # ---- writing ---------------------------------------------------------------------

    def _values(self, arr, kind):
        """float32 C-contiguous values in the output unit (no copy when possible)."""
        f = self._factor[kind]
        if f == 1.0:
            return np.ascontiguousarray(arr, dtype=np.float32)
        return np.ascontiguousarray(np.asarray(arr, dtype=np.float64) / f, dtype=np.float32)

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
        if self._w is None or self._w.closed:
            raise ValueError("ZARRMDWriter: writing to a closed writer")
        step = int(ts.data["step"]) if "step" in ts.data and ts.data["step"] is not None else int(ts.frame)
        t = ts.time
        time = float(t) / self._factor["time"] if t is not None and t == t else math.nan
        dims = ts.dimensions
        box = None
        if dims is not None and np.all(np.asarray(dims[:3]) > 0):
            box = np.ascontiguousarray(np.asarray(ts.triclinic_dimensions, dtype=np.float64).reshape(9)
                                       / self._factor["length"])
        pos = self._values(ts.positions, "length") if self._write_positions and ts.has_positions else None
        vel = self._values(ts.velocities, "velocity") if self._write_velocities and ts.has_velocities else None
        frc = self._values(ts.forces, "force") if self._write_forces and ts.has_forces else None
        self._w.write_frame(step, time, pos, vel, frc, box, self._observables(ts))

    def close(self):
        """Flush, finalise the metadata (.zmetadata) and close. Idempotent."""
        w = getattr(self, "_w", None)
        if w is not None and not w.closed:
            w.close()

    def __repr__(self):
        return f"<ZARRMDWriter {self.filename!r} for {self.n_atoms} atoms>"
