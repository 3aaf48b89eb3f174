/*
 * _idmap: a map of uint32 ids to uint32 values, read a whole buffer of ids at
 * a time.
 *
 * A cold whole-host render names ~90k stored stacks of ~20 frames each: 1.8M
 * frame ids, each turned into the index of its display name. A Python dict
 * took ~60 ns an id for that (over 100 ms), and a set of the ids to find the
 * ones not named yet another 40 ms. This open-addressing table does both
 * passes in C, a few ns an id, and holds an entry in 8 bytes instead of a
 * dict's ~100. profiler/query/idmap.py has the same map over a dict, used
 * when this is not built.
 *
 * A stack is a buffer of native-endian uint32 frame ids (array("I") bytes, as
 * stored); `keys` answers each one's values as big-endian uint32, the stack
 * key the engine sorts and merges by, with no Python step per stack.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FREE 0xFFFFFFFFu /* a free slot's key; that key itself is kept apart */

typedef struct {
    uint32_t k, v;
} Slot; /* key and value side by side: one cache line a lookup */

typedef struct {
    Slot *slots;
    size_t mask;  /* slots - 1, slots a power of two */
    size_t len;   /* keys held in slots */
    int has_free; /* the key FREE is held */
    uint32_t free_val;
} Table;

/* Stored ids are a database's sequence numbers, mostly dense and near their
 * neighbours in a stack: the low bits as they are (folded with the high ones)
 * put a dense run of ids in consecutive slots, without collisions and with
 * the locality of the ids themselves. */
static size_t slot_of(const Table *t, uint32_t k) {
    return (size_t)(k ^ (k >> 16)) & t->mask;
}

static int table_init(Table *t, size_t slots) {
    t->slots = malloc(slots * sizeof(Slot));
    if (!t->slots) return -1;
    memset(t->slots, 0xFF, slots * sizeof(Slot));
    t->mask = slots - 1;
    t->len = 0;
    t->has_free = 0;
    return 0;
}

static void table_free(Table *t) {
    free(t->slots);
    t->slots = NULL;
}

/* The value of k, or NULL. */
static const uint32_t *table_get(const Table *t, uint32_t k) {
    if (k == FREE) return t->has_free ? &t->free_val : NULL;
    for (size_t i = slot_of(t, k);; i = (i + 1) & t->mask) {
        if (t->slots[i].k == k) return &t->slots[i].v;
        if (t->slots[i].k == FREE) return NULL;
    }
}

static int table_put(Table *t, uint32_t k, uint32_t v) {
    if (k == FREE) {
        t->has_free = 1;
        t->free_val = v;
        return 0;
    }
    if (2 * (t->len + 1) > t->mask + 1) { /* at most half full */
        Table bigger;
        if (table_init(&bigger, 2 * (t->mask + 1))) return -1;
        for (size_t i = 0; i <= t->mask; i++)
            if (t->slots[i].k != FREE) {
                size_t j = slot_of(&bigger, t->slots[i].k);
                while (bigger.slots[j].k != FREE) j = (j + 1) & bigger.mask;
                bigger.slots[j] = t->slots[i];
            }
        bigger.len = t->len;
        bigger.has_free = t->has_free;
        bigger.free_val = t->free_val;
        table_free(t);
        *t = bigger;
    }
    size_t i = slot_of(t, k);
    while (t->slots[i].k != FREE && t->slots[i].k != k) i = (i + 1) & t->mask;
    if (t->slots[i].k == FREE) t->len++;
    t->slots[i].k = k;
    t->slots[i].v = v;
    return 0;
}

typedef struct {
    PyObject_HEAD
    Table t;
} IdMap;

static int IdMap_init(IdMap *self, PyObject *args, PyObject *kw) {
    if (!PyArg_ParseTuple(args, ":IdMap")) return -1;
    table_free(&self->t);
    if (table_init(&self->t, 1024)) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void IdMap_dealloc(IdMap *self) {
    table_free(&self->t);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The uint32 ids of a buffer (its length a multiple of 4). */
static int ids_of(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_SIMPLE)) return -1;
    if (view->len % 4) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "a buffer of uint32 ids has a length that is a multiple of 4");
        return -1;
    }
    return 0;
}

static int as_u32(PyObject *o, uint32_t *out) {
    unsigned long v = PyLong_AsUnsignedLong(o);
    if (v == (unsigned long)-1 && PyErr_Occurred()) return -1;
    if (v > 0xFFFFFFFFul) {
        PyErr_SetString(PyExc_OverflowError, "ids and values are uint32");
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

PyDoc_STRVAR(update_doc, "update(ids, values): map each id to the value at its position.");

static PyObject *IdMap_update(IdMap *self, PyObject *args) {
    PyObject *ids, *values;
    if (!PyArg_ParseTuple(args, "OO:update", &ids, &values)) return NULL;
    PyObject *ki = PySequence_Fast(ids, "ids must be a sequence");
    if (!ki) return NULL;
    PyObject *vi = PySequence_Fast(values, "values must be a sequence");
    if (!vi) {
        Py_DECREF(ki);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(ki);
    PyObject *result = NULL;
    if (n != PySequence_Fast_GET_SIZE(vi)) {
        PyErr_SetString(PyExc_ValueError, "as many values as ids");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t k, v;
        if (as_u32(PySequence_Fast_GET_ITEM(ki, i), &k) ||
            as_u32(PySequence_Fast_GET_ITEM(vi, i), &v))
            goto done;
        if (table_put(&self->t, k, v)) {
            PyErr_NoMemory();
            goto done;
        }
    }
    result = Py_NewRef(Py_None);
done:
    Py_DECREF(ki);
    Py_DECREF(vi);
    return result;
}

/* Calls each(ids, n, arg) for the uint32 ids of every buffer of a sequence. */
static int each_buffer(PyObject *seq, int (*each)(const char *, Py_ssize_t, void *), void *arg) {
    PyObject *items = PySequence_Fast(seq, "a sequence of buffers of uint32 ids");
    if (!items) return -1;
    Py_ssize_t m = PySequence_Fast_GET_SIZE(items);
    int rc = 0;
    for (Py_ssize_t j = 0; j < m && !rc; j++) {
        Py_buffer view;
        if (ids_of(PySequence_Fast_GET_ITEM(items, j), &view)) {
            rc = -1;
            break;
        }
        rc = each(view.buf, view.len / 4, arg);
        PyBuffer_Release(&view);
    }
    Py_DECREF(items);
    return rc;
}

typedef struct {
    const Table *known;
    Table seen;
    PyObject *out;
} Missing;

static int missing_in(const char *buf, Py_ssize_t n, void *arg) {
    Missing *m = arg;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint32_t k;
        memcpy(&k, buf + 4 * i, 4);
        if (table_get(m->known, k) || table_get(&m->seen, k)) continue;
        if (table_put(&m->seen, k, 0)) {
            PyErr_NoMemory();
            return -1;
        }
        PyObject *o = PyLong_FromUnsignedLong(k);
        if (!o || PyList_Append(m->out, o)) {
            Py_XDECREF(o);
            return -1;
        }
        Py_DECREF(o);
    }
    return 0;
}

PyDoc_STRVAR(missing_doc,
             "missing(stacks) -> list: the distinct ids of the buffers of `stacks` not in the map.");

static PyObject *IdMap_missing(IdMap *self, PyObject *stacks) {
    Missing m = {.known = &self->t, .out = PyList_New(0)};
    if (!m.out) return NULL;
    if (table_init(&m.seen, 1024)) {
        Py_DECREF(m.out);
        return PyErr_NoMemory();
    }
    if (each_buffer(stacks, missing_in, &m)) Py_CLEAR(m.out);
    table_free(&m.seen);
    return m.out;
}

typedef struct {
    const Table *known;
    PyObject *out;
} Keys;

static int key_of(const char *buf, Py_ssize_t n, void *arg) {
    Keys *ks = arg;
    PyObject *key = PyBytes_FromStringAndSize(NULL, 4 * n);
    if (!key) return -1;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(key);
    for (Py_ssize_t i = 0; i < n; i++, p += 4) {
        uint32_t k;
        memcpy(&k, buf + 4 * i, 4);
        const uint32_t *v = table_get(ks->known, k);
        if (!v) {
            PyObject *o = PyLong_FromUnsignedLong(k);
            if (o) {
                PyErr_SetObject(PyExc_KeyError, o);
                Py_DECREF(o);
            }
            Py_DECREF(key);
            return -1;
        }
        p[0] = (unsigned char)(*v >> 24);
        p[1] = (unsigned char)(*v >> 16);
        p[2] = (unsigned char)(*v >> 8);
        p[3] = (unsigned char)*v;
    }
    int rc = PyList_Append(ks->out, key);
    Py_DECREF(key);
    return rc;
}

PyDoc_STRVAR(keys_doc,
             "keys(stacks) -> list[bytes]: per buffer of `stacks`, its ids' values as big-endian\n"
             "uint32 (KeyError: an id not in the map).");

static PyObject *IdMap_keys(IdMap *self, PyObject *stacks) {
    Keys ks = {.known = &self->t, .out = PyList_New(0)};
    if (!ks.out) return NULL;
    if (each_buffer(stacks, key_of, &ks)) Py_CLEAR(ks.out);
    return ks.out;
}

static Py_ssize_t IdMap_len(IdMap *self) {
    return (Py_ssize_t)(self->t.len + self->t.has_free);
}

static PyObject *IdMap_nbytes(IdMap *self, void *closure) {
    return PyLong_FromSize_t(sizeof(Slot) * (self->t.mask + 1));
}

static PyMethodDef IdMap_methods[] = {
    {"update", (PyCFunction)IdMap_update, METH_VARARGS, update_doc},
    {"missing", (PyCFunction)IdMap_missing, METH_O, missing_doc},
    {"keys", (PyCFunction)IdMap_keys, METH_O, keys_doc},
    {NULL},
};

static PyGetSetDef IdMap_getset[] = {
    {"nbytes", (getter)IdMap_nbytes, NULL, "bytes the table's slots hold", NULL},
    {NULL},
};

static PySequenceMethods IdMap_as_sequence = {.sq_length = (lenfunc)IdMap_len};

static PyTypeObject IdMapType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "profiler.query._idmap.IdMap",
    .tp_basicsize = sizeof(IdMap),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "uint32 id -> uint32 value, looked up a buffer of ids at a time",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)IdMap_init,
    .tp_dealloc = (destructor)IdMap_dealloc,
    .tp_methods = IdMap_methods,
    .tp_getset = IdMap_getset,
    .tp_as_sequence = &IdMap_as_sequence,
};

/* Bytes order: the common prefix's bytes, then the shorter first (as Python's). */
static int bytes_cmp(const void *a, const void *b) {
    PyObject *x = *(PyObject *const *)a, *y = *(PyObject *const *)b;
    Py_ssize_t nx = PyBytes_GET_SIZE(x), ny = PyBytes_GET_SIZE(y);
    int c = memcmp(PyBytes_AS_STRING(x), PyBytes_AS_STRING(y), (size_t)(nx < ny ? nx : ny));
    return c ? c : (nx > ny) - (nx < ny);
}

typedef struct {
    PyObject *k, *v;
} Pair;

/* The uint32 word d of a stack key (big-endian, as bytes order compares it),
   or -1 past its end: a shorter key sorts first. */
static int64_t word_at(PyObject *key, Py_ssize_t d) {
    if (4 * d >= PyBytes_GET_SIZE(key)) return -1;
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(key) + 4 * d;
    return (int64_t)((uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3]);
}

static void swap_pairs(Pair *a, Pair *b) {
    Pair t = *a;
    *a = *b;
    *b = t;
}

/* Multikey quicksort (Bentley and Sedgewick) of stack keys that agree on
   their first d words: each step partitions by one word, so the long
   prefixes a host's stacks share (~20 frames) are compared once, not in
   every comparison as memcmp does. The two smaller parts recurse, the
   largest loops: the depth stays under log2(n). */
static void sort_pairs(Pair *a, size_t n, Py_ssize_t d) {
    while (n > 1) {
        if (n < 12) { /* insertion sort on what is left of the keys */
            for (size_t i = 1; i < n; i++)
                for (size_t j = i; j > 0 && bytes_cmp(&a[j].k, &a[j - 1].k) < 0; j--)
                    swap_pairs(&a[j], &a[j - 1]);
            return;
        }
        int64_t x = word_at(a[0].k, d), y = word_at(a[n / 2].k, d), z = word_at(a[n - 1].k, d);
        int64_t v = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        /* [0, lt) < v, [lt, gt) == v, [gt, n) > v */
        size_t lt = 0, i = 0, gt = n;
        while (i < gt) {
            int64_t w = word_at(a[i].k, d);
            if (w < v) swap_pairs(&a[lt++], &a[i++]);
            else if (w > v) swap_pairs(&a[i], &a[--gt]);
            else i++;
        }
        size_t n_lt = lt, n_eq = gt - lt, n_gt = n - gt;
        Pair *p_lt = a, *p_eq = a + lt, *p_gt = a + gt;
        if (v < 0) n_eq = 0; /* keys that end here are equal: nothing left to sort */
        /* the largest part loops, the others recurse */
        if (n_eq >= n_lt && n_eq >= n_gt) {
            sort_pairs(p_lt, n_lt, d);
            sort_pairs(p_gt, n_gt, d);
            a = p_eq;
            n = n_eq;
            d++;
        } else if (n_lt >= n_gt) {
            sort_pairs(p_eq, n_eq, d + 1);
            sort_pairs(p_gt, n_gt, d);
            a = p_lt;
            n = n_lt;
        } else {
            sort_pairs(p_lt, n_lt, d);
            sort_pairs(p_eq, n_eq, d + 1);
            a = p_gt;
            n = n_gt;
        }
    }
}

/* Checks that every item is a bytes stack key (4 bytes a frame). */
static int check_keys(PyObject *list, const char *who) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *k = PyList_GET_ITEM(list, i);
        if (!PyBytes_CheckExact(k) || PyBytes_GET_SIZE(k) % 4) {
            PyErr_Format(PyExc_TypeError, "%s sorts stack keys: bytes of 4 a frame", who);
            return -1;
        }
    }
    return 0;
}

PyDoc_STRVAR(sorted_keys_doc,
             "sorted_keys(keys) -> list[bytes]: the stack keys (bytes, 4 a frame) of `keys` in\n"
             "bytes order, as sorted() gives them (a whole-host render sorts ~90k).");

static PyObject *sorted_keys(PyObject *module, PyObject *keys) {
    PyObject *out = PySequence_List(keys);
    if (!out) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(out);
    if (check_keys(out, "sorted_keys")) {
        Py_DECREF(out);
        return NULL;
    }
    Pair *pairs = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Pair));
    if (!pairs) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    /* the list's items are ours alone (a new list): put back in order */
    PyObject **items = ((PyListObject *)out)->ob_item;
    for (Py_ssize_t i = 0; i < n; i++) pairs[i].k = items[i];
    sort_pairs(pairs, (size_t)n, 0);
    for (Py_ssize_t i = 0; i < n; i++) items[i] = pairs[i].k;
    PyMem_Free(pairs);
    return out;
}

PyDoc_STRVAR(sorted_sums_doc,
             "sorted_sums(keys, values) -> (keys, values): each distinct bytes key of `keys` once,\n"
             "in bytes order, with the sum of the values at its positions (the dict a render\n"
             "merged its stacks' values in, then sorted, in one pass).");

static PyObject *sorted_sums(PyObject *module, PyObject *args) {
    PyObject *keys, *values;
    if (!PyArg_ParseTuple(args, "O!O!:sorted_sums", &PyList_Type, &keys, &PyList_Type, &values))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(keys);
    if (n != PyList_GET_SIZE(values)) {
        PyErr_SetString(PyExc_ValueError, "as many values as keys");
        return NULL;
    }
    Pair *pairs = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Pair));
    if (!pairs) return PyErr_NoMemory();
    if (check_keys(keys, "sorted_sums")) {
        PyMem_Free(pairs);
        return NULL;
    }
    /* references of our own: adding values may run code that changes the lists */
    for (Py_ssize_t i = 0; i < n; i++) {
        pairs[i].k = Py_NewRef(PyList_GET_ITEM(keys, i));
        pairs[i].v = Py_NewRef(PyList_GET_ITEM(values, i));
    }
    sort_pairs(pairs, (size_t)n, 0);
    PyObject *out_k = PyList_New(0), *out_v = PyList_New(0), *result = NULL;
    if (!out_k || !out_v) goto done;
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t j = i + 1;
        PyObject *sum = Py_NewRef(pairs[i].v);
        for (; j < n && bytes_cmp(&pairs[i].k, &pairs[j].k) == 0; j++) {
            PyObject *s = PyNumber_Add(sum, pairs[j].v);
            Py_DECREF(sum);
            if (!s) goto done;
            sum = s;
        }
        int rc = PyList_Append(out_k, pairs[i].k) || PyList_Append(out_v, sum);
        Py_DECREF(sum);
        if (rc) goto done;
        i = j;
    }
    result = PyTuple_Pack(2, out_k, out_v);
done:
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(pairs[i].k);
        Py_DECREF(pairs[i].v);
    }
    PyMem_Free(pairs);
    Py_XDECREF(out_k);
    Py_XDECREF(out_v);
    return result;
}

/* ---- the heaviest nodes of a flame graph (flamegraph.py's _heaviest_py, in C) ---- */

typedef struct {
    int64_t negw;            /* minus the node's weight: the heap's top is the heaviest */
    uint32_t a, b, name, d;  /* its run of sorted stacks [a, b), name index, depth */
    int32_t par;             /* its kept parent */
} Cand;

/* Heap order: heaviest first, then the earlier run (runs in the heap never overlap). */
static int cand_before(const Cand *x, const Cand *y) {
    return x->negw < y->negw || (x->negw == y->negw && x->a < y->a);
}

typedef struct {
    Cand *v;
    size_t n, cap;
} Heap;

static int heap_push(Heap *h, Cand c) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 1024;
        Cand *v = PyMem_Realloc(h->v, cap * sizeof(Cand));
        if (!v) return -1;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i) {
        size_t up = (i - 1) / 2;
        if (!cand_before(&c, &h->v[up])) break;
        h->v[i] = h->v[up];
        i = up;
    }
    h->v[i] = c;
    return 0;
}

static void heap_pop(Heap *h) {
    Cand last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && cand_before(&h->v[c + 1], &h->v[c])) c++;
        if (!cand_before(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
}

typedef struct {
    uint32_t *depth, *first, *end, *name, *pending;
    int32_t *parent;
    size_t n, cap;
} Kept;

static int kept_add(Kept *k, uint32_t d, uint32_t a, uint32_t b, uint32_t name, int32_t par) {
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 1024;
        uint32_t **cols[] = {&k->depth, &k->first, &k->end, &k->name, &k->pending};
        for (int c = 0; c < 5; c++) {
            uint32_t *v = PyMem_Realloc(*cols[c], cap * sizeof(uint32_t));
            if (!v) return -1;
            *cols[c] = v;
        }
        int32_t *v = PyMem_Realloc(k->parent, cap * sizeof(int32_t));
        if (!v) return -1;
        k->parent = v;
        k->cap = cap;
    }
    size_t i = k->n++;
    k->depth[i] = d;
    k->first[i] = a;
    k->end[i] = b;
    k->name[i] = name;
    k->parent[i] = par;
    k->pending[i] = 0;
    return 0;
}

static void kept_free(Kept *k) {
    PyMem_Free(k->depth);
    PyMem_Free(k->first);
    PyMem_Free(k->end);
    PyMem_Free(k->name);
    PyMem_Free(k->pending);
    PyMem_Free(k->parent);
}

typedef struct {
    PyObject **keys;  /* the sorted stacks (borrowed from the list) */
    PyObject *cum_l, *cum_r;
    int diff;
    Heap heap;
    Kept kept;
} Heaviest;

static uint32_t name_at(PyObject *key, Py_ssize_t p) {
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(key) + p;
    return (uint32_t)s[0] << 24 | (uint32_t)s[1] << 16 | (uint32_t)s[2] << 8 | s[3];
}

/* cum[e] - cum[i] of a list of running sums, or -1 with OverflowError past int64. */
static int run_weight(PyObject *cum, Py_ssize_t i, Py_ssize_t e, int64_t *w) {
    long long hi = PyLong_AsLongLong(PyList_GET_ITEM(cum, e));
    if (hi == -1 && PyErr_Occurred()) return -1;
    long long lo = PyLong_AsLongLong(PyList_GET_ITEM(cum, i));
    if (lo == -1 && PyErr_Occurred()) return -1;
    *w = hi - lo; /* running sums of values > 0 that fit in int64: no overflow */
    return 0;
}

/* Puts the children of kept node idx on the heap; returns how many, or -1. */
static Py_ssize_t expand(Heaviest *h, size_t idx) {
    uint32_t d = h->kept.depth[idx], a = h->kept.first[idx], b = h->kept.end[idx];
    Py_ssize_t p = 4 * (Py_ssize_t)d;
    uint32_t i = PyBytes_GET_SIZE(h->keys[a]) == p ? a + 1 : a; /* its own stack is its self */
    Py_ssize_t kids = 0;
    while (i < b) {
        /* every stack of [i, b) shares the node's prefix and goes deeper: its
           child's run ends at the first stack naming a later child there */
        uint32_t name = name_at(h->keys[i], p), lo = i + 1, hi = b;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (name_at(h->keys[mid], p) > name) hi = mid;
            else lo = mid + 1;
        }
        int64_t w, wr;
        if (run_weight(h->cum_l, i, lo, &w)) return -1;
        if (h->diff) {
            if (run_weight(h->cum_r, i, lo, &wr)) return -1;
            if (wr > w) w = wr;
        }
        Cand c = {.negw = -w, .a = i, .b = lo, .name = name, .d = d + 1, .par = (int32_t)idx};
        if (heap_push(&h->heap, c)) {
            PyErr_NoMemory();
            return -1;
        }
        kids++;
        i = lo;
    }
    h->kept.pending[idx] = (uint32_t)kids;
    return kids;
}

static PyObject *u32_list(const uint32_t *v, size_t n) {
    PyObject *out = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; out && i < n; i++) {
        PyObject *o = PyLong_FromUnsignedLong(v[i]);
        if (!o) Py_CLEAR(out);
        else PyList_SET_ITEM(out, (Py_ssize_t)i, o);
    }
    return out;
}

PyDoc_STRVAR(heaviest_doc,
             "heaviest(keys, cum_l, cum_r, max_nodes, counts_other, diff) -> (depth, first, end,\n"
             "names, parent, pending, others): flamegraph.heaviest_nodes_py's kept nodes, in C.\n"
             "OverflowError: running sums past int64 (the Python one then).");

static PyObject *heaviest(PyObject *module, PyObject *args) {
    PyObject *keys, *cum_l, *cum_r;
    Py_ssize_t max_nodes;
    int counts_other, diff;
    if (!PyArg_ParseTuple(args, "O!O!O!npp:heaviest", &PyList_Type, &keys, &PyList_Type, &cum_l,
                          &PyList_Type, &cum_r, &max_nodes, &counts_other, &diff))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(keys);
    if (PyList_GET_SIZE(cum_l) != n + 1 || PyList_GET_SIZE(cum_r) != n + 1 || n > 0x7FFFFFFF) {
        PyErr_SetString(PyExc_ValueError, "a running sum per stack and one before them");
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!PyBytes_CheckExact(PyList_GET_ITEM(keys, i)) || PyBytes_GET_SIZE(PyList_GET_ITEM(keys, i)) % 4) {
            PyErr_SetString(PyExc_TypeError, "stack keys are bytes of 4 per frame");
            return NULL;
        }
    Heaviest h = {.keys = ((PyListObject *)keys)->ob_item, .cum_l = cum_l, .cum_r = cum_r,
                  .diff = diff};
    PyObject *result = NULL;
    Py_ssize_t others = 0;
    /* the lists stay as they are: nothing below runs Python code */
    if (kept_add(&h.kept, 0, 0, (uint32_t)n, 0, -1)) {
        PyErr_NoMemory();
        goto done;
    }
    if (n) {
        Py_ssize_t k = expand(&h, 0);
        if (k < 0) goto done;
        others = k > 0;
    }
    while (h.heap.n) {
        Cand c = h.heap.v[0];
        int has_kids = c.b - c.a > 1 || PyBytes_GET_SIZE(h.keys[c.a]) > 4 * (Py_ssize_t)c.d;
        Py_ssize_t after = (Py_ssize_t)h.kept.n + 1 +
                           (counts_other ? others + has_kids - (h.kept.pending[c.par] == 1) : 0);
        if (after > max_nodes) break;
        heap_pop(&h.heap);
        if (kept_add(&h.kept, c.d, c.a, c.b, c.name, c.par)) {
            PyErr_NoMemory();
            goto done;
        }
        if (!--h.kept.pending[c.par]) others--;
        if (has_kids) {
            Py_ssize_t k = expand(&h, h.kept.n - 1);
            if (k < 0) goto done;
            if (k) others++;
        }
    }
    PyObject *parent = PyList_New((Py_ssize_t)h.kept.n);
    for (size_t i = 0; parent && i < h.kept.n; i++) {
        PyObject *o = PyLong_FromLong(h.kept.parent[i]);
        if (!o) Py_CLEAR(parent);
        else PyList_SET_ITEM(parent, (Py_ssize_t)i, o);
    }
    PyObject *cols[] = {u32_list(h.kept.depth, h.kept.n), u32_list(h.kept.first, h.kept.n),
                        u32_list(h.kept.end, h.kept.n), u32_list(h.kept.name, h.kept.n), parent,
                        u32_list(h.kept.pending, h.kept.n)};
    if (cols[0] && cols[1] && cols[2] && cols[3] && cols[4] && cols[5])
        result = Py_BuildValue("(OOOOOOn)", cols[0], cols[1], cols[2], cols[3], cols[4], cols[5],
                               others);
    for (int c = 0; c < 6; c++) Py_XDECREF(cols[c]);
done:
    PyMem_Free(h.heap.v);
    kept_free(&h.kept);
    return result;
}

PyDoc_STRVAR(all_positive_doc,
             "all_positive(values) -> bool: every int64 of a buffer (array(\"q\")) is > 0\n"
             "(a host's hour of thread tables is ~1M values, which min() boxes one by one).");

static PyObject *all_positive(PyObject *module, PyObject *values) {
    Py_buffer view;
    if (PyObject_GetBuffer(values, &view, PyBUF_SIMPLE)) return NULL;
    if (view.len % 8) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "a buffer of int64 values has a length that is a multiple of 8");
        return NULL;
    }
    int ok = 1;
    for (Py_ssize_t i = 0; i < view.len / 8 && ok; i++) {
        int64_t v;
        memcpy(&v, (const char *)view.buf + 8 * i, 8);
        ok = v > 0;
    }
    PyBuffer_Release(&view);
    return PyBool_FromLong(ok);
}

static PyMethodDef module_methods[] = {
    {"sorted_keys", (PyCFunction)sorted_keys, METH_O, sorted_keys_doc},
    {"all_positive", (PyCFunction)all_positive, METH_O, all_positive_doc},
    {"sorted_sums", (PyCFunction)sorted_sums, METH_VARARGS, sorted_sums_doc},
    {"heaviest", (PyCFunction)heaviest, METH_VARARGS, heaviest_doc},
    {NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_idmap", "uint32 id maps read a buffer at a time (see IdMap).", -1, module_methods,
};

PyMODINIT_FUNC PyInit__idmap(void) {
    if (PyType_Ready(&IdMapType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "IdMap", (PyObject *)&IdMapType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
