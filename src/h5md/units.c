/* H5MD unit strings -> factors to MDAnalysis base units (Angstrom, ps,
 * Angstrom/ps, kJ/(mol Angstrom)). The strings are those Zarrtraj accepts
 * (its _unit_translation table), plus MDAnalysis' own spellings and a few
 * used by other writers (ZnH5MD's eV/Angstrom). Factors follow
 * MDAnalysis.units, except Angstrom/fs, which MDAnalysis 2.4.2 inverts. */
#include "util/util.h"

#include <string.h>

typedef struct {
    const char *unit;
    double factor; /* base = value * factor */
} zt_ufac;

#define AKMA_PS 4.888821e-2 /* 1 AKMA time unit in ps (MDAnalysis.units) */
#define KCAL_KJ 4.184
#define EV_KJMOL 96.48533212331  /* 1 eV per particle in kJ/mol (CODATA 2018) */
#define N_PER_KJMOLA 1.66053906660e-11 /* 1 kJ/(mol Angstrom) in Newton */

static const zt_ufac zt__length[] = {
    {"Angstrom", 1.0}, {"angstrom", 1.0}, {"A", 1.0}, {"nm", 10.0}, {"nanometer", 10.0},
    {"pm", 1e-2}, {"picometer", 1e-2}, {"fm", 1e-5}, {"femtometer", 1e-5}, {NULL, 0}};

static const zt_ufac zt__time[] = {
    {"ps", 1.0}, {"picosecond", 1.0}, {"fs", 1e-3}, {"femtosecond", 1e-3}, {"ns", 1e3},
    {"nanosecond", 1e3}, {"us", 1e6}, {"microsecond", 1e6}, {"ms", 1e9}, {"millisecond", 1e9},
    {"second", 1e12}, {"sec", 1e12}, {"s", 1e12}, {"AKMA", AKMA_PS}, {NULL, 0}};

static const zt_ufac zt__velocity[] = {
    {"Angstrom ps-1", 1.0}, {"A ps-1", 1.0}, {"Angstrom/ps", 1.0}, {"A/ps", 1.0},
    {"Angstrom/picosecond", 1.0}, {"angstrom/picosecond", 1.0},
    {"Angstrom fs-1", 1e3}, {"A fs-1", 1e3}, {"Angstrom/fs", 1e3}, {"A/fs", 1e3},
    {"Angstrom AKMA-1", 1.0 / AKMA_PS}, {"A AKMA-1", 1.0 / AKMA_PS}, {"Angstrom/AKMA", 1.0 / AKMA_PS},
    {"A/AKMA", 1.0 / AKMA_PS}, {"nm ps-1", 10.0}, {"nm/ps", 10.0}, {"nanometer/picosecond", 10.0},
    {"nm ns-1", 1e-2}, {"nm/ns", 1e-2}, {"pm ps-1", 1e-2}, {"pm/ps", 1e-2}, {"m s-1", 1e-2},
    {"m/s", 1e-2}, {NULL, 0}};

static const zt_ufac zt__force[] = {
    {"kJ mol-1 Angstrom-1", 1.0}, {"kJ mol-1 A-1", 1.0}, {"kJ/(mol*Angstrom)", 1.0},
    {"kJ/(mol*A)", 1.0}, {"kJ mol-1 nm-1", 0.1}, {"kJ/(mol*nm)", 0.1},
    {"Newton", 1.0 / N_PER_KJMOLA}, {"N", 1.0 / N_PER_KJMOLA}, {"J m-1", 1.0 / N_PER_KJMOLA},
    {"J/m", 1.0 / N_PER_KJMOLA}, {"kcal mol-1 Angstrom-1", KCAL_KJ}, {"kcal mol-1 A-1", KCAL_KJ},
    {"kcal/(mol*Angstrom)", KCAL_KJ}, {"kcal/(mol*A)", KCAL_KJ}, {"eV/Angstrom", EV_KJMOL},
    {"eV Angstrom-1", EV_KJMOL}, {"eV/A", EV_KJMOL}, {NULL, 0}};

int zt_unit_factor(zt_unit_kind_t kind, const char *unit, double *factor) {
    const zt_ufac *t = NULL;
    const char *kn = "";
    switch (kind) {
    case ZT_UNIT_LENGTH: t = zt__length; kn = "length"; break;
    case ZT_UNIT_TIME: t = zt__time; kn = "time"; break;
    case ZT_UNIT_VELOCITY: t = zt__velocity; kn = "velocity"; break;
    case ZT_UNIT_FORCE: t = zt__force; kn = "force"; break;
    default: return zt__err(ZT_EINVAL, "unknown unit kind %d", (int)kind);
    }
    if (!unit || !factor) return zt__err(ZT_EINVAL, "zt_unit_factor: NULL argument");
    for (; t->unit; t++)
        if (!strcmp(t->unit, unit)) {
            *factor = t->factor;
            return 0;
        }
    return zt__err(ZT_EUNITS, "unknown %s unit '%s'", kn, unit);
}
