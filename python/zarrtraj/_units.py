"""Unit names: H5MD unit strings <-> MDAnalysis unit names.

Conversion factors never come from here nor from MDAnalysis (MDAnalysis 2.4.2
has the Angstrom/fs velocity factor inverted): they come from the C library
(``zarrtraj._core.unit_factor``), which converts a value in an H5MD unit to
MDAnalysis' base units (Angstrom, ps, Angstrom/ps, kJ/(mol Angstrom)).
"""
from . import _core

KINDS = ("time", "length", "velocity", "force")

#: MDAnalysis' base units: what the reader delivers with convert_units=True.
BASE = {"time": "ps", "length": "Angstrom", "velocity": "Angstrom/ps", "force": "kJ/(mol*Angstrom)"}

#: H5MD unit string -> MDAnalysis unit name, per kind.
H5MD_TO_MDA = {
    "time": {"ps": "ps", "fs": "fs", "ns": "ns", "s": "s", "second": "s", "sec": "s", "AKMA": "AKMA"},
    "length": {"Angstrom": "Angstrom", "angstrom": "Angstrom", "A": "Angstrom", "nm": "nm", "pm": "pm", "fm": "fm"},
    "velocity": {
        "Angstrom ps-1": "Angstrom/ps", "A ps-1": "Angstrom/ps", "Angstrom fs-1": "Angstrom/fs",
        "A fs-1": "Angstrom/fs", "Angstrom AKMA-1": "Angstrom/AKMA", "A AKMA-1": "Angstrom/AKMA",
        "nm ps-1": "nm/ps", "nm ns-1": "nm/ns", "pm ps-1": "pm/ps", "m s-1": "m/s",
    },
    "force": {
        "kJ mol-1 Angstrom-1": "kJ/(mol*Angstrom)", "kJ mol-1 nm-1": "kJ/(mol*nm)", "Newton": "Newton",
        "N": "N", "J m-1": "J/m", "kcal mol-1 Angstrom-1": "kcal/(mol*Angstrom)",
        "kcal mol-1 A-1": "kcal/(mol*Angstrom)",
    },
}

#: MDAnalysis unit name -> H5MD unit string (what the writer stores).
MDA_TO_H5MD = {
    "time": {"ps": "ps", "fs": "fs", "ns": "ns", "s": "s", "second": "s", "sec": "s", "AKMA": "AKMA"},
    "length": {"Angstrom": "Angstrom", "angstrom": "Angstrom", "A": "Angstrom", "nm": "nm", "nanometer": "nm",
               "pm": "pm", "picometer": "pm", "fm": "fm", "femtometer": "fm"},
    "velocity": {
        "Angstrom/ps": "Angstrom ps-1", "A/ps": "Angstrom ps-1", "Angstrom/fs": "Angstrom fs-1",
        "A/fs": "Angstrom fs-1", "Angstrom/AKMA": "Angstrom AKMA-1", "A/AKMA": "Angstrom AKMA-1",
        "nm/ps": "nm ps-1", "nm/ns": "nm ns-1", "pm/ps": "pm ps-1", "m/s": "m s-1",
    },
    "force": {
        "kJ/(mol*Angstrom)": "kJ mol-1 Angstrom-1", "kJ/(mol*A)": "kJ mol-1 Angstrom-1",
        "kJ/(mol*nm)": "kJ mol-1 nm-1", "Newton": "Newton", "N": "N", "J/m": "J m-1",
        "kcal/(mol*Angstrom)": "kcal mol-1 Angstrom-1", "kcal/(mol*A)": "kcal mol-1 Angstrom-1",
    },
}


def to_mda(kind, h5md_unit):
    """MDAnalysis name of an H5MD unit string (the string itself when it has none)."""
    if h5md_unit is None:
        return None
    return H5MD_TO_MDA[kind].get(h5md_unit, h5md_unit)


def to_h5md(kind, unit):
    """H5MD string for a unit given in MDAnalysis notation or already as an H5MD
    string; ValueError when the C library does not know it."""
    s = MDA_TO_H5MD[kind].get(unit, unit)
    factor(kind, s)  # validates
    return s


def factor(kind, h5md_unit):
    """Factor converting a value in ``h5md_unit`` to MDAnalysis' base unit of ``kind``."""
    return _core.unit_factor(kind, h5md_unit)
