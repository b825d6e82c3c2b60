/*
 * otapack.core.diff._core: the CPython module of otapack's diff core.
 *
 *   diff(old, new, min_gain=None, ext_pct=None, seek_weight=None)
 *       -> (ctrl, diff, extra)
 *   Index(old).diff(new, *, min_gain=None, ext_pct=None, seek_weight=None)
 *       the same, with the suffix array of old built once for many scans
 *   suffix_array(data) -> list[int]
 *   zero_runs(data) -> bytes   the zero-run diff coding of data
 *   literalize_dense(ctrl, diff, extra, new, min_length, min_fill)
 *       -> (ctrl, diff, extra) with dense diff stretches as extra bytes
 *
 *   ctrl  list of (add, copy, seek) tuples, see otapack/core/formats/delta.py
 *   diff  add bytes, new - old (mod 256), concatenated
 *   extra copy bytes, verbatim, concatenated
 *
 * Memory safety against the caller.  The heavy work runs without the GIL, so
 * another Python thread may run meanwhile; it must not be able to change or
 * free the memory being read.  A ``bytes`` object is immutable and the call
 * holds a reference to it, so its memory is used in place (no copy).  Any
 * other bytes-like object (bytearray, memoryview, array, mmap, ...) can be
 * resized or written at any moment, so it is copied, with the GIL held, into
 * memory the call owns, and its buffer is released before the GIL is.  An
 * ``Index`` owns (or holds the bytes object of) its old image and never
 * changes after construction: any number of threads may scan it at once.
 *
 * Settings are bounded (diffcore.h): min_gain and seek_weight in
 * 0..2**31-1, ext_pct in 1..99; anything else, or a value that is not an
 * int, raises ValueError or TypeError before any work.  Settings left out
 * (or None) take defaults that depend on len(new):
 *
 *   up to LARGE_INPUT (1 MiB): min_gain 2, ext_pct 40, seek_weight 2;
 *   above:                     min_gain 0, ext_pct 45, seek_weight 8.
 *
 * The builder tries only the default above 1 MiB, no other settings.  In a
 * large image that changed a lot, short far-away matches are mostly chance
 * hits in unrelated code, and each costs a tuple with a high-entropy seek
 * plus noisy diff bytes where the same bytes as extra compress better; a
 * heavy seek weight leaves them out while near seeks (code shifted by an
 * edit) stay cheap.  Measured: libpython 3.6.6->3.7.2 (3.5 MB) 7.8 %
 * smaller, 3.7.2->3.7.3 0.2 % smaller; the small images lose with these
 * (coldcard 4.0.1->4.0.2 +25 %), hence the split.
 *
 * The output only depends on the inputs and settings: deterministic.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "diffcore.h"

/* New images above this size get the large-input defaults (see the top). */
#define LARGE_INPUT (1 << 20)

/* ------------------------------------------------------------------ */
/* Input bytes the call can rely on                                    */
/* ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *data;
    Py_ssize_t len;
    PyObject *bytes; /* the bytes object used in place (a reference), or NULL */
    uint8_t *copy;   /* the owned copy of any other buffer, or NULL */
} stable_input;

/* Fills *in with memory that stays valid and unchanged until
 * stable_input_release, whatever other threads do.  what names the argument
 * in errors.  Returns 0, or -1 with an exception set. */
static int
stable_input_get(PyObject *obj, const char *what, stable_input *in)
{
    Py_buffer view;

    in->data = NULL;
    in->len = 0;
    in->bytes = NULL;
    in->copy = NULL;
    if (PyBytes_Check(obj)) {
        if (PyBytes_GET_SIZE(obj) > DIFFCORE_MAX_INPUT) {
            PyErr_Format(PyExc_OverflowError,
                         "%s is limited to 2 GiB - 1 bytes", what);
            return -1;
        }
        Py_INCREF(obj);
        in->bytes = obj;
        in->data = (const uint8_t *)PyBytes_AS_STRING(obj);
        in->len = PyBytes_GET_SIZE(obj);
        return 0;
    }
    if (PyObject_GetBuffer(obj, &view, PyBUF_FULL_RO) != 0) {
        if (PyErr_ExceptionMatches(PyExc_TypeError)) { /* no buffer at all */
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError, "%s must be a bytes-like object, not %.100s",
                         what, Py_TYPE(obj)->tp_name);
        }
        return -1;
    }
    if (view.len > DIFFCORE_MAX_INPUT) {
        PyBuffer_Release(&view);
        PyErr_Format(PyExc_OverflowError, "%s is limited to 2 GiB - 1 bytes", what);
        return -1;
    }
    /* The copy is taken with the GIL held: no Python thread can change the
     * buffer meanwhile.  (A non-contiguous view is gathered in C order.) */
    in->copy = (uint8_t *)malloc((size_t)(view.len ? view.len : 1));
    if (in->copy == NULL) {
        PyBuffer_Release(&view);
        PyErr_NoMemory();
        return -1;
    }
    if (PyBuffer_ToContiguous(in->copy, &view, view.len, 'C') != 0) {
        PyBuffer_Release(&view);
        free(in->copy);
        in->copy = NULL;
        return -1;
    }
    in->data = in->copy;
    in->len = view.len;
    PyBuffer_Release(&view);
    return 0;
}

static void
stable_input_release(stable_input *in)
{
    Py_CLEAR(in->bytes);
    free(in->copy);
    in->copy = NULL;
    in->data = NULL;
}

/* ------------------------------------------------------------------ */
/* Settings                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    const char *name;
    long long low, high;
    long long small_default, large_default;
} setting_spec;

/* The one table of the matcher settings: keyword order, bounds, defaults. */
static const setting_spec SETTINGS[] = {
    {"min_gain", 0, DIFFCORE_MIN_GAIN_MAX, 2, 0},
    {"ext_pct", DIFFCORE_EXT_PCT_MIN, DIFFCORE_EXT_PCT_MAX, 40, 45},
    {"seek_weight", 0, DIFFCORE_SEEK_WEIGHT_MAX, 2, 8},
};
#define NSETTINGS (sizeof(SETTINGS) / sizeof(SETTINGS[0]))

/* values[i] is the argument for SETTINGS[i] (NULL or None: the default). */
static int
settings_parse(PyObject *const values[NSETTINGS], Py_ssize_t nlen,
               diffcore_settings *out)
{
    long long v[NSETTINGS];
    size_t i;
    for (i = 0; i < NSETTINGS; i++) {
        const setting_spec *spec = &SETTINGS[i];
        PyObject *value = values[i];
        int overflow = 0;
        if (value == NULL || value == Py_None) {
            v[i] = nlen > LARGE_INPUT ? spec->large_default : spec->small_default;
            continue;
        }
        if (!PyLong_Check(value) || PyBool_Check(value)) {
            PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", spec->name,
                         Py_TYPE(value)->tp_name);
            return -1;
        }
        v[i] = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v[i] == -1 && PyErr_Occurred())
            return -1;
        if (overflow || v[i] < spec->low || v[i] > spec->high) {
            PyErr_Format(PyExc_ValueError, "%s must be in %lld..%lld, got %R", spec->name,
                         spec->low, spec->high, value);
            return -1;
        }
    }
    out->min_gain = v[0];
    out->ext_pct = v[1];
    out->seek_weight = v[2];
    return 0;
}

/* ------------------------------------------------------------------ */
/* One scan, as Python objects                                         */
/* ------------------------------------------------------------------ */

/* The scan's tuples, diff and extra bytes as Python objects (ob and nb: the
 * inputs the tuples were scanned from).  Returns (ctrl, diff, extra), or
 * NULL with an exception set. */
static PyObject *
ctrls_to_python(const diffcore_ctrls *ctrl, const stable_input *ob, const stable_input *nb)
{
    PyObject *diff_obj = NULL, *extra_obj = NULL, *list = NULL, *result = NULL;
    int64_t dlen = 0, elen = 0;
    size_t i;

    if (diffcore_ctrls_bytes(ctrl->v, ctrl->n, ob->len, nb->len, &dlen, &elen) != 0) {
        PyErr_SetString(PyExc_SystemError, "otadiff: the scan's tuples leave its inputs");
        return NULL;
    }
    diff_obj = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)dlen);
    extra_obj = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)elen);
    if (diff_obj == NULL || extra_obj == NULL)
        goto out;
    /* diff_obj and extra_obj are not shared yet: safe to fill without the GIL */
    Py_BEGIN_ALLOW_THREADS
    diffcore_fill(ctrl->v, ctrl->n, ob->data, nb->data, (uint8_t *)PyBytes_AS_STRING(diff_obj),
                  (uint8_t *)PyBytes_AS_STRING(extra_obj));
    Py_END_ALLOW_THREADS
    list = PyList_New((Py_ssize_t)ctrl->n);
    if (list == NULL)
        goto out;
    for (i = 0; i < ctrl->n; i++) {
        PyObject *tup = Py_BuildValue("(LLL)", (long long)ctrl->v[i].add,
                                      (long long)ctrl->v[i].copy,
                                      (long long)ctrl->v[i].seek);
        if (tup == NULL)
            goto out;
        PyList_SET_ITEM(list, (Py_ssize_t)i, tup);
    }
    result = PyTuple_Pack(3, list, diff_obj, extra_obj);
out:
    Py_XDECREF(list);
    Py_XDECREF(diff_obj);
    Py_XDECREF(extra_obj);
    return result;
}

/* Scans nb against X (GIL released; both must stay valid: the caller's).
 * Returns 0, or -1 with an exception set. */
static int
scan_ctrls(const diffcore_index *X, const stable_input *nb, const diffcore_settings *S,
           diffcore_ctrls *ctrl)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = diffcore_scan(X, nb->data, nb->len, S, ctrl);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Builds the index of in (GIL released).  Returns 0, or -1 with an
 * exception set. */
static int
build_index(diffcore_index *X, const stable_input *in, int buckets)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = diffcore_index_build(X, in->data, in->len, buckets);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Index                                                               */
/* ------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    stable_input old;
    diffcore_index X;
} IndexObject;

static PyObject *
Index_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"old", "bucket_index", NULL};
    PyObject *old_obj;
    IndexObject *self;
    int buckets = 1;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$p:Index", kwlist, &old_obj, &buckets))
        return NULL;
    self = (IndexObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    if (stable_input_get(old_obj, "old", &self->old) != 0 ||
        build_index(&self->X, &self->old, buckets) != 0) {
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

static void
Index_dealloc(IndexObject *self)
{
    diffcore_index_free(&self->X);
    stable_input_release(&self->old);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Index_diff(IndexObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"new", "min_gain", "ext_pct", "seek_weight", NULL};
    PyObject *new_obj, *values[NSETTINGS] = {NULL, NULL, NULL}, *result = NULL;
    stable_input nb;
    diffcore_settings S;
    diffcore_ctrls ctrl = {NULL, 0, 0};

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|$OOO:diff", kwlist, &new_obj,
                                     &values[0], &values[1], &values[2]))
        return NULL;
    if (stable_input_get(new_obj, "new", &nb) != 0)
        return NULL;
    if (settings_parse(values, nb.len, &S) == 0 && scan_ctrls(&self->X, &nb, &S, &ctrl) == 0)
        result = ctrls_to_python(&ctrl, &self->old, &nb);
    free(ctrl.v);
    stable_input_release(&nb);
    return result;
}

static PyObject *
Index_match(IndexObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"pattern", "hint", NULL};
    PyObject *pattern;
    long long hint = 0;
    stable_input in;
    int64_t length, pos;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|L:match", kwlist, &pattern, &hint))
        return NULL;
    if (stable_input_get(pattern, "pattern", &in) != 0)
        return NULL;
    /* Beyond the ends of old, only the side of the hint decides a tie:
     * clamping keeps every result and the distances far from overflow. */
    if (hint < -1)
        hint = -1;
    if (hint > (long long)self->X.olen)
        hint = (long long)self->X.olen;
    length = diffcore_longest_match(&self->X, in.data, in.len, hint, &pos);
    stable_input_release(&in);
    return Py_BuildValue("(LL)", (long long)length, (long long)pos);
}

static Py_ssize_t
Index_len(IndexObject *self)
{
    return (Py_ssize_t)self->X.olen;
}

static PyObject *
sa_to_list(const int32_t *SA, Py_ssize_t n)
{
    PyObject *list = PyList_New(n);
    Py_ssize_t i;
    if (list == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        PyObject *v = PyLong_FromLong((long)SA[i]);
        if (v == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, v);
    }
    return list;
}

static PyObject *
Index_suffix_array(IndexObject *self, PyObject *Py_UNUSED(ignored))
{
    return sa_to_list(self->X.SA, (Py_ssize_t)self->X.olen);
}

static PyMethodDef Index_methods[] = {
    {"diff", (PyCFunction)(void (*)(void))Index_diff, METH_VARARGS | METH_KEYWORDS,
     "diff(new, *, min_gain=None, ext_pct=None, seek_weight=None) -> (ctrl, diff, extra)\n\n"
     "The same as the module's diff(old, new, ...) for this index's old image,\n"
     "without building its suffix array again.  Releases the GIL; any number of\n"
     "threads may call it at once."},
    {"match", (PyCFunction)(void (*)(void))Index_match, METH_VARARGS | METH_KEYWORDS,
     "match(pattern, hint=0) -> (length, position): the longest match of pattern\n"
     "in the old image, as the scan finds it (among equally long candidates next\n"
     "to the insertion point, the one nearest hint, then the lower position)."},
    {"suffix_array", (PyCFunction)Index_suffix_array, METH_NOARGS,
     "suffix_array() -> list[int]: the suffix array of the old image."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Index_as_sequence = {
    .sq_length = (lenfunc)Index_len,
};

static PyTypeObject IndexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "otapack.core.diff._core.Index",
    .tp_basicsize = sizeof(IndexObject),
    .tp_dealloc = (destructor)Index_dealloc,
    .tp_as_sequence = &Index_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Index(old, *, bucket_index=True): the suffix array (and the bucket\n"
              "tables that start each match search near its answer) of old, built\n"
              "once without the GIL, for any number of diff() scans.  A bytes\n"
              "object is used in place; any other bytes-like object is copied\n"
              "first.  bucket_index=False searches the whole suffix array every\n"
              "time: the same results, slower (for cross-checks).  len(index) is\n"
              "len(old).",
    .tp_methods = Index_methods,
    .tp_new = Index_new,
};

/* ------------------------------------------------------------------ */
/* Module functions                                                    */
/* ------------------------------------------------------------------ */

static PyObject *
core_diff(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"old", "new", "min_gain", "ext_pct", "seek_weight", NULL};
    PyObject *old_obj, *new_obj, *values[NSETTINGS] = {NULL, NULL, NULL};
    PyObject *result = NULL;
    stable_input ob, nb;
    diffcore_settings S;
    diffcore_index X = {NULL, 0, NULL, NULL, NULL, NULL};
    diffcore_ctrls ctrl = {NULL, 0, 0};
    (void)self;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|OOO:diff", kwlist, &old_obj,
                                     &new_obj, &values[0], &values[1], &values[2]))
        return NULL;
    if (stable_input_get(old_obj, "old", &ob) != 0)
        return NULL;
    if (stable_input_get(new_obj, "new", &nb) != 0) {
        stable_input_release(&ob);
        return NULL;
    }
    /* Settings are checked before the suffix array costs anything; the
     * bucket tables only pay off when there is something to search. */
    if (settings_parse(values, nb.len, &S) == 0 && build_index(&X, &ob, nb.len > 0) == 0 &&
        scan_ctrls(&X, &nb, &S, &ctrl) == 0) {
        /* the suffix array goes before the diff and extra bytes take its place */
        diffcore_index_free(&X);
        result = ctrls_to_python(&ctrl, &ob, &nb);
    }
    diffcore_index_free(&X);
    free(ctrl.v);
    stable_input_release(&nb);
    stable_input_release(&ob);
    return result;
}

static PyObject *
core_suffix_array(PyObject *self, PyObject *arg)
{
    stable_input in;
    int32_t *SA;
    PyObject *list = NULL;
    int rc;
    (void)self;

    if (stable_input_get(arg, "data", &in) != 0)
        return NULL;
    SA = (int32_t *)malloc(sizeof(int32_t) * (size_t)(in.len ? in.len : 1));
    if (SA == NULL) {
        stable_input_release(&in);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    rc = diffcore_suffix_array(in.data, SA, (int32_t)in.len);
    Py_END_ALLOW_THREADS
    if (rc != 0)
        PyErr_NoMemory();
    else
        list = sa_to_list(SA, in.len);
    free(SA);
    stable_input_release(&in);
    return list;
}

static PyObject *
core_zero_runs(PyObject *self, PyObject *arg)
{
    stable_input in;
    PyObject *out;
    int64_t used;
    (void)self;

    if (stable_input_get(arg, "data", &in) != 0)
        return NULL;
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)DIFFCORE_ZERO_RUNS_BOUND((int64_t)in.len));
    if (out == NULL) {
        stable_input_release(&in);
        return NULL;
    }
    /* out is not shared with any other thread until it is returned */
    Py_BEGIN_ALLOW_THREADS
    used = diffcore_zero_runs(in.data, (int64_t)in.len, (uint8_t *)PyBytes_AS_STRING(out));
    Py_END_ALLOW_THREADS
    stable_input_release(&in);
    if (_PyBytes_Resize(&out, (Py_ssize_t)used) != 0)
        return NULL;
    return out;
}

/* The tuples of a ctrl sequence into a C array (free it), checked against
 * the lengths of diff, extra and new.  Returns the count, or -1 with an
 * exception set. */
static Py_ssize_t
ctrl_from_python(PyObject *ctrl, Py_ssize_t dlen, Py_ssize_t elen, Py_ssize_t nlen,
                 diffcore_ctrl **out)
{
    PyObject *seq = PySequence_Fast(ctrl, "ctrl must be a sequence of (add, copy, seek)");
    Py_ssize_t n, i;
    long long adds = 0, copies = 0;

    *out = NULL;
    if (seq == NULL)
        return -1;
    n = PySequence_Fast_GET_SIZE(seq);
    *out = (diffcore_ctrl *)malloc(sizeof(diffcore_ctrl) * (size_t)(n ? n : 1));
    if (*out == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (i = 0; i < n; i++) {
        long long v[3];
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyArg_ParseTuple(item, "LLL:ctrl tuple", &v[0], &v[1], &v[2]))
            goto fail;
        /* each bound is at most 2 GiB - 1: the sums cannot overflow */
        if (v[0] < 0 || v[1] < 0 || v[0] > dlen - adds || v[1] > elen - copies ||
            v[0] + v[1] > nlen - adds - copies) {
            PyErr_SetString(PyExc_ValueError, "ctrl tuples do not fit diff, extra and new");
            goto fail;
        }
        adds += v[0];
        copies += v[1];
        (*out)[i].add = v[0];
        (*out)[i].copy = v[1];
        (*out)[i].seek = v[2];
    }
    Py_DECREF(seq);
    return n;
fail:
    Py_DECREF(seq);
    free(*out);
    *out = NULL;
    return -1;
}

static PyObject *
core_literalize_dense(PyObject *self, PyObject *args)
{
    PyObject *ctrl_obj, *objs[3], *ndiff = NULL, *nextra = NULL, *list = NULL, *result = NULL;
    stable_input in[3] = {{NULL, 0, NULL, NULL}, {NULL, 0, NULL, NULL}, {NULL, 0, NULL, NULL}};
    static const char *const names[3] = {"diff", "extra", "new"};
    diffcore_ctrl *ctrl = NULL;
    diffcore_ctrls out = {NULL, 0, 0};
    long long min_length;
    double min_fill;
    int64_t dlen = 0, elen = 0;
    Py_ssize_t n = -1, i;
    int rc, got = 0;
    (void)self;

    if (!PyArg_ParseTuple(args, "OOOOLd:literalize_dense", &ctrl_obj, &objs[0], &objs[1], &objs[2],
                          &min_length, &min_fill))
        return NULL;
    for (got = 0; got < 3; got++)
        if (stable_input_get(objs[got], names[got], &in[got]) != 0)
            goto out;
    n = ctrl_from_python(ctrl_obj, in[0].len, in[1].len, in[2].len, &ctrl);
    if (n < 0)
        goto out;
    ndiff = PyBytes_FromStringAndSize(NULL, in[0].len);
    nextra = PyBytes_FromStringAndSize(NULL, in[0].len + in[1].len);
    if (ndiff == NULL || nextra == NULL)
        goto out;
    /* ndiff and nextra are not shared yet: safe to fill without the GIL */
    Py_BEGIN_ALLOW_THREADS
    rc = diffcore_literalize(ctrl, (size_t)n, in[0].data, in[1].data, in[2].data, min_length, min_fill,
                             &out, (uint8_t *)PyBytes_AS_STRING(ndiff), &dlen,
                             (uint8_t *)PyBytes_AS_STRING(nextra), &elen);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_NoMemory();
        goto out;
    }
    if (_PyBytes_Resize(&ndiff, (Py_ssize_t)dlen) != 0 || _PyBytes_Resize(&nextra, (Py_ssize_t)elen) != 0)
        goto out;
    list = PyList_New((Py_ssize_t)out.n);
    if (list == NULL)
        goto out;
    for (i = 0; i < (Py_ssize_t)out.n; i++) {
        PyObject *tup = Py_BuildValue("(LLL)", (long long)out.v[i].add, (long long)out.v[i].copy,
                                      (long long)out.v[i].seek);
        if (tup == NULL)
            goto out;
        PyList_SET_ITEM(list, i, tup);
    }
    result = PyTuple_Pack(3, list, ndiff, nextra);
out:
    free(ctrl);
    free(out.v);
    Py_XDECREF(list);
    Py_XDECREF(ndiff);
    Py_XDECREF(nextra);
    while (got-- > 0)
        stable_input_release(&in[got]);
    return result;
}

static PyMethodDef core_methods[] = {
    {"diff", (PyCFunction)(void (*)(void))core_diff, METH_VARARGS | METH_KEYWORDS,
     "diff(old, new, min_gain=None, ext_pct=None, seek_weight=None) -> (ctrl, diff, extra)\n\n"
     "ctrl is a list of (add, copy, seek) tuples; diff holds the add bytes\n"
     "(new - old mod 256), extra the copy bytes.  Settings left out (or None)\n"
     "take defaults that depend on len(new) (over LARGE_INPUT: 0, 45, 8; else\n"
     "2, 40, 2); SETTING_RANGES has the bounds.  bytes inputs are used in place,\n"
     "other bytes-like inputs are copied first.  Deterministic."},
    {"suffix_array", core_suffix_array, METH_O,
     "suffix_array(data) -> list[int]: the suffix array of data (SA-IS)."},
    {"literalize_dense", core_literalize_dense, METH_VARARGS,
     "literalize_dense(ctrl, diff, extra, new, min_length, min_fill) -> (ctrl, diff, extra):\n"
     "otapack.core.diff.literalize_dense_diffs's result, byte for byte."},
    {"zero_runs", core_zero_runs, METH_O,
     "zero_runs(data) -> bytes: data in the zero-run diff coding, byte for byte\n"
     "otapack.core.formats.delta.encode_zero_runs(data)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "otapack.core.diff._core",
    .m_doc = "C diff core: SA-IS suffix array, two-byte bucket index and bsdiff-style scan.",
    .m_size = -1,
    .m_methods = core_methods,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    PyObject *m, *ranges;
    size_t i;

    if (PyType_Ready(&IndexType) < 0)
        return NULL;
    m = PyModule_Create(&core_module);
    if (m == NULL)
        return NULL;
    ranges = PyDict_New();
    if (ranges == NULL)
        goto fail;
    for (i = 0; i < NSETTINGS; i++) {
        PyObject *range = Py_BuildValue("(LL)", SETTINGS[i].low, SETTINGS[i].high);
        if (range == NULL || PyDict_SetItemString(ranges, SETTINGS[i].name, range) != 0) {
            Py_XDECREF(range);
            Py_DECREF(ranges);
            goto fail;
        }
        Py_DECREF(range);
    }
    if (PyModule_AddObject(m, "SETTING_RANGES", ranges) != 0) {
        Py_DECREF(ranges);
        goto fail;
    }
    Py_INCREF(&IndexType);
    if (PyModule_AddObject(m, "Index", (PyObject *)&IndexType) != 0) {
        Py_DECREF(&IndexType);
        goto fail;
    }
    if (PyModule_AddIntConstant(m, "LARGE_INPUT", LARGE_INPUT) != 0 ||
        PyModule_AddIntConstant(m, "MAX_INPUT", DIFFCORE_MAX_INPUT) != 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
