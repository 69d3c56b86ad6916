/*
 * zarrtraj._core: the CPython extension over libzarrtraj.
 *
 * Thin and explicit: every method maps to one or a few calls of the public C
 * API (include/zarrtraj.h). Data goes straight into caller-provided buffers
 * (MDAnalysis Timestep arrays, NumPy arrays) without intermediate copies, and
 * the GIL is released for every call that may do I/O or decode chunks. A reader
 * or writer handle is used by one thread at a time: each object carries a lock,
 * taken with the GIL released, so Python threads sharing an object serialise
 * instead of racing.
 *
 * C errors become Python exceptions carrying zt_last_error()'s message and the
 * code (`.code`, `.errname`); the exception classes derive from the matching
 * builtin (FileNotFoundError, ValueError, PermissionError, OSError, ...).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pythread.h>

#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "zarrtraj.h"

/* ------------------------------------------------------------------------ */
/* Exceptions                                                                */
/* ------------------------------------------------------------------------ */

static PyObject *ZtError;         /* base: ZarrtrajError(Exception) */
static PyObject *ZtExc[-ZT_ERR_MIN + 1]; /* class per code (index -code) */

#define ZT_PY_CLOSED 1 /* pseudo code: handle already closed */

static PyObject *zt_exc_new(PyObject *module, const char *name, const char *doc, PyObject *b1, PyObject *b2) {
    char qual[128];
    snprintf(qual, sizeof qual, "zarrtraj.%s", name);
    PyObject *bases = b2 ? PyTuple_Pack(3, ZtError, b1, b2) : PyTuple_Pack(2, ZtError, b1);
    if (!bases) return NULL;
    PyObject *t = PyErr_NewExceptionWithDoc(qual, doc, bases, NULL);
    Py_DECREF(bases);
    if (!t) return NULL;
    if (PyModule_AddObjectRef(module, name, t) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return t; /* one reference kept for the process lifetime (ZtExc) */
}

static int zt_exc_init(PyObject *m) {
    if (ZtError) { /* module executed again (removed from sys.modules and re-imported): same classes */
        if (PyModule_AddObjectRef(m, "ZarrtrajError", ZtError) < 0) return -1;
        for (int c = 1; c <= -ZT_ERR_MIN; c++) {
            PyObject *t = ZtExc[c];
            if (!t) continue;
            const char *dot = strrchr(((PyTypeObject *)t)->tp_name, '.');
            if (PyModule_AddObjectRef(m, dot ? dot + 1 : ((PyTypeObject *)t)->tp_name, t) < 0) return -1;
        }
        return 0;
    }
    ZtError = PyErr_NewExceptionWithDoc("zarrtraj.ZarrtrajError",
                                        "Base class of every error raised by libzarrtraj; "
                                        "`code` is the ZT_E* code, `errname` its name.",
                                        PyExc_Exception, NULL);
    if (!ZtError || PyModule_AddObjectRef(m, "ZarrtrajError", ZtError) < 0) return -1;
    struct {
        const char *name, *doc;
        PyObject *b1, *b2;
        int codes[10];
    } defs[] = {
        {"InvalidArgumentError", "Invalid argument (ZT_EINVAL).", PyExc_ValueError, NULL, {ZT_EINVAL}},
        {"OutOfMemoryError", "Out of memory (ZT_ENOMEM).", PyExc_MemoryError, NULL, {ZT_ENOMEM}},
        {"StoreIOError", "I/O error, object changed while read, or canceled (ZT_EIO, ZT_ECHANGED, ZT_ECANCELED).",
         PyExc_OSError, NULL, {ZT_EIO, ZT_ECHANGED, ZT_ECANCELED}},
        {"NotFoundError", "File, object or array not found (ZT_ENOTFOUND).", PyExc_FileNotFoundError, NULL,
         {ZT_ENOTFOUND}},
        {"FormatError",
         "The input is not a readable H5MD/zarrmd trajectory: malformed metadata, not HDF5, no h5md group, "
         "unsupported version/feature/dtype/codec, wrong shapes, inconsistent lengths, unknown units.",
         PyExc_ValueError, NULL,
         {ZT_EFORMAT, ZT_EUNSUPPORTED, ZT_ENOTH5MD, ZT_EVERSION, ZT_ESHAPE, ZT_EMISMATCH, ZT_EOVERFLOW,
          ZT_ENOTHDF5, ZT_EUNITS}},
        {"CorruptDataError", "Corrupt, undecodable or truncated data (ZT_ECORRUPT, ZT_ETRUNCATED).",
         PyExc_OSError, PyExc_ValueError, {ZT_ECORRUPT, ZT_ETRUNCATED}},
        {"FrameRangeError", "Frame, atom or sample index out of range (ZT_ERANGE).", PyExc_IndexError, NULL,
         {ZT_ERANGE}},
        {"GroupError",
         "Particle group not given while the file has several, or not found (ZT_EGROUP). Both a KeyError "
         "and a ValueError, as Zarrtraj raises either.",
         PyExc_KeyError, PyExc_ValueError, {ZT_EGROUP}},
        {"AuthError", "Authentication failed or permission denied (ZT_EAUTH).", PyExc_PermissionError, NULL,
         {ZT_EAUTH}},
        {"NetworkError", "Network error after retries (ZT_ENET).", PyExc_ConnectionError, NULL, {ZT_ENET}},
        {"StoreTimeoutError", "Request timed out (ZT_ETIMEDOUT).", PyExc_TimeoutError, NULL, {ZT_ETIMEDOUT}},
        {"ExistsError", "Output already exists (ZT_EEXIST).", PyExc_FileExistsError, NULL, {ZT_EEXIST}},
        {"NoFrameDataError", "No data for this frame (ZT_ENODATA).", PyExc_LookupError, NULL, {ZT_ENODATA}},
        {"StateError", "Invalid state (ZT_ESTATE).", PyExc_RuntimeError, NULL, {ZT_ESTATE}},
    };
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++) {
        PyObject *t = zt_exc_new(m, defs[i].name, defs[i].doc, defs[i].b1, defs[i].b2);
        if (!t) return -1;
        for (int k = 0; k < 10 && defs[i].codes[k]; k++) ZtExc[-defs[i].codes[k]] = t;
    }
    return 0;
}

/* Raise the exception of code rc with message msg (NULL: zt_last_error()). */
static PyObject *zt_raise_msg(int rc, const char *msg) {
    if (rc == ZT_PY_CLOSED) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on a closed zarrtraj handle");
        return NULL;
    }
    if (!msg || !*msg) msg = zt_last_error();
    if (!msg || !*msg) msg = zt_strerror(rc);
    PyObject *type = (rc < 0 && rc >= ZT_ERR_MIN && ZtExc[-rc]) ? ZtExc[-rc] : ZtError;
    PyObject *exc = PyObject_CallFunction(type, "s", msg);
    if (!exc) return NULL;
    PyObject *code = PyLong_FromLong(rc);
    PyObject *name = PyUnicode_FromString(zt_err_name(rc));
    if (code && name) {
        PyObject_SetAttrString(exc, "code", code);
        PyObject_SetAttrString(exc, "errname", name);
    }
    Py_XDECREF(code);
    Py_XDECREF(name);
    PyErr_SetObject(type, exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *zt_raise(int rc) { return zt_raise_msg(rc, NULL); }

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* Storage options from None, a dict or a sequence of (key, value) pairs;
 * keys and values must be str. Returns 0 (and *out, possibly NULL) or -1. */
static int zt_py_options(PyObject *obj, zt_options_t **out) {
    *out = NULL;
    if (!obj || obj == Py_None) return 0;
    PyObject *items = PyDict_Check(obj) ? PyDict_Items(obj) : PySequence_List(obj);
    if (!items) return -1;
    zt_options_t *o = NULL;
    if (zt_options_create(&o) != 0) {
        Py_DECREF(items);
        zt_raise(ZT_ENOMEM);
        return -1;
    }
    Py_ssize_t n = PyList_GET_SIZE(items);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PyList_GET_ITEM(items, i);
        PyObject *k = NULL, *v = NULL;
        if (!PyTuple_Check(it) || PyTuple_GET_SIZE(it) != 2) goto bad;
        k = PyTuple_GET_ITEM(it, 0);
        v = PyTuple_GET_ITEM(it, 1);
        if (!PyUnicode_Check(k) || !PyUnicode_Check(v)) goto bad;
        const char *ks = PyUnicode_AsUTF8(k), *vs = PyUnicode_AsUTF8(v);
        if (!ks || !vs) goto fail;
        int rc = zt_options_set(o, ks, vs);
        if (rc) {
            zt_raise(rc);
            goto fail;
        }
        continue;
    bad:
        PyErr_SetString(PyExc_TypeError, "storage options: expected str keys and str values "
                                         "(zarrtraj.storage_options() converts fsspec-style dicts)");
        goto fail;
    }
    Py_DECREF(items);
    *out = o;
    return 0;
fail:
    Py_DECREF(items);
    zt_options_free(o);
    return -1;
}

/* Normalised, hashable copy of storage options (tuple of (str, str)). */
static PyObject *zt_py_options_tuple(PyObject *obj) {
    if (!obj || obj == Py_None) return PyTuple_New(0);
    PyObject *items = PyDict_Check(obj) ? PyDict_Items(obj) : PySequence_List(obj);
    if (!items) return NULL;
    PyObject *t = PyList_AsTuple(items);
    Py_DECREF(items);
    return t;
}

/* Element from an int (0..3) or a name. */
static int zt_py_element(PyObject *obj, zt_element_t *el) {
    if (PyLong_Check(obj)) {
        long v = PyLong_AsLong(obj);
        if (v >= 0 && v < ZT_N_ELEMENTS) {
            *el = (zt_element_t)v;
            return 0;
        }
    } else if (PyUnicode_Check(obj)) {
        const char *s = PyUnicode_AsUTF8(obj);
        if (!s) return -1;
        static const struct {
            const char *n;
            zt_element_t e;
        } names[] = {{"position", ZT_POSITION}, {"positions", ZT_POSITION}, {"velocity", ZT_VELOCITY},
                     {"velocities", ZT_VELOCITY}, {"force", ZT_FORCE},       {"forces", ZT_FORCE},
                     {"box", ZT_BOX},            {"box/edges", ZT_BOX}};
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
            if (!strcmp(s, names[i].n)) {
                *el = names[i].e;
                return 0;
            }
    }
    PyErr_Format(PyExc_ValueError, "element must be 'position', 'velocity', 'force', 'box' or 0..3, not %R", obj);
    return -1;
}

/* Writable (or read-only when !writable) C-contiguous buffer of `count` items of
 * kind 'f' (float32), 'd' (float64) or 'q' (int64). None gives buf = NULL. */
static int zt_py_buffer(PyObject *obj, char kind, Py_ssize_t count, int writable, Py_buffer *view, const char *what) {
    memset(view, 0, sizeof *view);
    if (!obj || obj == Py_None) return 0;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        PyErr_Format(PyExc_TypeError, "%s: expected a %sC-contiguous %s array", what, writable ? "writable " : "",
                     kind == 'f' ? "float32" : kind == 'd' ? "float64" : "int64");
        return -1;
    }
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    int ok;
    if (kind == 'f') ok = view->itemsize == 4 && !strcmp(f, "f");
    else if (kind == 'd') ok = view->itemsize == 8 && !strcmp(f, "d");
    else ok = view->itemsize == 8 && (!strcmp(f, "q") || !strcmp(f, "l"));
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s: expected dtype %s, got format '%s'", what,
                     kind == 'f' ? "float32" : kind == 'd' ? "float64" : "int64", view->format ? view->format : "?");
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    if (count >= 0 && view->len / view->itemsize != count) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd values, got %zd", what, count, view->len / view->itemsize);
        PyBuffer_Release(view);
        view->obj = NULL;
        return -1;
    }
    return 0;
}

static void zt_py_release(Py_buffer *v) {
    if (v->obj) PyBuffer_Release(v);
}

static PyObject *zt_py_str_or_none(const char *s) {
    if (!s) Py_RETURN_NONE;
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

/* Take `lock` with the GIL released (only when it is contended). */
static void zt_py_lock(PyThread_type_lock lock) {
    if (PyThread_acquire_lock(lock, NOWAIT_LOCK)) return;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(lock, WAIT_LOCK);
    Py_END_ALLOW_THREADS
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct {
    size_t index;     /* data entry */
    Py_ssize_t off;   /* offset in the per-frame data buffer (doubles) */
    Py_ssize_t size;  /* sample size */
} zt_fdata;

typedef struct {
    PyObject_HEAD
    zt_reader_t *r;
    PyThread_type_lock lock;
    int64_t n_atoms, n_frames;
    /* constructor arguments, for pickling */
    PyObject *url, *group, *storage;
    Py_ssize_t cache_bytes, readahead_bytes;
    int convert_units, threads;
    /* observables read with every frame */
    zt_fdata *fdata;
    Py_ssize_t n_fdata, fdata_total;
} ReaderObject;

static void Reader_close_handle(ReaderObject *self) {
    if (!self->r) return;
    zt_reader_t *r = self->r;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    self->r = NULL;
    zt_reader_close(r);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
}

static void Reader_dealloc(ReaderObject *self) {
    if (self->lock) {
        Reader_close_handle(self);
        PyThread_free_lock(self->lock);
    }
    Py_XDECREF(self->url);
    Py_XDECREF(self->group);
    Py_XDECREF(self->storage);
    PyMem_Free(self->fdata);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Reader_init(ReaderObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"url", "group", "cache_bytes", "storage_options", "convert_units",
                             "readahead_bytes", "threads", NULL};
    PyObject *url = NULL, *group = Py_None, *storage = Py_None;
    Py_ssize_t cache = (Py_ssize_t)100 << 20, readahead = (Py_ssize_t)128 << 20;
    int convert = 0, threads = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "U|OnOpni:Reader", kwlist, &url, &group, &cache, &storage, &convert,
                                     &readahead, &threads))
        return -1;
    if (group != Py_None && !PyUnicode_Check(group)) {
        PyErr_SetString(PyExc_TypeError, "group must be a str or None");
        return -1;
    }
    if (cache < 0 || readahead < 0) {
        PyErr_SetString(PyExc_ValueError, "cache_bytes and readahead_bytes must be >= 0");
        return -1;
    }
    if (self->r) {
        PyErr_SetString(PyExc_RuntimeError, "Reader already initialised");
        return -1;
    }
    if (!self->lock && !(self->lock = PyThread_allocate_lock())) {
        PyErr_NoMemory();
        return -1;
    }
    zt_options_t *so = NULL;
    if (zt_py_options(storage, &so) < 0) return -1;
    PyObject *st = zt_py_options_tuple(storage);
    if (!st) {
        zt_options_free(so);
        return -1;
    }
    const char *u = PyUnicode_AsUTF8(url);
    const char *g = group == Py_None ? NULL : PyUnicode_AsUTF8(group);
    if (!u || (group != Py_None && !g)) {
        zt_options_free(so);
        Py_DECREF(st);
        return -1;
    }
    zt_reader_opts_t o = ZT_READER_OPTS_DEFAULTS;
    o.group = g;
    o.cache_bytes = (size_t)cache;
    o.storage = so;
    o.convert_units = convert;
    o.readahead_bytes = (size_t)readahead;
    o.threads = threads;
    zt_reader_t *r = NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = zt_reader_open(u, &o, &r);
    Py_END_ALLOW_THREADS
    zt_options_free(so);
    if (rc) {
        Py_DECREF(st);
        zt_raise(rc);
        return -1;
    }
    self->r = r;
    self->n_atoms = zt_reader_n_atoms(r);
    self->n_frames = zt_reader_n_frames(r);
    Py_INCREF(url);
    Py_XSETREF(self->url, url);
    Py_INCREF(group);
    Py_XSETREF(self->group, group);
    Py_XSETREF(self->storage, st);
    self->cache_bytes = cache;
    self->readahead_bytes = readahead;
    self->convert_units = convert;
    self->threads = threads;
    return 0;
}

#define READER_OPEN_OR_RAISE(self)                                                                                    \
    do {                                                                                                              \
        if (!(self)->r) return zt_raise(ZT_PY_CLOSED);                                                                \
    } while (0)

static PyObject *Reader_close(ReaderObject *self, PyObject *Py_UNUSED(a)) {
    Reader_close_handle(self);
    Py_RETURN_NONE;
}

static PyObject *Reader_enter(ReaderObject *self, PyObject *Py_UNUSED(a)) {
    READER_OPEN_OR_RAISE(self);
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *Reader_exit(ReaderObject *self, PyObject *Py_UNUSED(a)) {
    Reader_close_handle(self);
    Py_RETURN_FALSE;
}

static PyObject *Reader_reduce(ReaderObject *self, PyObject *Py_UNUSED(a)) {
    if (!self->url) {
        PyErr_SetString(PyExc_TypeError, "cannot pickle an uninitialised Reader");
        return NULL;
    }
    return Py_BuildValue("(O(OOnOini))", (PyObject *)Py_TYPE(self), self->url, self->group, self->cache_bytes,
                         self->storage, self->convert_units, self->readahead_bytes, self->threads);
}

/* ---- simple queries (metadata already in memory: no lock needed beyond the GIL,
 * but a concurrent close must not free the handle: take the lock). ---- */

static PyObject *Reader_get_n_frames(ReaderObject *self, void *c) {
    return PyLong_FromLongLong(self->n_frames);
}
static PyObject *Reader_get_n_atoms(ReaderObject *self, void *c) {
    return PyLong_FromLongLong(self->n_atoms);
}
static PyObject *Reader_get_closed(ReaderObject *self, void *c) { return PyBool_FromLong(self->r == NULL); }
static PyObject *Reader_get_url(ReaderObject *self, void *c) {
    if (!self->url) Py_RETURN_NONE;
    Py_INCREF(self->url);
    return self->url;
}
static PyObject *Reader_get_storage(ReaderObject *self, void *c) {
    if (!self->storage) return PyTuple_New(0);
    Py_INCREF(self->storage);
    return self->storage;
}

typedef const char *(*zt_strq)(const zt_reader_t *);
static PyObject *Reader_strq(ReaderObject *self, zt_strq q) {
    READER_OPEN_OR_RAISE(self);
    zt_py_lock(self->lock);
    PyObject *res = self->r ? zt_py_str_or_none(q(self->r)) : zt_raise(ZT_PY_CLOSED);
    PyThread_release_lock(self->lock);
    return res;
}
static PyObject *Reader_get_format(ReaderObject *self, void *c) { return Reader_strq(self, zt_reader_format); }
static PyObject *Reader_get_group(ReaderObject *self, void *c) { return Reader_strq(self, zt_reader_group); }
static PyObject *Reader_get_time_unit(ReaderObject *self, void *c) { return Reader_strq(self, zt_reader_time_unit); }
static PyObject *Reader_get_box_kind(ReaderObject *self, void *c) { return Reader_strq(self, zt_reader_box_kind); }

static PyObject *Reader_get_groups(ReaderObject *self, void *c) {
    READER_OPEN_OR_RAISE(self);
    zt_py_lock(self->lock);
    PyObject *res = NULL;
    if (!self->r) {
        zt_raise(ZT_PY_CLOSED);
        goto out;
    }
    size_t n = zt_reader_n_groups(self->r);
    res = PyTuple_New((Py_ssize_t)n);
    for (size_t i = 0; res && i < n; i++) {
        PyObject *s = zt_py_str_or_none(zt_reader_group_name(self->r, i));
        if (!s) {
            Py_CLEAR(res);
            break;
        }
        PyTuple_SET_ITEM(res, (Py_ssize_t)i, s);
    }
out:
    PyThread_release_lock(self->lock);
    return res;
}

static PyObject *Reader_get_boundary(ReaderObject *self, void *c) {
    READER_OPEN_OR_RAISE(self);
    zt_py_lock(self->lock);
    PyObject *res = PyList_New(0);
    for (int i = 0; res && self->r && i < 3; i++) {
        const char *b = NULL;
        if (zt_reader_box_boundary(self->r, i, &b) != 0) break;
        PyObject *s = zt_py_str_or_none(b);
        if (!s || PyList_Append(res, s) < 0) Py_CLEAR(res);
        Py_XDECREF(s);
    }
    PyThread_release_lock(self->lock);
    if (!res) return NULL;
    PyObject *t = PyList_AsTuple(res);
    Py_DECREF(res);
    return t;
}

/* Run `expr` (an int) on the open handle under its lock; *ok = 0 when closed. */
#define READER_INT_QUERY(self, expr, out)                                                                             \
    do {                                                                                                              \
        zt_py_lock((self)->lock);                                                                                     \
        int open_ = (self)->r != NULL;                                                                                \
        if (open_) (out) = (expr);                                                                                    \
        PyThread_release_lock((self)->lock);                                                                          \
        if (!open_) return zt_raise(ZT_PY_CLOSED);                                                                    \
    } while (0)

static PyObject *Reader_get_box_time_dependent(ReaderObject *self, void *c) {
    int v = 0;
    READER_INT_QUERY(self, zt_reader_box_time_dependent(self->r), v);
    return PyBool_FromLong(v);
}

static PyObject *Reader_get_h5md_version(ReaderObject *self, void *c) {
    int a = 0, b = 0, rc = 0;
    READER_INT_QUERY(self, zt_reader_h5md_version(self->r, &a, &b), rc);
    (void)rc;
    return Py_BuildValue("(ii)", a, b);
}

static PyObject *Reader_get_attrs(ReaderObject *self, void *c) {
    READER_OPEN_OR_RAISE(self);
    static const char *keys[] = {"author", "author_email", "creator", "creator_version"};
    zt_py_lock(self->lock);
    PyObject *d = self->r ? PyDict_New() : zt_raise(ZT_PY_CLOSED);
    for (size_t i = 0; d && i < 4; i++) {
        PyObject *v = zt_py_str_or_none(zt_reader_attr(self->r, keys[i]));
        if (!v || PyDict_SetItemString(d, keys[i], v) < 0) Py_CLEAR(d);
        Py_XDECREF(v);
    }
    PyThread_release_lock(self->lock);
    return d;
}

static PyObject *Reader_has(ReaderObject *self, PyObject *arg) {
    zt_element_t el;
    if (zt_py_element(arg, &el) < 0) return NULL;
    int v = 0;
    READER_INT_QUERY(self, zt_reader_has(self->r, el), v);
    return PyBool_FromLong(v);
}

static PyObject *Reader_has_time(ReaderObject *self, PyObject *arg) {
    zt_element_t el;
    if (zt_py_element(arg, &el) < 0) return NULL;
    int v = 0;
    READER_INT_QUERY(self, zt_reader_has_time(self->r, el), v);
    return PyBool_FromLong(v);
}

static PyObject *Reader_n_samples(ReaderObject *self, PyObject *arg) {
    zt_element_t el;
    if (zt_py_element(arg, &el) < 0) return NULL;
    int64_t v = 0;
    READER_INT_QUERY(self, zt_reader_n_samples(self->r, el), v);
    return PyLong_FromLongLong(v);
}

static PyObject *Reader_unit(ReaderObject *self, PyObject *arg) {
    zt_element_t el;
    if (zt_py_element(arg, &el) < 0) return NULL;
    READER_OPEN_OR_RAISE(self);
    zt_py_lock(self->lock);
    PyObject *res = self->r ? zt_py_str_or_none(zt_reader_unit(self->r, el)) : zt_raise(ZT_PY_CLOSED);
    PyThread_release_lock(self->lock);
    return res;
}

static PyObject *zt_py_i64_tuple(const int64_t *v, int n) {
    PyObject *t = PyTuple_New(n);
    for (int i = 0; t && i < n; i++) {
        PyObject *x = PyLong_FromLongLong(v[i]);
        if (!x) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    return t;
}

static PyObject *Reader_array_info(ReaderObject *self, PyObject *arg) {
    zt_element_t el;
    if (zt_py_element(arg, &el) < 0) return NULL;
    READER_OPEN_OR_RAISE(self);
    zt_py_lock(self->lock);
    zt_array_info_t ai;
    int rc = self->r ? (zt_reader_has(self->r, el) ? zt_reader_array_info(self->r, el, &ai) : ZT_ENOTFOUND)
                     : ZT_PY_CLOSED;
    PyObject *res = NULL;
    if (rc == ZT_ENOTFOUND) {
        Py_INCREF(Py_None);
        res = Py_None;
    } else if (rc) {
        zt_raise(rc);
    } else {
        PyObject *shape = zt_py_i64_tuple(ai.shape, ai.ndim), *chunks = zt_py_i64_tuple(ai.chunks, ai.ndim);
        if (shape && chunks)
            res = Py_BuildValue("{s:s,s:s,s:O,s:O,s:s,s:N}", "path", ai.path, "dtype", ai.dtype, "shape", shape,
                                "chunks", chunks, "codecs", ai.codecs ? ai.codecs : "{}", "unit",
                                zt_py_str_or_none(ai.unit));
        Py_XDECREF(shape);
        Py_XDECREF(chunks);
    }
    PyThread_release_lock(self->lock);
    return res;
}

static PyObject *Reader_steps(ReaderObject *self, PyObject *Py_UNUSED(a)) {
    READER_OPEN_OR_RAISE(self);
    npy_intp n = (npy_intp)self->n_frames;
    PyObject *steps = PyArray_SimpleNew(1, &n, NPY_INT64);
    PyObject *times = PyArray_SimpleNew(1, &n, NPY_FLOAT64);
    if (!steps || !times) goto fail;
    zt_py_lock(self->lock);
    int rc = self->r ? zt_reader_steps(self->r, PyArray_DATA((PyArrayObject *)steps),
                                       PyArray_DATA((PyArrayObject *)times))
                     : ZT_PY_CLOSED;
    PyThread_release_lock(self->lock);
    if (rc) {
        zt_raise(rc);
        goto fail;
    }
    return Py_BuildValue("(NN)", steps, times);
fail:
    Py_XDECREF(steps);
    Py_XDECREF(times);
    return NULL;
}

static PyObject *Reader_frame_flags(ReaderObject *self, PyObject *Py_UNUSED(a)) {
    READER_OPEN_OR_RAISE(self);
    npy_intp n = (npy_intp)self->n_frames;
    PyObject *flags = PyArray_SimpleNew(1, &n, NPY_UINT8);
    if (!flags) return NULL;
    zt_py_lock(self->lock);
    int rc = self->r ? zt_reader_frame_flags(self->r, PyArray_DATA((PyArrayObject *)flags)) : ZT_PY_CLOSED;
    PyThread_release_lock(self->lock);
    if (rc) {
        Py_DECREF(flags);
        return zt_raise(rc);
    }
    return flags;
}

/* Which data entries (observables) read_frame fills, in this order. */
static PyObject *Reader_set_frame_data(ReaderObject *self, PyObject *arg) {
    READER_OPEN_OR_RAISE(self);
    PyObject *seq = PySequence_Fast(arg, "set_frame_data: expected a sequence of data indices");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    zt_fdata *fd = PyMem_Calloc((size_t)(n ? n : 1), sizeof *fd);
    if (!fd) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    Py_ssize_t total = 0;
    zt_py_lock(self->lock);
    size_t nd = self->r ? zt_reader_n_data(self->r) : 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t idx = PyNumber_AsSsize_t(PySequence_Fast_GET_ITEM(seq, i), PyExc_OverflowError);
        if (idx == -1 && PyErr_Occurred()) goto fail;
        zt_data_info_t info;
        if (idx < 0 || (size_t)idx >= nd || zt_reader_data_info(self->r, (size_t)idx, &info) != 0) {
            PyErr_Format(PyExc_IndexError, "data index %zd out of range", idx);
            goto fail;
        }
        fd[i].index = (size_t)idx;
        fd[i].off = total;
        fd[i].size = (Py_ssize_t)info.sample_size;
        total += fd[i].size;
    }
    PyThread_release_lock(self->lock);
    Py_DECREF(seq);
    PyMem_Free(self->fdata);
    self->fdata = fd;
    self->n_fdata = n;
    self->fdata_total = total;
    return PyLong_FromSsize_t(total);
fail:
    PyThread_release_lock(self->lock);
    Py_DECREF(seq);
    PyMem_Free(fd);
    return NULL;
}

/* read_frame(i, pos=None, vel=None, force=None, data=None)
 *   -> (step, time, has_mask, dimensions or None, present tuple)
 * One C call for the coordinates and box; the observables chosen with
 * set_frame_data are read into `data` in the same trip. */
static PyObject *Reader_read_frame(ReaderObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"frame", "pos", "vel", "force", "data", NULL};
    long long i;
    PyObject *po = Py_None, *vo = Py_None, *fo = Py_None, *dobj = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "L|OOOO:read_frame", kwlist, &i, &po, &vo, &fo, &dobj)) return NULL;
    READER_OPEN_OR_RAISE(self);
    Py_buffer b[3], db;
    PyObject *objs[3] = {po, vo, fo};
    const char *names[3] = {"pos", "vel", "force"};
    int nb = 0;
    for (; nb < 3; nb++)
        if (zt_py_buffer(objs[nb], 'f', (Py_ssize_t)self->n_atoms * 3, 1, &b[nb], names[nb]) < 0) break;
    if (nb < 3) {
        for (int k = 0; k < nb; k++) zt_py_release(&b[k]);
        return NULL;
    }
    memset(&db, 0, sizeof db);
    if (self->n_fdata && dobj != Py_None && zt_py_buffer(dobj, 'd', self->fdata_total, 1, &db, "data") < 0) {
        for (int k = 0; k < 3; k++) zt_py_release(&b[k]);
        return NULL;
    }
    uint8_t present_small[64], *present = present_small;
    if (self->n_fdata > 64 && !(present = PyMem_Malloc((size_t)self->n_fdata))) {
        for (int k = 0; k < 3; k++) zt_py_release(&b[k]);
        zt_py_release(&db);
        return PyErr_NoMemory();
    }
    zt_frame_t f;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    if (!self->r) rc = ZT_PY_CLOSED;
    else rc = zt_reader_read_frame(self->r, (int64_t)i, &f, b[0].buf, b[1].buf, b[2].buf);
    for (Py_ssize_t k = 0; !rc && k < self->n_fdata; k++) {
        present[k] = 0;
        if (!db.buf) continue;
        int r2 = zt_reader_read_data(self->r, self->fdata[k].index, (int64_t)i, (double *)db.buf + self->fdata[k].off);
        if (r2 == 0) present[k] = 1;
        else if (r2 != ZT_ENODATA) rc = r2;
    }
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    for (int k = 0; k < 3; k++) zt_py_release(&b[k]);
    zt_py_release(&db);
    PyObject *res = NULL;
    if (rc) {
        zt_raise(rc);
        goto out;
    }
    int mask = 0;
    for (int k = 0; k < ZT_N_ELEMENTS; k++)
        if (f.has[k]) mask |= 1 << k;
    PyObject *dims;
    if (f.has[ZT_BOX])
        dims = Py_BuildValue("(dddddd)", f.dimensions[0], f.dimensions[1], f.dimensions[2], f.dimensions[3],
                             f.dimensions[4], f.dimensions[5]);
    else {
        Py_INCREF(Py_None);
        dims = Py_None;
    }
    PyObject *pres = PyTuple_New(self->n_fdata);
    for (Py_ssize_t k = 0; pres && k < self->n_fdata; k++) PyTuple_SET_ITEM(pres, k, PyBool_FromLong(present[k]));
    if (dims && pres) res = Py_BuildValue("(LdiNN)", (long long)f.step, f.time, mask, dims, pres);
    else {
        Py_XDECREF(dims);
        Py_XDECREF(pres);
    }
out:
    if (present != present_small) PyMem_Free(present);
    return res;
}

/* read_frames(el, frames, out=None, info=False) -> float32 (n, n_atoms, 3): a
 * batch of frames in any order with all their chunks in flight at once. With
 * info=True, (out, steps int64 (n,), times float64 (n,), dimensions float64
 * (n, 6), flags uint8 (n,)) from the same C call: flags bit k = element k
 * sampled at that frame, bit ZT_FRAME_HAS_TIME = the frame has a time. */
static PyObject *Reader_read_frames(ReaderObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"element", "frames", "out", "info", NULL};
    PyObject *elo, *fro, *outo = Py_None;
    int want_info = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|Op:read_frames", kwlist, &elo, &fro, &outo, &want_info))
        return NULL;
    zt_element_t el;
    if (zt_py_element(elo, &el) < 0) return NULL;
    READER_OPEN_OR_RAISE(self);
    Py_buffer fb, ob;
    if (zt_py_buffer(fro, 'q', -1, 0, &fb, "frames") < 0) return NULL;
    if (!fb.obj) {
        PyErr_SetString(PyExc_TypeError, "frames: expected an int64 array");
        return NULL;
    }
    Py_ssize_t n = fb.len / 8;
    PyObject *out;
    if (outo == Py_None) {
        npy_intp dims[3] = {n, (npy_intp)self->n_atoms, 3};
        out = PyArray_SimpleNew(3, dims, NPY_FLOAT32);
        if (!out) {
            zt_py_release(&fb);
            return NULL;
        }
    } else {
        Py_INCREF(outo);
        out = outo;
    }
    if (zt_py_buffer(out, 'f', n * (Py_ssize_t)self->n_atoms * 3, 1, &ob, "out") < 0) {
        zt_py_release(&fb);
        Py_DECREF(out);
        return NULL;
    }
    zt_frame_t *info = NULL;
    if (want_info && !(info = PyMem_Malloc((size_t)(n ? n : 1) * sizeof *info))) {
        zt_py_release(&fb);
        zt_py_release(&ob);
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    rc = self->r ? zt_reader_read_frames(self->r, el, fb.buf, (size_t)n, ob.buf, info) : ZT_PY_CLOSED;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    zt_py_release(&fb);
    zt_py_release(&ob);
    if (rc) {
        PyMem_Free(info);
        Py_DECREF(out);
        return zt_raise(rc);
    }
    if (!want_info) return out;
    npy_intp n1 = (npy_intp)n, d6[2] = {(npy_intp)n, 6};
    PyObject *steps = PyArray_SimpleNew(1, &n1, NPY_INT64), *times = PyArray_SimpleNew(1, &n1, NPY_FLOAT64);
    PyObject *dims = PyArray_SimpleNew(2, d6, NPY_FLOAT64), *flags = PyArray_SimpleNew(1, &n1, NPY_UINT8);
    if (!steps || !times || !dims || !flags) {
        Py_XDECREF(steps);
        Py_XDECREF(times);
        Py_XDECREF(dims);
        Py_XDECREF(flags);
        PyMem_Free(info);
        Py_DECREF(out);
        return NULL;
    }
    int64_t *sp = PyArray_DATA((PyArrayObject *)steps);
    double *tp = PyArray_DATA((PyArrayObject *)times), *dp = PyArray_DATA((PyArrayObject *)dims);
    uint8_t *fp = PyArray_DATA((PyArrayObject *)flags);
    for (Py_ssize_t j = 0; j < n; j++) {
        sp[j] = info[j].step;
        tp[j] = info[j].time;
        memcpy(dp + 6 * j, info[j].dimensions, sizeof info[j].dimensions);
        unsigned m = info[j].has_time ? ZT_FRAME_HAS_TIME : 0;
        for (int k = 0; k < ZT_N_ELEMENTS; k++)
            if (info[j].has[k]) m |= 1u << k;
        fp[j] = (uint8_t)m;
    }
    PyMem_Free(info);
    return Py_BuildValue("(NNNNN)", out, steps, times, dims, flags);
}

/* timeseries(el, start, stop, stride, indices=None, atom_start=0, atom_stop=-1, out=None)
 *   -> float32 (n_frames, n_sel, 3) in one C call. */
static PyObject *Reader_timeseries(ReaderObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"element", "start", "stop", "stride", "indices", "atom_start", "atom_stop", "out", NULL};
    PyObject *elo, *ido = Py_None, *outo = Py_None;
    long long start, stop, stride, a0 = 0, a1 = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OLLL|OLLO:timeseries", kwlist, &elo, &start, &stop, &stride, &ido, &a0,
                                     &a1, &outo))
        return NULL;
    zt_element_t el;
    if (zt_py_element(elo, &el) < 0) return NULL;
    READER_OPEN_OR_RAISE(self);
    if (stride <= 0) {
        PyErr_SetString(PyExc_ValueError, "stride must be positive");
        return NULL;
    }
    Py_buffer ib, ob;
    if (zt_py_buffer(ido, 'q', -1, 0, &ib, "indices") < 0) return NULL;
    zt_atomsel_t sel = {NULL, 0, 0, 0};
    Py_ssize_t nsel;
    if (ib.obj) {
        sel.indices = ib.buf;
        sel.n = (size_t)(ib.len / 8);
        nsel = (Py_ssize_t)sel.n;
    } else {
        if (a1 < 0) a1 = self->n_atoms;
        sel.start = a0;
        sel.stop = a1;
        nsel = a1 > a0 ? (Py_ssize_t)(a1 - a0) : 0;
    }
    int64_t nf = zt_frame_range_count(start, stop, stride);
    PyObject *out;
    if (outo == Py_None) {
        npy_intp dims[3] = {(npy_intp)nf, nsel, 3};
        out = PyArray_SimpleNew(3, dims, NPY_FLOAT32);
        if (!out) {
            zt_py_release(&ib);
            return NULL;
        }
    } else {
        Py_INCREF(outo);
        out = outo;
    }
    if (zt_py_buffer(out, 'f', (Py_ssize_t)nf * nsel * 3, 1, &ob, "out") < 0) {
        zt_py_release(&ib);
        Py_DECREF(out);
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    rc = self->r ? zt_reader_timeseries(self->r, el, start, stop, stride, &sel, ob.buf) : ZT_PY_CLOSED;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    zt_py_release(&ib);
    zt_py_release(&ob);
    if (rc) {
        Py_DECREF(out);
        return zt_raise(rc);
    }
    return out;
}

static PyObject *zt_py_data_info(const zt_data_info_t *in) {
    PyObject *shape = zt_py_i64_tuple(in->shape, in->ndim);
    if (!shape) return NULL;
    return Py_BuildValue("{s:s,s:s,s:s,s:O,s:L,s:N,s:L,s:s,s:N,s:O}", "name", in->name, "path", in->path, "kind",
                         in->kind == ZT_DATA_OBSERVABLE ? "observable" : "particle", "time_dependent",
                         in->time_dependent ? Py_True : Py_False, "n_samples", (long long)in->n_samples, "shape",
                         shape, "sample_size", (long long)in->sample_size, "dtype", in->dtype ? in->dtype : "<f8",
                         "unit", zt_py_str_or_none(in->unit), "has_time", in->has_time ? Py_True : Py_False);
}

static PyObject *Reader_data_info(ReaderObject *self, PyObject *Py_UNUSED(a)) {
    READER_OPEN_OR_RAISE(self);
    zt_py_lock(self->lock);
    PyObject *res = PyList_New(0);
    size_t n = self->r ? zt_reader_n_data(self->r) : 0;
    for (size_t i = 0; res && i < n; i++) {
        zt_data_info_t info;
        int rc = zt_reader_data_info(self->r, i, &info);
        PyObject *d = rc ? zt_raise(rc) : zt_py_data_info(&info);
        if (!d || PyList_Append(res, d) < 0) Py_CLEAR(res);
        Py_XDECREF(d);
    }
    PyThread_release_lock(self->lock);
    return res;
}

static int zt_py_data_lookup(ReaderObject *self, Py_ssize_t i, zt_data_info_t *info) {
    zt_py_lock(self->lock);
    size_t nd = self->r ? zt_reader_n_data(self->r) : 0;
    int rc = !self->r ? ZT_PY_CLOSED : (i < 0 || (size_t)i >= nd) ? ZT_ERANGE : zt_reader_data_info(self->r, (size_t)i, info);
    PyThread_release_lock(self->lock);
    if (rc == ZT_ERANGE) {
        PyErr_Format(PyExc_IndexError, "data index %zd out of range", i);
        return -1;
    }
    if (rc) {
        zt_raise(rc);
        return -1;
    }
    return 0;
}

/* read_data(i, frame) -> float64 array of one sample, or None when the entry
 * is not sampled at that frame. */
static PyObject *Reader_read_data(ReaderObject *self, PyObject *args) {
    Py_ssize_t i;
    long long frame;
    if (!PyArg_ParseTuple(args, "nL:read_data", &i, &frame)) return NULL;
    READER_OPEN_OR_RAISE(self);
    zt_data_info_t info;
    if (zt_py_data_lookup(self, i, &info) < 0) return NULL;
    npy_intp dims[8];
    for (int k = 0; k < info.ndim && k < 8; k++) dims[k] = (npy_intp)info.shape[k];
    PyObject *out = PyArray_SimpleNew(info.ndim, dims, NPY_FLOAT64);
    if (!out) return NULL;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    rc = self->r ? zt_reader_read_data(self->r, (size_t)i, (int64_t)frame, PyArray_DATA((PyArrayObject *)out))
                 : ZT_PY_CLOSED;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (rc == ZT_ENODATA) {
        Py_DECREF(out);
        Py_RETURN_NONE;
    }
    if (rc) {
        Py_DECREF(out);
        return zt_raise(rc);
    }
    return out;
}

/* read_data_all(i) -> (values (n_samples, *shape), steps, times) */
static PyObject *Reader_read_data_all(ReaderObject *self, PyObject *args) {
    Py_ssize_t i;
    if (!PyArg_ParseTuple(args, "n:read_data_all", &i)) return NULL;
    READER_OPEN_OR_RAISE(self);
    zt_data_info_t info;
    if (zt_py_data_lookup(self, i, &info) < 0) return NULL;
    npy_intp dims[9];
    dims[0] = (npy_intp)info.n_samples;
    for (int k = 0; k < info.ndim && k < 8; k++) dims[k + 1] = (npy_intp)info.shape[k];
    npy_intp ns = dims[0];
    PyObject *v = PyArray_SimpleNew(info.ndim + 1, dims, NPY_FLOAT64);
    PyObject *s = PyArray_SimpleNew(1, &ns, NPY_INT64);
    PyObject *t = PyArray_SimpleNew(1, &ns, NPY_FLOAT64);
    if (!v || !s || !t) goto fail;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    rc = self->r ? zt_reader_read_data_all(self->r, (size_t)i, PyArray_DATA((PyArrayObject *)v),
                                           PyArray_DATA((PyArrayObject *)s), PyArray_DATA((PyArrayObject *)t))
                 : ZT_PY_CLOSED;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (rc) {
        zt_raise(rc);
        goto fail;
    }
    return Py_BuildValue("(NNN)", v, s, t);
fail:
    Py_XDECREF(v);
    Py_XDECREF(s);
    Py_XDECREF(t);
    return NULL;
}

static PyObject *Reader_stats(ReaderObject *self, PyObject *Py_UNUSED(a)) {
    READER_OPEN_OR_RAISE(self);
    zt_stats_t st;
    zt_py_lock(self->lock);
    zt_reader_stats(self->r, &st);
    PyThread_release_lock(self->lock);
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K}", "requests", (unsigned long long)st.requests, "bytes_fetched",
                         (unsigned long long)st.bytes_fetched, "chunks_decoded", (unsigned long long)st.chunks_decoded,
                         "cache_hits", (unsigned long long)st.cache_hits, "cache_misses",
                         (unsigned long long)st.cache_misses);
}

static PyObject *Reader_repr(ReaderObject *self) {
    if (!self->url) return PyUnicode_FromString("<zarrtraj._core.Reader (uninitialised)>");
    return PyUnicode_FromFormat("<zarrtraj._core.Reader %R: %lld frames, %lld atoms%s>", self->url,
                                (long long)self->n_frames, (long long)self->n_atoms, self->r ? "" : " (closed)");
}

static PyMethodDef Reader_methods[] = {
    {"close", (PyCFunction)Reader_close, METH_NOARGS, "Close the trajectory (idempotent)."},
    {"__enter__", (PyCFunction)Reader_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Reader_exit, METH_VARARGS, NULL},
    {"__reduce__", (PyCFunction)Reader_reduce, METH_NOARGS, "Pickle by reopening the same URL with the same options."},
    {"has", (PyCFunction)Reader_has, METH_O, "has(element) -> whether the element exists in the group."},
    {"has_time", (PyCFunction)Reader_has_time, METH_O, "has_time(element) -> whether the element stores time."},
    {"n_samples", (PyCFunction)Reader_n_samples, METH_O, "n_samples(element) -> number of samples."},
    {"unit", (PyCFunction)Reader_unit, METH_O, "unit(element) -> native unit string or None."},
    {"array_info", (PyCFunction)Reader_array_info, METH_O,
     "array_info(element) -> dict(path, dtype, shape, chunks, codecs, unit) or None when absent."},
    {"steps", (PyCFunction)Reader_steps, METH_NOARGS, "steps() -> (int64 steps, float64 times) of every frame."},
    {"frame_flags", (PyCFunction)Reader_frame_flags, METH_NOARGS,
     "frame_flags() -> uint8 per frame: bit k = element k sampled, bit 4 = has time."},
    {"set_frame_data", (PyCFunction)Reader_set_frame_data, METH_O,
     "set_frame_data(indices) -> doubles needed: data entries read by every read_frame."},
    {"read_frame", (PyCFunction)(void (*)(void))Reader_read_frame, METH_VARARGS | METH_KEYWORDS,
     "read_frame(i, pos=None, vel=None, force=None, data=None) -> (step, time, has_mask, dimensions, present)"},
    {"read_frames", (PyCFunction)(void (*)(void))Reader_read_frames, METH_VARARGS | METH_KEYWORDS,
     "read_frames(element, frames, out=None, info=False) -> float32 (n, n_atoms, 3); info=True: (out, steps, times, dimensions, flags)"},
    {"timeseries", (PyCFunction)(void (*)(void))Reader_timeseries, METH_VARARGS | METH_KEYWORDS,
     "timeseries(element, start, stop, stride, indices=None, atom_start=0, atom_stop=-1, out=None)\n"
     "-> float32 (n_frames, n_sel, 3); frames without the element are NaN."},
    {"data_info", (PyCFunction)Reader_data_info, METH_NOARGS, "data_info() -> list of dicts (observables, particle data)."},
    {"read_data", (PyCFunction)Reader_read_data, METH_VARARGS, "read_data(i, frame) -> float64 sample or None."},
    {"read_data_all", (PyCFunction)Reader_read_data_all, METH_VARARGS,
     "read_data_all(i) -> (values, steps, times) of every sample."},
    {"stats", (PyCFunction)Reader_stats, METH_NOARGS, "stats() -> I/O statistics since open."},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Reader_getset[] = {
    {"n_frames", (getter)Reader_get_n_frames, NULL, "number of frames", NULL},
    {"n_atoms", (getter)Reader_get_n_atoms, NULL, "number of atoms", NULL},
    {"closed", (getter)Reader_get_closed, NULL, "whether close() was called", NULL},
    {"url", (getter)Reader_get_url, NULL, "the URL or path opened", NULL},
    {"storage_options", (getter)Reader_get_storage, NULL, "storage options as (key, value) pairs", NULL},
    {"format", (getter)Reader_get_format, NULL, "'zarrmd' or 'h5md'", NULL},
    {"group", (getter)Reader_get_group, NULL, "the particle group read", NULL},
    {"groups", (getter)Reader_get_groups, NULL, "every particle group of the file", NULL},
    {"time_unit", (getter)Reader_get_time_unit, NULL, "native time unit or None", NULL},
    {"box_kind", (getter)Reader_get_box_kind, NULL, "'triclinic', 'orthorhombic' or 'none'", NULL},
    {"boundary", (getter)Reader_get_boundary, NULL, "box boundary per dimension", NULL},
    {"box_time_dependent", (getter)Reader_get_box_time_dependent, NULL, "whether the box changes", NULL},
    {"h5md_version", (getter)Reader_get_h5md_version, NULL, "(major, minor)", NULL},
    {"attrs", (getter)Reader_get_attrs, NULL, "author, author_email, creator, creator_version", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "zarrtraj._core.Reader",
    .tp_basicsize = sizeof(ReaderObject),
    .tp_dealloc = (destructor)Reader_dealloc,
    .tp_repr = (reprfunc)Reader_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Reader(url, group=None, cache_bytes=100 MiB, storage_options=None, convert_units=False,\n"
              "       readahead_bytes=64 MiB, threads=0)\n\n"
              "An open H5MD or zarrmd trajectory (local path or URL). Low level: the MDAnalysis\n"
              "reader zarrtraj.ZARRH5MDReader is built on it.",
    .tp_methods = Reader_methods,
    .tp_getset = Reader_getset,
    .tp_init = (initproc)Reader_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------------ */
/* Writer                                                                    */
/* ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    zt_writer_t *w;
    PyThread_type_lock lock;
    int64_t n_atoms;
    int closed_rc;
} WriterObject;

static int Writer_close_handle(WriterObject *self) {
    if (!self->w) return 0;
    zt_writer_t *w = self->w;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    self->w = NULL;
    rc = zt_writer_close(w);
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    return rc;
}

static void Writer_dealloc(WriterObject *self) {
    if (self->lock) {
        Writer_close_handle(self);
        PyThread_free_lock(self->lock);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int zt_py_optstr(PyObject *o, const char **out, const char *what) {
    *out = NULL;
    if (!o || o == Py_None) return 0;
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str or None", what);
        return -1;
    }
    *out = PyUnicode_AsUTF8(o);
    return *out ? 0 : -1;
}

static int Writer_init(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"url", "n_atoms", "n_frames", "precision", "compressor", "chunk_bytes", "group",
                             "length_unit", "time_unit", "velocity_unit", "force_unit", "author", "author_email",
                             "creator", "creator_version", "storage_options", "overwrite", "boundary",
                             "zarr_format", "shard_bytes", "inner_frames", "preset", "quantum", NULL};
    const char *url, *preset = NULL, *quantum = NULL;
    long long n_atoms, n_frames = 0, inner_frames = 0;
    int precision = -1, overwrite = 0, zarr_format = 0;
    Py_ssize_t chunk_bytes = 0, shard_bytes = 0;
    PyObject *so[12] = {Py_None, Py_None, Py_None, Py_None, Py_None, Py_None,
                        Py_None, Py_None, Py_None, Py_None, Py_None, Py_None};
    /* so: compressor, group, length, time, velocity, force, author, email, creator, creator_version, storage, boundary */
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sL|LiOnOOOOOOOOOOpOinLzz:Writer", kwlist, &url, &n_atoms, &n_frames,
                                     &precision, &so[0], &chunk_bytes, &so[1], &so[2], &so[3], &so[4], &so[5], &so[6],
                                     &so[7], &so[8], &so[9], &so[10], &overwrite, &so[11], &zarr_format,
                                     &shard_bytes, &inner_frames, &preset, &quantum))
        return -1;
    if (self->w) {
        PyErr_SetString(PyExc_RuntimeError, "Writer already initialised");
        return -1;
    }
    if (chunk_bytes < 0 || shard_bytes < 0 || inner_frames < 0) {
        PyErr_SetString(PyExc_ValueError, "chunk_bytes, shard_bytes and inner_frames must be >= 0");
        return -1;
    }
    if (!self->lock && !(self->lock = PyThread_allocate_lock())) {
        PyErr_NoMemory();
        return -1;
    }
    zt_writer_opts_t o = ZT_WRITER_OPTS_DEFAULTS;
    o.n_frames = n_frames;
    o.precision = precision;
    if (chunk_bytes) o.chunk_bytes = (size_t)chunk_bytes;
    o.overwrite = overwrite;
    const char **dst[11] = {&o.compressor, &o.group, &o.length_unit, &o.time_unit, &o.velocity_unit, &o.force_unit,
                            &o.author, &o.author_email, &o.creator, &o.creator_version, &o.boundary};
    const char *what[11] = {"compressor", "group", "length_unit", "time_unit", "velocity_unit", "force_unit",
                            "author", "author_email", "creator", "creator_version", "boundary"};
    for (int k = 0; k < 11; k++)
        if (zt_py_optstr(so[k < 10 ? k : 11], dst[k], what[k]) < 0) return -1;
    zt_options_t *st = NULL;
    if (zt_py_options(so[10], &st) < 0) return -1;
    o.storage = st;
    zt_options_t *set = NULL; /* settings beyond zt_writer_opts_t */
    int rc = 0;
    if ((preset || quantum || zarr_format || shard_bytes || inner_frames) && !(rc = zt_options_create(&set))) {
        if (preset) rc = zt_options_set(set, "preset", preset);
        if (!rc && quantum) rc = zt_options_set(set, "quantum", quantum);
        long long iv[3] = {zarr_format, (long long)shard_bytes, inner_frames};
        const char *ik[3] = {"zarr_format", "shard_bytes", "inner_frames"};
        for (int k = 0; k < 3 && !rc; k++)
            if (iv[k]) {
                char num[32];
                snprintf(num, sizeof num, "%lld", iv[k]);
                rc = zt_options_set(set, ik[k], num);
            }
    }
    zt_writer_t *w = NULL;
    if (!rc) {
        Py_BEGIN_ALLOW_THREADS
        rc = zt_writer_create_ex(url, n_atoms, &o, set, &w);
        Py_END_ALLOW_THREADS
    }
    zt_options_free(set);
    zt_options_free(st);
    if (rc) {
        zt_raise(rc);
        return -1;
    }
    self->w = w;
    self->n_atoms = n_atoms;
    return 0;
}

/* write_frame(step, time=nan, position=None, velocity=None, force=None, box=None, observables=None)
 * position/velocity/force: float32 (n_atoms*3); box: float64 (9, rows = box vectors);
 * observables: sequence of (name, float64 array). */
static PyObject *Writer_write_frame(WriterObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"step", "time", "position", "velocity", "force", "box", "observables", NULL};
    long long step;
    double time = NAN;
    PyObject *po = Py_None, *vo = Py_None, *fo = Py_None, *bo = Py_None, *oo = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "L|dOOOOO:write_frame", kwlist, &step, &time, &po, &vo, &fo, &bo, &oo))
        return NULL;
    if (!self->w) return zt_raise(ZT_PY_CLOSED);
    Py_buffer b[4];
    PyObject *objs[3] = {po, vo, fo};
    const char *names[3] = {"position", "velocity", "force"};
    memset(b, 0, sizeof b);
    PyObject *seq = NULL, *res = NULL;
    Py_buffer *ob = NULL;
    zt_obs_t *obs = NULL;
    Py_ssize_t nobs = 0, got = 0;
    int nb = 0;
    for (; nb < 3; nb++)
        if (zt_py_buffer(objs[nb], 'f', (Py_ssize_t)self->n_atoms * 3, 0, &b[nb], names[nb]) < 0) goto out;
    if (zt_py_buffer(bo, 'd', 9, 0, &b[3], "box") < 0) goto out;
    nb = 4;
    if (oo != Py_None) {
        if (!(seq = PySequence_Fast(oo, "observables: expected a sequence of (name, float64 array)"))) goto out;
        nobs = PySequence_Fast_GET_SIZE(seq);
        ob = PyMem_Calloc((size_t)(nobs ? nobs : 1), sizeof *ob);
        obs = PyMem_Calloc((size_t)(nobs ? nobs : 1), sizeof *obs);
        if (!ob || !obs) {
            PyErr_NoMemory();
            goto out;
        }
        for (; got < nobs; got++) {
            PyObject *it = PySequence_Fast_GET_ITEM(seq, got);
            if (!PyTuple_Check(it) || PyTuple_GET_SIZE(it) != 2 || !PyUnicode_Check(PyTuple_GET_ITEM(it, 0))) {
                PyErr_SetString(PyExc_TypeError, "observables: expected (str, float64 array) pairs");
                goto out;
            }
            obs[got].name = PyUnicode_AsUTF8(PyTuple_GET_ITEM(it, 0));
            if (!obs[got].name) goto out;
            if (zt_py_buffer(PyTuple_GET_ITEM(it, 1), 'd', -1, 0, &ob[got], obs[got].name) < 0) goto out;
            obs[got].values = ob[got].buf;
            obs[got].n = (size_t)(ob[got].len / 8);
        }
    }
    zt_wframe_t f;
    memset(&f, 0, sizeof f);
    f.step = step;
    f.time = time;
    f.position = b[0].buf;
    f.velocity = b[1].buf;
    f.force = b[2].buf;
    f.box = b[3].buf;
    f.obs = obs;
    f.n_obs = (size_t)nobs;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    rc = self->w ? zt_writer_write_frame(self->w, &f) : ZT_PY_CLOSED;
    PyThread_release_lock(self->lock);
    Py_END_ALLOW_THREADS
    if (rc) zt_raise(rc);
    else {
        Py_INCREF(Py_None);
        res = Py_None;
    }
out:
    for (int k = 0; k < nb && k < 4; k++) zt_py_release(&b[k]);
    for (Py_ssize_t k = 0; ob && k < got; k++) zt_py_release(&ob[k]);
    PyMem_Free(ob);
    PyMem_Free(obs);
    Py_XDECREF(seq);
    return res;
}

static PyObject *Writer_close(WriterObject *self, PyObject *Py_UNUSED(a)) {
    int rc = Writer_close_handle(self);
    if (rc) return zt_raise(rc);
    Py_RETURN_NONE;
}

static PyObject *Writer_enter(WriterObject *self, PyObject *Py_UNUSED(a)) {
    if (!self->w) return zt_raise(ZT_PY_CLOSED);
    Py_INCREF(self);
    return (PyObject *)self;
}

static PyObject *Writer_exit(WriterObject *self, PyObject *args) {
    int rc = Writer_close_handle(self);
    PyObject *et = PyTuple_Size(args) > 0 ? PyTuple_GetItem(args, 0) : Py_None;
    if (rc && et == Py_None) return zt_raise(rc);
    Py_RETURN_FALSE;
}

static PyObject *Writer_get_n_frames(WriterObject *self, void *c) {
    if (!self->w) return zt_raise(ZT_PY_CLOSED);
    return PyLong_FromLongLong(zt_writer_n_frames(self->w));
}
static PyObject *Writer_get_closed(WriterObject *self, void *c) { return PyBool_FromLong(self->w == NULL); }
static PyObject *Writer_get_n_atoms(WriterObject *self, void *c) { return PyLong_FromLongLong(self->n_atoms); }

static PyMethodDef Writer_methods[] = {
    {"write_frame", (PyCFunction)(void (*)(void))Writer_write_frame, METH_VARARGS | METH_KEYWORDS,
     "write_frame(step, time=nan, position=None, velocity=None, force=None, box=None, observables=None)"},
    {"close", (PyCFunction)Writer_close, METH_NOARGS, "Flush, finalise metadata and close (idempotent)."},
    {"__enter__", (PyCFunction)Writer_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)Writer_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Writer_getset[] = {
    {"n_frames", (getter)Writer_get_n_frames, NULL, "frames written so far", NULL},
    {"n_atoms", (getter)Writer_get_n_atoms, NULL, "atoms per frame", NULL},
    {"closed", (getter)Writer_get_closed, NULL, "whether close() was called", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject WriterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "zarrtraj._core.Writer",
    .tp_basicsize = sizeof(WriterObject),
    .tp_dealloc = (destructor)Writer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Writer(url, n_atoms, n_frames=0, precision=-1, compressor=None, chunk_bytes=0, group=None,\n"
              "       length_unit=None, time_unit=None, velocity_unit=None, force_unit=None, author=None,\n"
              "       author_email=None, creator=None, creator_version=None, storage_options=None,\n"
              "       overwrite=False, boundary=None, zarr_format=0, shard_bytes=0, inner_frames=0)\n\n"
              "zarr_format 3: Zarr v3 zarrmd with sharded values (0 = 2).\n"
              "Low-level zarrmd (or .h5md) trajectory writer; values are written as given.",
    .tp_methods = Writer_methods,
    .tp_getset = Writer_getset,
    .tp_init = (initproc)Writer_init,
    .tp_new = PyType_GenericNew,
};

/* ------------------------------------------------------------------------ */
/* Module functions                                                          */
/* ------------------------------------------------------------------------ */

static PyObject *mod_version(PyObject *m, PyObject *Py_UNUSED(a)) { return PyUnicode_FromString(zt_version()); }

static PyObject *mod_unit_factor(PyObject *m, PyObject *args) {
    const char *kind, *unit;
    if (!PyArg_ParseTuple(args, "ss:unit_factor", &kind, &unit)) return NULL;
    zt_unit_kind_t k;
    if (!strcmp(kind, "length")) k = ZT_UNIT_LENGTH;
    else if (!strcmp(kind, "time")) k = ZT_UNIT_TIME;
    else if (!strcmp(kind, "velocity")) k = ZT_UNIT_VELOCITY;
    else if (!strcmp(kind, "force")) k = ZT_UNIT_FORCE;
    else {
        PyErr_Format(PyExc_ValueError, "unit kind must be length, time, velocity or force, not '%s'", kind);
        return NULL;
    }
    double f = 1.0;
    int rc = zt_unit_factor(k, unit, &f);
    if (rc) return zt_raise(rc);
    return PyFloat_FromDouble(f);
}

static PyObject *mod_codec_spec_to_json(PyObject *m, PyObject *args) {
    const char *spec;
    if (!PyArg_ParseTuple(args, "s:codec_spec_to_json", &spec)) return NULL;
    char *json = NULL;
    int rc = zt_codec_spec_to_json(spec, &json);
    if (rc) return zt_raise(rc);
    PyObject *res = PyUnicode_FromString(json);
    free(json);
    return res;
}

/* A list of the n strings, each converted by conv; frees them (zt_free_strings). */
static PyObject *zt_py_take_strings(char **s, size_t n, PyObject *(*conv)(const char *)) {
    PyObject *res = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; res && i < n; i++) {
        PyObject *x = conv(s[i]);
        if (!x) {
            Py_CLEAR(res);
            break;
        }
        PyList_SET_ITEM(res, (Py_ssize_t)i, x);
    }
    zt_free_strings(s, n);
    return res;
}

static PyObject *mod_list_groups(PyObject *m, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"url", "storage_options", NULL};
    const char *url;
    PyObject *so = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|O:list_groups", kwlist, &url, &so)) return NULL;
    zt_options_t *o = NULL;
    if (zt_py_options(so, &o) < 0) return NULL;
    char **names = NULL;
    size_t n = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = zt_list_groups(url, o, &names, &n);
    Py_END_ALLOW_THREADS
    zt_options_free(o);
    return rc ? zt_raise(rc) : zt_py_take_strings(names, n, zt_py_str_or_none);
}

static PyObject *mod_glob(PyObject *m, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"pattern", "storage_options", NULL};
    const char *pat;
    PyObject *so = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|O:glob", kwlist, &pat, &so)) return NULL;
    zt_options_t *o = NULL;
    if (zt_py_options(so, &o) < 0) return NULL;
    char **urls = NULL;
    size_t n = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = zt_glob(pat, o, &urls, &n);
    Py_END_ALLOW_THREADS
    zt_options_free(o);
    return rc ? zt_raise(rc) : zt_py_take_strings(urls, n, PyUnicode_DecodeFSDefault);
}

/* convert(src, dst, settings=None, src_storage=None, dst_storage=None,
 * progress=None): zt_convert without the GIL. The progress callback takes
 * the GIL per frame to check for signals (Ctrl-C stops a long conversion)
 * and to call progress(done, total); an exception there cancels and is
 * raised in place of ZT_ECANCELED. */
typedef struct zt_py_conv {
    PyObject *progress;
    int failed; /* a Python exception is pending (saved in exc) */
    PyObject *exc, *tb, *val;
} zt_py_conv;

/* The pending exception kept across the GIL release (3.12 replaced Fetch). */
static void zt_py_save_exc(zt_py_conv *c) {
#if PY_VERSION_HEX >= 0x030C0000
    c->exc = PyErr_GetRaisedException();
#else
    PyErr_Fetch(&c->exc, &c->val, &c->tb);
#endif
}

static void zt_py_restore_exc(zt_py_conv *c) {
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(c->exc);
#else
    PyErr_Restore(c->exc, c->val, c->tb);
#endif
}

static int zt_py_convert_cb(int64_t done, int64_t total, uint64_t bytes, void *data) {
    (void)bytes;
    zt_py_conv *c = data;
    PyGILState_STATE g = PyGILState_Ensure();
    int stop = PyErr_CheckSignals() < 0;
    if (!stop && c->progress) {
        PyObject *r = PyObject_CallFunction(c->progress, "LL", (long long)done, (long long)total);
        stop = r == NULL;
        Py_XDECREF(r);
    }
    if (stop) {
        c->failed = 1;
        zt_py_save_exc(c);
    }
    PyGILState_Release(g);
    return stop;
}

static PyObject *mod_convert(PyObject *m, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"src", "dst", "settings", "src_storage", "dst_storage", "progress", NULL};
    const char *src, *dst;
    PyObject *set = Py_None, *ss = Py_None, *ds = Py_None, *progress = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "ss|OOOO:convert", kwlist, &src, &dst, &set, &ss, &ds, &progress))
        return NULL;
    if (progress != Py_None && !PyCallable_Check(progress)) {
        PyErr_SetString(PyExc_TypeError, "convert: progress must be a callable progress(done, total) or None");
        return NULL;
    }
    zt_options_t *so = NULL, *sso = NULL, *dso = NULL;
    if (zt_py_options(set, &so) < 0 || zt_py_options(ss, &sso) < 0 || zt_py_options(ds, &dso) < 0) {
        zt_options_free(so);
        zt_options_free(sso);
        zt_options_free(dso);
        return NULL;
    }
    zt_py_conv c = {progress == Py_None ? NULL : progress, 0, NULL, NULL, NULL};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = zt_convert(src, dst, so, sso, dso, zt_py_convert_cb, &c);
    Py_END_ALLOW_THREADS
    zt_options_free(so);
    zt_options_free(sso);
    zt_options_free(dso);
    if (c.failed) {
        zt_py_restore_exc(&c);
        return NULL;
    }
    if (rc) return zt_raise(rc);
    Py_RETURN_NONE;
}

static PyObject *mod_strerror(PyObject *m, PyObject *args) {
    int code;
    if (!PyArg_ParseTuple(args, "i:strerror", &code)) return NULL;
    return Py_BuildValue("(ss)", zt_err_name(code), zt_strerror(code));
}

static PyMethodDef module_methods[] = {
    {"version", mod_version, METH_NOARGS, "Version of the linked libzarrtraj."},
    {"unit_factor", mod_unit_factor, METH_VARARGS,
     "unit_factor(kind, unit) -> factor converting `unit` to MDAnalysis' base unit of `kind`."},
    {"codec_spec_to_json", mod_codec_spec_to_json, METH_VARARGS,
     "codec_spec_to_json(spec) -> numcodecs JSON config of a compressor spec."},
    {"list_groups", (PyCFunction)(void (*)(void))mod_list_groups, METH_VARARGS | METH_KEYWORDS,
     "list_groups(url, storage_options=None) -> particle group names."},
    {"glob", (PyCFunction)(void (*)(void))mod_glob, METH_VARARGS | METH_KEYWORDS,
     "glob(pattern, storage_options=None) -> sorted URLs matching pattern on its store (zt_glob)."},
    {"convert", (PyCFunction)(void (*)(void))mod_convert, METH_VARARGS | METH_KEYWORDS,
     "convert(src, dst, settings=None, src_storage=None, dst_storage=None, progress=None): zt_convert."},
    {"strerror", mod_strerror, METH_VARARGS, "strerror(code) -> (name, description)."},
    {NULL, NULL, 0, NULL}};

/* Multi-phase initialisation (PEP 489). The exception classes and the two
 * types are process-wide statics, so the module declares that it does not
 * support several interpreters with their own GIL (PEP 684), and that it needs
 * the GIL (PEP 703): Reader/Writer calls are serialised per object by their
 * locks, but argument handling borrows references from lists and dicts the
 * caller may mutate, which is only safe under the GIL. On a free-threaded
 * build CPython re-enables the GIL when the module is imported (with a
 * RuntimeWarning), so results stay correct. */
static int core_exec(PyObject *m) {
    if (PyType_Ready(&ReaderType) < 0 || PyType_Ready(&WriterType) < 0) return -1;
    if (zt_exc_init(m) < 0 || PyModule_AddObjectRef(m, "Reader", (PyObject *)&ReaderType) < 0 ||
        PyModule_AddObjectRef(m, "Writer", (PyObject *)&WriterType) < 0 ||
        PyModule_AddIntConstant(m, "FRAME_HAS_TIME", ZT_FRAME_HAS_TIME) < 0 ||
        PyModule_AddIntConstant(m, "POSITION", ZT_POSITION) < 0 ||
        PyModule_AddIntConstant(m, "VELOCITY", ZT_VELOCITY) < 0 || PyModule_AddIntConstant(m, "FORCE", ZT_FORCE) < 0 ||
        PyModule_AddIntConstant(m, "BOX", ZT_BOX) < 0 ||
        PyModule_AddStringConstant(m, "LIB_VERSION", ZT_VERSION_STRING) < 0 ||
        PyModule_AddIntConstant(m, "FREE_THREADING_SAFE", 0) < 0)
        return -1;
    return 0;
}

static PyModuleDef_Slot core_slots[] = {
    {Py_mod_exec, (void *)core_exec},
#if PY_VERSION_HEX >= 0x030C0000
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
#endif
#if PY_VERSION_HEX >= 0x030D0000
    {Py_mod_gil, Py_MOD_GIL_USED},
#endif
    {0, NULL}};

static struct PyModuleDef core_module = {PyModuleDef_HEAD_INIT, "zarrtraj._core",
                                         "CPython binding of libzarrtraj (see zarrtraj for the MDAnalysis API).", 0,
                                         module_methods, core_slots, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__core(void) {
    import_array(); /* NumPy's C API table is process-wide too: import it once, here */
    return PyModuleDef_Init(&core_module);
}
