/* The H5MD 1.x model over a node tree (Zarr or HDF5 alike): particle groups,
 * time-dependent and time-independent elements with their step/time, box,
 * observables, units. Does not know which container the tree came from. */
#ifndef ZT_H5MD_H
#define ZT_H5MD_H

#include "array/array.h"

/* One H5MD element: a time-dependent group (value + step [+ time]) or a
 * time-independent dataset (or, leniently, a group holding only value). */
typedef struct zt_h5el {
    char *name;           /* "position", "box/edges", "temperature", "trajectory/temperature" */
    zt_node *node;        /* element node (group or dataset) */
    zt_array *value;      /* value array; NULL for non-numeric datasets */
    const char *unit;     /* value's unit attribute (borrowed) or NULL */
    bool time_dependent;
    /* time-dependent only: */
    int64_t n_samples;
    int64_t *step;        /* n_samples entries */
    double *time;         /* n_samples entries, or NULL when the file has no time */
    const char *time_unit;
    bool step_fixed, time_fixed;
    int64_t step_inc, step_off;
    double time_inc, time_off;
} zt_h5el;

enum { ZT_BOX_NONE = 0, ZT_BOX_VECTOR = 1, ZT_BOX_MATRIX = 2 };

typedef struct zt_h5group {
    char *name;
    zt_node *node;
    int64_t n_atoms;
    int dimension;
    char boundary[3][16];   /* "periodic" / "none" per dimension (first 3) */
    zt_h5el *el[ZT_N_ELEMENTS]; /* position, velocity, force, box edges; NULL when absent */
    int box_kind;           /* ZT_BOX_* */
    bool box_fixed_valid;   /* time-independent edges loaded into box_fixed */
    double box_fixed[3][3];
    zt_h5el **extras;       /* other particle elements (image, species, mass, ...) */
    size_t n_extras;
} zt_h5group;

typedef struct zt_h5md {
    zt_tree *tree;          /* owned */
    int version[2];
    char *author, *author_email, *creator, *creator_version;
    zt_strlist groups;      /* particle group names, sorted */
} zt_h5md;

/* Validate the H5MD root (h5md group, version) and list particle groups.
 * Takes ownership of the tree (also on failure). */
int zt__h5md_open(zt_tree *t, zt_h5md **out);
void zt__h5md_free(zt_h5md *h);

/* Load particle group `name` (NULL = the only one): elements, step/time
 * arrays, box. */
int zt__h5md_load_group(zt_h5md *h, const char *name, zt_h5group **out);
void zt__h5group_free(zt_h5group *g);

/* Observables visible with particle group gname (global ones and those under
 * observables/<gname>/ or any sub-group that is not another particle group). */
int zt__h5md_load_observables(zt_h5md *h, const char *gname, zt_h5el ***out, size_t *n);

/* Load an element rooted at node (name used in messages and as its key). */
int zt__h5el_load(zt_h5md *h, zt_node *node, const char *name, zt_h5el **out);
void zt__h5el_free(zt_h5el *e);

/* Sample index of step in a time-dependent element, or -1. */
int64_t zt__h5el_find_step(const zt_h5el *e, int64_t step);

#endif
