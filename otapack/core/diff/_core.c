/*
 * otapack.core.diff._core: the diff core of otapack (suffix array + scan).
 *
 * diff(old, new) -> (ctrl, diff, extra)
 *
 *   ctrl  list of (add, copy, seek) tuples, see otapack/core/formats/delta.py
 *   diff  add bytes, new - old (mod 256), concatenated
 *   extra copy bytes, verbatim, concatenated
 *
 * The suffix array of ``old`` is built with SA-IS (induced sorting, linear
 * time, 32-bit indices, so inputs up to 2 GiB - 1).  The scan walks ``new``
 * in the manner of bsdiff: it looks for the longest match of the current
 * position in ``old``, keeps the current alignment while it still explains
 * the bytes about as well, and when a better alignment appears it closes the
 * previous one with an approximate forward extension, an approximate
 * backward extension of the new one and a split of their overlap.  Every
 * read of ``old`` is bounds-checked: nothing outside [0, len(old)) is read,
 * and every control tuple keeps old_pos inside [0, len(old)].
 *
 * Differences from plain bsdiff (each measured on the firmware corpus):
 *   - among equally long matches the one closest to the current alignment
 *     is preferred (cheaper seeks, more zero diff bytes);
 *   - a new alignment must gain more than a tuple costs: ``min_gain`` plus
 *     ``seek_weight`` per varint byte of the seek it needs (bsdiff: a flat
 *     8); defaults 2 and 2;
 *   - the approximate extensions keep going while at least ``ext_pct`` % of
 *     their bytes are equal (bsdiff: 50; default 40);
 *   - a new image over LARGE_INPUT bytes (the builder tries only the
 *     default there, no other settings) gets defaults of its own: min_gain
 *     0, ext_pct 45, seek_weight 8.  In a large image that changed a lot,
 *     short far-away matches are mostly chance hits in unrelated code, and
 *     each costs a tuple with a high-entropy seek plus noisy diff bytes
 *     where the same bytes as extra compress better; a heavy seek weight
 *     leaves them out while near seeks (code shifted by an edit) stay
 *     cheap.  Measured: libpython 3.6.6->3.7.2 (3.5 MB) 7.8 % smaller,
 *     3.7.2->3.7.3 0.2 % smaller; the small images lose with these
 *     (coldcard 4.0.1->4.0.2 +25 %), hence the split;
 *   - adjacent tuples are merged where that is lossless.
 *
 * All heavy work runs without the GIL.  The output only depends on the
 * inputs (no hashing of pointers, no randomness): deterministic.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* SA-IS suffix array construction                                     */
/* ------------------------------------------------------------------ */

/* Type bits: 1 = S-type, 0 = L-type. */
#define TBIT(t, i) (((t)[(size_t)(i) >> 3] >> ((i) & 7)) & 1)
#define TSET(t, i) ((t)[(size_t)(i) >> 3] |= (uint8_t)(1u << ((i) & 7)))

typedef struct {
    const void *s;
    int width; /* 1: uint8_t symbols, 4: int32_t symbols */
} symstr;

static inline int32_t
sym(const symstr *T, int32_t i)
{
    return T->width == 1 ? (int32_t)((const uint8_t *)T->s)[i]
                         : ((const int32_t *)T->s)[i];
}

static inline int
is_lms(const uint8_t *t, int32_t i)
{
    return i > 0 && TBIT(t, i) && !TBIT(t, i - 1);
}

static void
bucket_bounds(const symstr *T, int32_t n, int32_t k, int32_t *bkt, int ends)
{
    int32_t i, sum = 0;
    memset(bkt, 0, sizeof(int32_t) * (size_t)k);
    for (i = 0; i < n; i++)
        bkt[sym(T, i)]++;
    for (i = 0; i < k; i++) {
        int32_t c = bkt[i];
        sum += c;
        bkt[i] = ends ? sum : sum - c;
    }
}

/* Induce L-type suffixes left to right, then S-type right to left.  The
 * virtual sentinel (at index n, smaller than everything) is first in the
 * suffix order; its predecessor n-1 is always L-type. */
static void
induce(const symstr *T, const uint8_t *t, int32_t *SA, int32_t n, int32_t k,
       int32_t *bkt)
{
    int32_t i, j;
    bucket_bounds(T, n, k, bkt, 0);
    SA[bkt[sym(T, n - 1)]++] = n - 1;
    for (i = 0; i < n; i++) {
        j = SA[i] - 1;
        if (SA[i] > 0 && !TBIT(t, j))
            SA[bkt[sym(T, j)]++] = j;
    }
    bucket_bounds(T, n, k, bkt, 1);
    for (i = n - 1; i >= 0; i--) {
        j = SA[i] - 1;
        if (SA[i] > 0 && TBIT(t, j))
            SA[--bkt[sym(T, j)]] = j;
    }
}

/* Returns 0 on success, -1 when out of memory. */
static int
sais(const symstr *T, int32_t *SA, int32_t n, int32_t k)
{
    uint8_t *t;
    int32_t *bkt;
    int32_t i, j, n1, names, prev;
    int rc = 0;

    if (n == 0)
        return 0;
    if (n == 1) {
        SA[0] = 0;
        return 0;
    }
    t = (uint8_t *)calloc((size_t)n / 8 + 1, 1);
    bkt = (int32_t *)malloc(sizeof(int32_t) * (size_t)k);
    if (t == NULL || bkt == NULL) {
        free(t);
        free(bkt);
        return -1;
    }
    /* classify: the last symbol is L-type (the sentinel follows it) */
    for (i = n - 2; i >= 0; i--) {
        int32_t a = sym(T, i), b = sym(T, i + 1);
        if (a < b || (a == b && TBIT(t, i + 1)))
            TSET(t, i);
    }

    /* stage 1: sort the LMS substrings */
    bucket_bounds(T, n, k, bkt, 1);
    for (i = 0; i < n; i++)
        SA[i] = -1;
    for (i = n - 1; i >= 1; i--)
        if (is_lms(t, i))
            SA[--bkt[sym(T, i)]] = i;
    induce(T, t, SA, n, k, bkt);

    /* compact the sorted LMS positions into SA[0..n1) */
    n1 = 0;
    for (i = 0; i < n; i++)
        if (is_lms(t, SA[i]))
            SA[n1++] = SA[i];
    for (i = n1; i < n; i++)
        SA[i] = -1;

    /* name the LMS substrings: equal substrings get equal names */
    names = 0;
    prev = -1;
    for (i = 0; i < n1; i++) {
        int32_t p = SA[i], d;
        int differ = 0;
        if (prev < 0) {
            differ = 1;
        } else {
            for (d = 0;; d++) {
                if (p + d == n || prev + d == n ||
                    sym(T, p + d) != sym(T, prev + d) ||
                    TBIT(t, p + d) != TBIT(t, prev + d)) {
                    differ = 1;
                    break;
                }
                if (d > 0 && (is_lms(t, p + d) || is_lms(t, prev + d))) {
                    differ = !(is_lms(t, p + d) && is_lms(t, prev + d));
                    break;
                }
            }
        }
        if (differ) {
            names++;
            prev = p;
        }
        SA[n1 + p / 2] = names - 1;
    }
    /* gather the names, in text order, at the end of SA */
    for (i = n - 1, j = n - 1; i >= n1; i--)
        if (SA[i] >= 0)
            SA[j--] = SA[i];

    /* stage 2: suffix array of the reduced string */
    {
        int32_t *s1 = SA + n - n1;
        int32_t *SA1 = SA;
        if (names < n1) {
            symstr T1;
            T1.s = s1;
            T1.width = 4;
            free(bkt); /* the recursion needs its own, smaller or not */
            bkt = NULL;
            if (sais(&T1, SA1, n1, names) != 0) {
                rc = -1;
                goto done;
            }
            bkt = (int32_t *)malloc(sizeof(int32_t) * (size_t)k);
            if (bkt == NULL) {
                rc = -1;
                goto done;
            }
        } else {
            for (i = 0; i < n1; i++)
                SA1[s1[i]] = i;
        }

        /* stage 3: induce the full order from the sorted LMS suffixes */
        for (i = 1, j = 0; i < n; i++)
            if (is_lms(t, i))
                s1[j++] = i;
        for (i = 0; i < n1; i++)
            SA1[i] = s1[SA1[i]];
        for (i = n1; i < n; i++)
            SA[i] = -1;
        bucket_bounds(T, n, k, bkt, 1);
        for (i = n1 - 1; i >= 0; i--) {
            j = SA[i];
            SA[i] = -1;
            SA[--bkt[sym(T, j)]] = j;
        }
        induce(T, t, SA, n, k, bkt);
    }
done:
    free(t);
    free(bkt);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Matching                                                            */
/* ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *old;
    int64_t olen;
    const uint8_t *new_;
    int64_t nlen;
    const int32_t *SA;
} matcher;

static inline int64_t
common_prefix(const uint8_t *a, int64_t alen, const uint8_t *b, int64_t blen,
              int64_t from)
{
    int64_t m = alen < blen ? alen : blen, i = from;
    while (i < m && a[i] == b[i])
        i++;
    return i;
}

/* Longest match of new[at:] in old.  Among the (up to two) best
 * candidates next to the insertion point, take the longer one; on a tie
 * the one closer to ``hint`` (the old position the current alignment
 * predicts).  Returns the length, the old position in *pos. */
static int64_t
longest_match(const matcher *M, int64_t at, int64_t hint, int64_t *pos)
{
    const uint8_t *p = M->new_ + at;
    int64_t plen = M->nlen - at;
    int64_t l = -1, r = M->olen, lcp_l = 0, lcp_r = 0;

    *pos = 0;
    if (M->olen == 0 || plen == 0)
        return 0;
    while (r - l > 1) {
        int64_t m = l + (r - l) / 2;
        int64_t s = M->SA[m];
        int64_t slen = M->olen - s;
        int64_t k = lcp_l < lcp_r ? lcp_l : lcp_r;
        k = common_prefix(p, plen, M->old + s, slen, k);
        if (k == plen || (k < slen && M->old[s + k] > p[k])) {
            r = m;
            lcp_r = k;
        } else {
            l = m;
            lcp_l = k;
        }
    }
    if (l < 0) {
        *pos = M->SA[r];
        return lcp_r;
    }
    if (r >= M->olen) {
        *pos = M->SA[l];
        return lcp_l;
    }
    if (lcp_l != lcp_r) {
        *pos = lcp_l > lcp_r ? M->SA[l] : M->SA[r];
        return lcp_l > lcp_r ? lcp_l : lcp_r;
    }
    {
        int64_t a = M->SA[l], b = M->SA[r];
        int64_t da = a > hint ? a - hint : hint - a;
        int64_t db = b > hint ? b - hint : hint - b;
        *pos = (db < da || (db == da && b < a)) ? b : a;
        return lcp_l;
    }
}

typedef struct {
    int64_t add, copy, seek;
} ctrl_t;

typedef struct {
    ctrl_t *v;
    size_t n, cap;
} ctrl_vec;

static int
ctrl_push(ctrl_vec *c, int64_t add, int64_t copy, int64_t seek)
{
    if (add == 0 && copy == 0 && c->n > 0) {
        c->v[c->n - 1].seek += seek; /* only a seek: fold it back */
        return 0;
    }
    if (c->n > 0) {
        ctrl_t *last = &c->v[c->n - 1];
        /* (a, c, 0) + (0, c2, s) == (a, c + c2, s) */
        if (last->seek == 0 && add == 0) {
            last->copy += copy;
            last->seek = seek;
            return 0;
        }
        /* (a, 0, 0) + (a2, c2, s) == (a + a2, c2, s) */
        if (last->seek == 0 && last->copy == 0) {
            last->add += add;
            last->copy = copy;
            last->seek = seek;
            return 0;
        }
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        ctrl_t *v = (ctrl_t *)realloc(c->v, cap * sizeof(ctrl_t));
        if (v == NULL)
            return -1;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n].add = add;
    c->v[c->n].copy = copy;
    c->v[c->n].seek = seek;
    c->n++;
    return 0;
}

typedef struct {
    int64_t min_gain;  /* a new alignment must beat the old one by this */
    int64_t ext_pct;   /* extensions keep at least this % of bytes equal */
    int64_t seek_weight; /* extra gain needed per varint byte of the seek */
} scan_params;

/* Bytes of the zigzag varint of a seek of ``delta``. */
static inline int64_t
seek_cost(int64_t delta)
{
    uint64_t z = delta >= 0 ? (uint64_t)delta << 1 : ((uint64_t)(-delta) << 1) - 1;
    int64_t n = 1;
    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

/* The bsdiff-style scan.  diff and extra have room for nlen bytes each. */
static int
scan(const matcher *M, const scan_params *P, ctrl_vec *ctrl, uint8_t *diff,
     int64_t *diff_len, uint8_t *extra, int64_t *extra_len)
{
    const uint8_t *old = M->old, *nw = M->new_;
    const int64_t olen = M->olen, nlen = M->nlen;
    int64_t scanpos = 0, len = 0, pos = 0;
    int64_t lastscan = 0, lastpos = 0, lastoffset = 0;
    int64_t dp = 0, ep = 0;

    while (scanpos < nlen) {
        int64_t oldscore = 0, scsc;

        scanpos += len;
        for (scsc = scanpos; scanpos < nlen; scanpos++) {
            int64_t q;
            len = longest_match(M, scanpos, scanpos + lastoffset, &pos);
            for (; scsc < scanpos + len; scsc++) {
                q = scsc + lastoffset;
                if (q >= 0 && q < olen && old[q] == nw[scsc])
                    oldscore++;
            }
            if (len == oldscore && len != 0)
                break;
            if (len > oldscore + P->min_gain &&
                (P->seek_weight == 0 ||
                 len > oldscore + P->min_gain +
                           P->seek_weight * seek_cost(pos - (scanpos + lastoffset))))
                break;
            q = scanpos + lastoffset;
            if (q >= 0 && q < olen && old[q] == nw[scanpos])
                oldscore--;
        }

        if (len != oldscore || scanpos == nlen) {
            int64_t s, best, i, lenf = 0, lenb = 0;

            /* forward extension of the previous alignment */
            s = 0;
            best = 0;
            for (i = 0; lastscan + i < scanpos && lastpos + i < olen;) {
                if (old[lastpos + i] == nw[lastscan + i])
                    s++;
                i++;
                if (s * 100 - i * P->ext_pct > best * 100 - lenf * P->ext_pct) {
                    best = s;
                    lenf = i;
                }
            }
            /* backward extension of the new alignment */
            if (scanpos < nlen) {
                s = 0;
                best = 0;
                for (i = 1; scanpos >= lastscan + i && pos >= i; i++) {
                    if (old[pos - i] == nw[scanpos - i])
                        s++;
                    if (s * 100 - i * P->ext_pct > best * 100 - lenb * P->ext_pct) {
                        best = s;
                        lenb = i;
                    }
                }
            }
            /* split an overlap where it serves both sides best */
            if (lastscan + lenf > scanpos - lenb) {
                int64_t overlap = (lastscan + lenf) - (scanpos - lenb);
                int64_t lens = 0;
                s = 0;
                best = 0;
                for (i = 0; i < overlap; i++) {
                    if (nw[lastscan + lenf - overlap + i] ==
                        old[lastpos + lenf - overlap + i])
                        s++;
                    if (nw[scanpos - lenb + i] == old[pos - lenb + i])
                        s--;
                    if (s > best) {
                        best = s;
                        lens = i + 1;
                    }
                }
                lenf += lens - overlap;
                lenb -= lens;
            }

            for (i = 0; i < lenf; i++)
                diff[dp + i] = (uint8_t)(nw[lastscan + i] - old[lastpos + i]);
            dp += lenf;
            {
                int64_t copy = (scanpos - lenb) - (lastscan + lenf);
                int64_t seek;
                memcpy(extra + ep, nw + lastscan + lenf, (size_t)copy);
                ep += copy;
                if (scanpos < nlen)
                    seek = (pos - lenb) - (lastpos + lenf);
                else
                    seek = 0;
                if (ctrl_push(ctrl, lenf, copy, seek) != 0)
                    return -1;
            }
            lastscan = scanpos - lenb;
            lastpos = pos - lenb;
            lastoffset = pos - scanpos;
        }
    }
    *diff_len = dp;
    *extra_len = ep;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Python binding                                                      */
/* ------------------------------------------------------------------ */

/* New images above this size get the large-input defaults (see the top). */
#define LARGE_INPUT (1 << 20)
#define UNSET LLONG_MIN

static PyObject *
core_diff(PyObject *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"old", "new", "min_gain", "ext_pct", "seek_weight", NULL};
    Py_buffer ob, nb;
    long long min_gain = UNSET, ext_pct = UNSET, seek_weight = UNSET;
    PyObject *diff_obj = NULL, *extra_obj = NULL, *list = NULL, *result = NULL;
    int32_t *SA = NULL;
    ctrl_vec ctrl = {NULL, 0, 0};
    int64_t dlen = 0, elen = 0;
    int failed = 0;
    size_t i;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*y*|LLL:diff", kwlist, &ob,
                                     &nb, &min_gain, &ext_pct, &seek_weight))
        return NULL;
    if (ob.len > INT32_MAX || nb.len > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError,
                        "diff inputs are limited to 2 GiB - 1 bytes");
        goto out;
    }
    {
        int large = nb.len > LARGE_INPUT;
        if (min_gain == UNSET)
            min_gain = large ? 0 : 2;
        if (ext_pct == UNSET)
            ext_pct = large ? 45 : 40;
        if (seek_weight == UNSET)
            seek_weight = large ? 8 : 2;
    }
    if (min_gain < 0 || ext_pct < 1 || ext_pct > 99 || seek_weight < 0) {
        PyErr_SetString(PyExc_ValueError, "min_gain must be >= 0, ext_pct in 1..99");
        goto out;
    }
    diff_obj = PyBytes_FromStringAndSize(NULL, nb.len);
    extra_obj = PyBytes_FromStringAndSize(NULL, nb.len);
    if (diff_obj == NULL || extra_obj == NULL)
        goto out;
    SA = (int32_t *)malloc(sizeof(int32_t) * (size_t)(ob.len ? ob.len : 1));
    if (SA == NULL) {
        PyErr_NoMemory();
        goto out;
    }

    Py_BEGIN_ALLOW_THREADS
    {
        symstr T;
        matcher M;
        scan_params P;
        T.s = ob.buf;
        T.width = 1;
        if (sais(&T, SA, (int32_t)ob.len, 256) != 0) {
            failed = 1;
        } else {
            M.old = (const uint8_t *)ob.buf;
            M.olen = ob.len;
            M.new_ = (const uint8_t *)nb.buf;
            M.nlen = nb.len;
            M.SA = SA;
            P.min_gain = min_gain;
            P.ext_pct = ext_pct;
            P.seek_weight = seek_weight;
            if (scan(&M, &P, &ctrl, (uint8_t *)PyBytes_AS_STRING(diff_obj),
                     &dlen, (uint8_t *)PyBytes_AS_STRING(extra_obj), &elen) != 0)
                failed = 1;
        }
        free(SA);
        SA = NULL;
    }
    Py_END_ALLOW_THREADS

    if (failed) {
        PyErr_NoMemory();
        goto out;
    }
    if (_PyBytes_Resize(&diff_obj, (Py_ssize_t)dlen) != 0 ||
        _PyBytes_Resize(&extra_obj, (Py_ssize_t)elen) != 0)
        goto out;
    list = PyList_New((Py_ssize_t)ctrl.n);
    if (list == NULL)
        goto out;
    for (i = 0; i < ctrl.n; i++) {
        PyObject *tup = Py_BuildValue("(LLL)", (long long)ctrl.v[i].add,
                                      (long long)ctrl.v[i].copy,
                                      (long long)ctrl.v[i].seek);
        if (tup == NULL)
            goto out;
        PyList_SET_ITEM(list, (Py_ssize_t)i, tup);
    }
    result = PyTuple_Pack(3, list, diff_obj, extra_obj);
out:
    free(SA);
    free(ctrl.v);
    Py_XDECREF(list);
    Py_XDECREF(diff_obj);
    Py_XDECREF(extra_obj);
    PyBuffer_Release(&ob);
    PyBuffer_Release(&nb);
    return result;
}

static PyObject *
core_suffix_array(PyObject *self, PyObject *args)
{
    Py_buffer b;
    int32_t *SA;
    PyObject *list = NULL;
    Py_ssize_t i;
    int rc;

    if (!PyArg_ParseTuple(args, "y*:suffix_array", &b))
        return NULL;
    if (b.len > INT32_MAX) {
        PyBuffer_Release(&b);
        PyErr_SetString(PyExc_OverflowError, "input is limited to 2 GiB - 1 bytes");
        return NULL;
    }
    SA = (int32_t *)malloc(sizeof(int32_t) * (size_t)(b.len ? b.len : 1));
    if (SA == NULL) {
        PyBuffer_Release(&b);
        return PyErr_NoMemory();
    }
    Py_BEGIN_ALLOW_THREADS
    {
        symstr T;
        T.s = b.buf;
        T.width = 1;
        rc = sais(&T, SA, (int32_t)b.len, 256);
    }
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_NoMemory();
        goto out;
    }
    list = PyList_New(b.len);
    if (list == NULL)
        goto out;
    for (i = 0; i < b.len; i++) {
        PyObject *v = PyLong_FromLong((long)SA[i]);
        if (v == NULL) {
            Py_CLEAR(list);
            goto out;
        }
        PyList_SET_ITEM(list, i, v);
    }
out:
    free(SA);
    PyBuffer_Release(&b);
    return list;
}

static PyMethodDef core_methods[] = {
    {"diff", (PyCFunction)(void (*)(void))core_diff, METH_VARARGS | METH_KEYWORDS,
     "diff(old, new, min_gain=, ext_pct=, seek_weight=) -> (ctrl, diff, extra)\n\n"
     "ctrl is a list of (add, copy, seek) tuples; diff holds the add bytes\n"
     "(new - old mod 256), extra the copy bytes.  Settings left out take\n"
     "defaults that depend on len(new) (over 1 MiB: 0, 45, 8; else 2, 40, 2).\n"
     "Deterministic."},
    {"suffix_array", core_suffix_array, METH_VARARGS,
     "suffix_array(data) -> list[int]: the suffix array of data (SA-IS)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "otapack.core.diff._core",
    "C diff core: SA-IS suffix array and bsdiff-style scan.", -1, core_methods,
};

PyMODINIT_FUNC
PyInit__core(void)
{
    return PyModule_Create(&core_module);
}
