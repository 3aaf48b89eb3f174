/*
 * _pprofscan: one pass over a pprof Profile's wire bytes for high-rate ingest.
 *
 * A Pyroscope push holds about 1,000 stacks of about 20 locations each, and
 * the location and function tables are renumbered in every push, so walking
 * them through protobuf message objects cost ~20 ms of Python per push. This
 * scan turns each location into an exact content key (the bytes of what
 * makes its frames: mapping file, build id, address, function names, files,
 * lines) and each distinct stack into the list of its locations' keys, and
 * an `Interner` that lives as long as the process gives each key an id that
 * is the same in every push. So a stack seen before costs Python one lookup
 * of a small int, and no frame work at all. Ids come from counters that
 * never go back: when the interner is cleared to bound its memory, an old id
 * can never come to mean a new location or stack.
 *
 * Anything unexpected (bad wire data, dangling location or mapping ids, a
 * value count that differs from the sample types) makes `scan` return None:
 * the caller then takes the protobuf path, which reports the precise error.
 * A function id a line names but the profile lacks is not unexpected: real
 * .NET profiles have them, and they are unnamed frames. Every read is
 * bounds-checked: the input is untrusted.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

typedef struct { const uint8_t *p, *end; } Buf;

static int varint(Buf *b, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) return -1;
        uint8_t c = *b->p++;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) { *out = v; return 0; }
    }
    return -1;
}

/* Reads one field: its number, wire type, and either a scalar or a sub-buffer. */
static int field(Buf *b, uint32_t *num, int *wt, uint64_t *val, Buf *sub) {
    uint64_t tag, len;
    if (varint(b, &tag)) return -1;
    *num = (uint32_t)(tag >> 3);
    *wt = (int)(tag & 7);
    if (*num == 0) return -1;
    switch (*wt) {
    case 0: return varint(b, val);
    case 1: if (b->end - b->p < 8) return -1; memcpy(val, b->p, 8); b->p += 8; return 0;
    case 5: { uint32_t v32; if (b->end - b->p < 4) return -1; memcpy(&v32, b->p, 4);
              b->p += 4; *val = v32; return 0; }
    case 2:
        if (varint(b, &len) || len > (uint64_t)(b->end - b->p)) return -1;
        sub->p = b->p; sub->end = b->p + len; b->p += len; return 0;
    default: return -1;
    }
}

/* ---- growable arrays and an id -> index map ---- */

typedef struct { uint8_t *d; size_t n, cap; } Bytes;

static int grow(Bytes *a, size_t n) {
    size_t cap = a->cap ? a->cap * 2 : 4096;
    while (cap < a->n + n) cap *= 2;
    uint8_t *d = PyMem_Realloc(a->d, cap);
    if (!d) return -1;
    a->d = d; a->cap = cap;
    return 0;
}
static inline int put(Bytes *a, const void *src, size_t n) {
    if (n == 0) return 0;
    if (a->n + n > a->cap && grow(a, n)) return -1;
    memcpy(a->d + a->n, src, n);
    a->n += n;
    return 0;
}
static int put32(Bytes *a, uint32_t v) { return put(a, &v, 4); }
static int put64(Bytes *a, uint64_t v) { return put(a, &v, 8); }

/* key 0 = empty; `dense` (index by id) is added when ids are small, as most are */
typedef struct { uint64_t *keys; uint32_t *vals; size_t cap, n; uint64_t max; uint32_t *dense; } IdMap;

/* A secret per process: ids and bytes a client chooses cannot be aimed at one
 * bucket to make probing quadratic (set once at import from getrandom). */
static uint64_t seed;

static uint64_t mix(uint64_t x) {
    x ^= seed;
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static int idmap_init(IdMap *m, size_t n) {
    m->cap = 16;
    while (m->cap < n * 2) m->cap *= 2;
    m->keys = PyMem_Calloc(m->cap, sizeof(uint64_t));
    m->vals = PyMem_Calloc(m->cap, sizeof(uint32_t));
    return (m->keys && m->vals) ? 0 : -1;
}
static void idmap_free(IdMap *m) { PyMem_Free(m->keys); PyMem_Free(m->vals); PyMem_Free(m->dense); }
/* Returns 1 if the id was already present (a duplicate). */
static int idmap_put(IdMap *m, uint64_t id, uint32_t v) {
    size_t i = mix(id) & (m->cap - 1);
    while (m->keys[i]) {
        if (m->keys[i] == id) return 1;
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = id; m->vals[i] = v;
    m->n++;
    if (id > m->max) m->max = id;
    return 0;
}
/* Once every id is in: a direct table if ids are at most a few times their count. */
static int idmap_densify(IdMap *m) {
    if (m->max > 4 * (uint64_t)m->n + 64) return 0;
    m->dense = PyMem_Malloc((m->max + 1) * sizeof(uint32_t));
    if (!m->dense) return -1;
    memset(m->dense, 0xff, (m->max + 1) * sizeof(uint32_t));
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) m->dense[m->keys[i]] = m->vals[i];
    return 0;
}
static inline int idmap_get(const IdMap *m, uint64_t id, uint32_t *v) {
    if (!id) return -1;
    if (m->dense) {
        if (id > m->max || m->dense[id] == UINT32_MAX) return -1;
        *v = m->dense[id];
        return 0;
    }
    size_t i = mix(id) & (m->cap - 1);
    while (m->keys[i]) {
        if (m->keys[i] == id) { *v = m->vals[i]; return 0; }
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

/* Deduplicates byte strings (stacks, label sets) held in one arena. */
typedef struct { Bytes arena; Bytes offs; uint32_t *slots; size_t cap; uint32_t n; } Dedup;

static int dedup_init(Dedup *d, size_t n) {
    memset(d, 0, sizeof *d);
    d->cap = 16;
    while (d->cap < n * 2) d->cap *= 2;
    d->slots = PyMem_Calloc(d->cap, sizeof(uint32_t));  /* 0 empty, else index + 1 */
    return (d->slots && put64(&d->offs, 0) == 0) ? 0 : -1;
}
static void dedup_free(Dedup *d) { PyMem_Free(d->arena.d); PyMem_Free(d->offs.d); PyMem_Free(d->slots); }

/* 64x64 -> 128-bit multiply, halves folded: one multiply mixes 16 bytes. */
static inline uint64_t mum(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Seeded (see `seed`), 16 bytes per multiply: keys are hashed by the MB. */
static uint64_t hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (n + 1)), w0, w1;
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        memcpy(&w0, p + i, 8); memcpy(&w1, p + i + 8, 8);
        h = mum(w0 ^ 0xa0761d6478bd642fULL, w1 ^ h);
    }
    w0 = w1 = 0;
    if (n - i > 8) { memcpy(&w0, p + i, 8); memcpy(&w1, p + i + 8, n - i - 8); }
    else if (n > i) memcpy(&w0, p + i, n - i);
    return mum(mum(w0 ^ 0xe7037ed1a0b428dbULL, w1 ^ h), n ^ 0x8ebc6af09c88c6e3ULL);
}

/* Index of the string (new or existing), or -1 on allocation failure. */
static int64_t dedup_add(Dedup *d, const uint8_t *p, size_t n, int *is_new) {
    size_t i = hash_bytes(p, n) & (d->cap - 1);
    const uint64_t *offs = (const uint64_t *)d->offs.d;
    while (d->slots[i]) {
        uint32_t k = d->slots[i] - 1;
        if (offs[k + 1] - offs[k] == n && (n == 0 || memcmp(d->arena.d + offs[k], p, n) == 0)) {
            *is_new = 0;
            return k;
        }
        i = (i + 1) & (d->cap - 1);
    }
    if (d->n * 2 >= d->cap) {  /* grow and rehash */
        size_t cap = d->cap * 2;
        uint32_t *slots = PyMem_Calloc(cap, sizeof(uint32_t));
        if (!slots) return -1;
        for (uint32_t k = 0; k < d->n; k++) {
            size_t j = hash_bytes(d->arena.d + offs[k], offs[k + 1] - offs[k]) & (cap - 1);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = k + 1;
        }
        PyMem_Free(d->slots);
        d->slots = slots; d->cap = cap;
        i = hash_bytes(p, n) & (cap - 1);
        while (d->slots[i]) i = (i + 1) & (cap - 1);
    }
    size_t before = d->arena.n;
    if (put(&d->arena, p, n) || put64(&d->offs, d->arena.n)) {
        d->arena.n = before;  /* an entry is whole or absent */
        return -1;
    }
    d->slots[i] = ++d->n;
    *is_new = 1;
    return d->n - 1;
}

/* ---- the interner: long-lived ids for locations and stacks ---- */

typedef struct {
    PyObject_HEAD
    Dedup locs;           /* location content key -> index */
    Dedup stacks;         /* a stack's location ids (uint64s) -> index */
    uint64_t loc_base, stack_base;  /* id = base + index + 1 */
    size_t max_bytes;     /* both arenas together; past it, start afresh */
    uint64_t resets;
} Interner;

static int interner_reset(Interner *it) {
    it->loc_base += it->locs.n;
    it->stack_base += it->stacks.n;
    dedup_free(&it->locs); dedup_free(&it->stacks);
    if (dedup_init(&it->locs, 4096) || dedup_init(&it->stacks, 4096)) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static int Interner_init(Interner *it, PyObject *args, PyObject *kw) {
    static char *names[] = {"max_bytes", NULL};
    Py_ssize_t max_bytes = 256 << 20;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|n", names, &max_bytes)) return -1;
    if (max_bytes < 1) { PyErr_SetString(PyExc_ValueError, "max_bytes must be positive"); return -1; }
    it->max_bytes = (size_t)max_bytes;
    return interner_reset(it);
}

static void Interner_dealloc(Interner *it) {
    dedup_free(&it->locs); dedup_free(&it->stacks);
    Py_TYPE(it)->tp_free((PyObject *)it);
}

static size_t interner_bytes(const Interner *it) {
    return it->locs.arena.cap + it->locs.offs.cap + it->locs.cap * 4
         + it->stacks.arena.cap + it->stacks.offs.cap + it->stacks.cap * 4;
}

static PyObject *Interner_stats(Interner *it, PyObject *unused) {
    return Py_BuildValue("{s:n,s:n,s:n,s:K}", "locations", (Py_ssize_t)it->locs.n,
                         "stacks", (Py_ssize_t)it->stacks.n, "bytes", (Py_ssize_t)interner_bytes(it),
                         "resets", (unsigned long long)it->resets);
}

static PyMethodDef interner_methods[] = {
    {"stats", (PyCFunction)Interner_stats, METH_NOARGS,
     "stats() -> {'locations', 'stacks', 'bytes', 'resets'}"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject InternerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_pprofscan.Interner",
    .tp_doc = "Interner(max_bytes=256 MiB): ids of location and stack contents, the same in\n"
              "every scan; cleared (ids never reused) when it holds more than max_bytes.",
    .tp_basicsize = sizeof(Interner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Interner_init,
    .tp_dealloc = (destructor)Interner_dealloc,
    .tp_methods = interner_methods,
};

/* ---- the scan ---- */

typedef struct { Buf b; } Msg;
typedef struct { Msg *v; size_t n, cap; } Msgs;

static int msgs_add(Msgs *m, Buf b) {
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        Msg *v = PyMem_Realloc(m->v, cap * sizeof(Msg));
        if (!v) return -1;
        m->v = v; m->cap = cap;
    }
    m->v[m->n++].b = b;
    return 0;
}

/* A function or mapping: its varint fields by number (1 is the id). */
typedef struct { uint64_t f[8]; } Row;
enum { FN_NAME = 2, FN_SYSTEM_NAME = 3, FN_FILENAME = 4,
       MP_START = 2, MP_FILE_OFFSET = 4, MP_FILENAME = 5, MP_BUILD_ID = 6 };

typedef struct {
    Msgs samples, mappings, locations, functions, strings;
    uint32_t nvalues;
    Row *fn, *mp;
    IdMap fn_ids, mp_ids, loc_ids;
} Scan;

static void scan_free(Scan *s) {
    PyMem_Free(s->samples.v); PyMem_Free(s->mappings.v); PyMem_Free(s->locations.v);
    PyMem_Free(s->functions.v); PyMem_Free(s->strings.v);
    PyMem_Free(s->fn); PyMem_Free(s->mp);
    idmap_free(&s->fn_ids); idmap_free(&s->mp_ids); idmap_free(&s->loc_ids);
}

/* Reads every row of a table and indexes it by id; -1 on a bad or repeated id. */
static int table(const Msgs *m, Row *rows, IdMap *ids) {
    uint32_t num; int wt; uint64_t v; Buf sub;
    for (size_t i = 0; i < m->n; i++) {
        Buf b = m->v[i].b;
        while (b.p < b.end) {
            if (field(&b, &num, &wt, &v, &sub)) return -1;
            if (wt == 0 && num < 8) rows[i].f[num] = v;
        }
        if (!rows[i].f[1] || idmap_put(ids, rows[i].f[1], (uint32_t)i)) return -1;
    }
    return idmap_densify(ids);
}

static int put_string(Bytes *k, const Scan *s, uint64_t idx) {
    if (idx >= s->strings.n) return -1;
    Buf b = s->strings.v[idx].b;
    return put32(k, (uint32_t)(b.end - b.p)) || put(k, b.p, (size_t)(b.end - b.p));
}

/* The exact content key of one location; -1 on any dangling reference. */
static int location_key(const Scan *s, Buf loc, Bytes *k) {
    uint32_t num; int wt; uint64_t v, mapping_id = 0, address = 0; Buf sub;
    Buf b = loc;
    uint32_t nlines = 0;
    while (b.p < b.end) {
        if (field(&b, &num, &wt, &v, &sub)) return -1;
        if (num == 2 && wt == 0) mapping_id = v;
        else if (num == 3 && wt == 0) address = v;
    }
    /* A tag first: with or without a mapping, two keys can never read alike. */
    if (put32(k, mapping_id ? 1 : 0) || put64(k, address)) return -1;
    if (mapping_id) {
        uint32_t mi;
        if (idmap_get(&s->mp_ids, mapping_id, &mi)) return -1;
        const uint64_t *m = s->mp[mi].f;
        if (put64(k, m[MP_START]) || put64(k, m[MP_FILE_OFFSET]) || put_string(k, s, m[MP_FILENAME])
            || put_string(k, s, m[MP_BUILD_ID])) return -1;
    }
    b = loc;
    while (b.p < b.end) {
        if (field(&b, &num, &wt, &v, &sub)) return -1;
        if (num != 4 || wt != 2) continue;
        uint64_t function_id = 0, line = 0;
        uint32_t n2; int wt2; uint64_t v2; Buf sub2;
        while (sub.p < sub.end) {
            if (field(&sub, &n2, &wt2, &v2, &sub2)) return -1;
            if (n2 == 1 && wt2 == 0) function_id = v2;
            else if (n2 == 2 && wt2 == 0) line = v2;
        }
        /* A missing function is an unnamed frame (as the decoder makes it): the
         * key of a function whose strings are all empty, which names it alike. */
        uint32_t fi;
        static const uint64_t no_function[8] = {0};
        const uint64_t *f = idmap_get(&s->fn_ids, function_id, &fi) ? no_function : s->fn[fi].f;
        if (put64(k, line) || put_string(k, s, f[FN_NAME]) || put_string(k, s, f[FN_SYSTEM_NAME])
            || put_string(k, s, f[FN_FILENAME])) return -1;
        nlines++;
    }
    return put32(k, nlines);
}

/* Appends a repeated varint field (packed or not) to `out` as uint64s. */
static int repeated(int wt, uint64_t v, Buf sub, Bytes *out) {
    if (wt == 0) return put64(out, v);
    if (wt != 2) return -1;
    while (sub.p < sub.end) {
        if (varint(&sub, &v) || put64(out, v)) return -1;
    }
    return 0;
}

static PyObject *bytes_of(const Bytes *b) {
    return PyBytes_FromStringAndSize((const char *)b->d, (Py_ssize_t)b->n);
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    Interner *it;
    if (!PyArg_ParseTuple(args, "y*O!", &view, &InternerType, &it)) return NULL;
    Scan s;
    memset(&s, 0, sizeof s);
    Bytes key = {0}, locs = {0}, vals = {0}, stack_first = {0}, sample_stack = {0};
    Bytes labels = {0}, label_first = {0}, sample_labels = {0}, canon = {0}, stack_ids = {0};
    Bytes seq = {0};
    Dedup stacks, labelsets;
    memset(&stacks, 0, sizeof stacks);
    memset(&labelsets, 0, sizeof labelsets);
    PyObject *result = NULL;
    int is_new;

    /* Within one scan ids stay put: the interner is only cleared between scans. */
    if (!it->locs.slots || !it->stacks.slots || interner_bytes(it) > it->max_bytes) {
        int held = it->locs.n || it->stacks.n;
        if (interner_reset(it)) goto error;
        it->resets += held;
    }

    Buf b = {view.buf, (const uint8_t *)view.buf + view.len};
    uint32_t num; int wt; uint64_t v; Buf sub;
    while (b.p < b.end) {
        if (field(&b, &num, &wt, &v, &sub)) goto fallback;
        if (wt != 2) continue;
        Msgs *into = num == 1 ? NULL : num == 2 ? &s.samples : num == 3 ? &s.mappings
                   : num == 4 ? &s.locations : num == 5 ? &s.functions
                   : num == 6 ? &s.strings : NULL;
        if (num == 1) s.nvalues++;
        if (into && msgs_add(into, sub)) goto nomem;
    }
    s.fn = PyMem_Calloc(s.functions.n + 1, sizeof(Row));
    s.mp = PyMem_Calloc(s.mappings.n + 1, sizeof(Row));
    if (!s.fn || !s.mp || idmap_init(&s.fn_ids, s.functions.n) || idmap_init(&s.mp_ids, s.mappings.n)
        || idmap_init(&s.loc_ids, s.locations.n)) goto nomem;
    if (table(&s.functions, s.fn, &s.fn_ids) || table(&s.mappings, s.mp, &s.mp_ids))
        goto fallback;
    for (size_t i = 0; i < s.locations.n; i++) {
        Buf l = s.locations.v[i].b; uint64_t id = 0;
        while (l.p < l.end) {
            if (field(&l, &num, &wt, &v, &sub)) goto fallback;
            if (num == 1 && wt == 0) id = v;
        }
        if (!id || idmap_put(&s.loc_ids, id, (uint32_t)i)) goto fallback;
        key.n = 0;
        if (location_key(&s, s.locations.v[i].b, &key)) goto fallback;
        int64_t k = dedup_add(&it->locs, key.d, key.n, &is_new);
        if (k < 0 || put64(&canon, it->loc_base + (uint64_t)k + 1)) goto nomem;
    }
    if (idmap_densify(&s.loc_ids)) goto nomem;
    if (dedup_init(&stacks, s.samples.n) || dedup_init(&labelsets, 16)) goto nomem;
    for (size_t i = 0; i < s.samples.n; i++) {
        Buf smp = s.samples.v[i].b;
        size_t nvals = vals.n;
        locs.n = 0; labels.n = 0;
        while (smp.p < smp.end) {
            if (field(&smp, &num, &wt, &v, &sub)) goto fallback;
            if (num == 1) {
                if (repeated(wt, v, sub, &locs)) goto fallback;
            } else if (num == 2) {
                if (repeated(wt, v, sub, &vals)) goto fallback;
            } else if (num == 3 && wt == 2) {
                if (put32(&labels, (uint32_t)(sub.end - sub.p)) || put(&labels, sub.p, (size_t)(sub.end - sub.p)))
                    goto nomem;
            }
        }
        if ((vals.n - nvals) / 8 != s.nvalues) goto fallback;
        /* location ids -> location indexes, in place */
        uint64_t *ids = (uint64_t *)locs.d;
        size_t nl = locs.n / 8;
        uint32_t *idx = (uint32_t *)locs.d;
        for (size_t j = 0; j < nl; j++) {
            uint32_t li;
            if (idmap_get(&s.loc_ids, ids[j], &li)) goto fallback;
            idx[j] = li;  /* writes behind the read position: safe */
        }
        int64_t si = dedup_add(&stacks, locs.d, nl * 4, &is_new);
        if (si < 0) goto nomem;
        if (is_new && put32(&stack_first, (uint32_t)i)) goto nomem;
        if (put32(&sample_stack, (uint32_t)si)) goto nomem;
        uint32_t ls = 0;
        if (labels.n) {
            int64_t li = dedup_add(&labelsets, labels.d, labels.n, &is_new);
            if (li < 0) goto nomem;
            if (is_new && put32(&label_first, (uint32_t)i)) goto nomem;
            ls = (uint32_t)li + 1;
        }
        if (put32(&sample_labels, ls)) goto nomem;
    }
    {   /* each distinct stack of the push: its location ids, interned */
        const uint64_t *offs = (const uint64_t *)stacks.offs.d;
        const uint32_t *idx = (const uint32_t *)stacks.arena.d;
        const uint64_t *ids = (const uint64_t *)canon.d;
        for (uint32_t k = 0; k < stacks.n; k++) {
            seq.n = 0;
            for (uint64_t j = offs[k] / 4; j < offs[k + 1] / 4; j++)
                if (put64(&seq, ids[idx[j]])) goto nomem;
            int64_t si = dedup_add(&it->stacks, seq.d, seq.n, &is_new);
            if (si < 0 || put64(&stack_ids, it->stack_base + (uint64_t)si + 1)) goto nomem;
        }
    }
    {
        const Bytes *parts[] = {&stack_ids, &stack_first, &sample_stack, &vals, &sample_labels,
                                &label_first};
        result = PyTuple_New(8);
        if (!result) goto error;
        PyTuple_SET_ITEM(result, 0, PyLong_FromSize_t(s.nvalues));
        PyTuple_SET_ITEM(result, 1, PyLong_FromSize_t(s.samples.n));
        for (int k = 0; k < 6; k++)
            PyTuple_SET_ITEM(result, 2 + k, bytes_of(parts[k]));
        for (int k = 0; k < 8; k++)
            if (!PyTuple_GET_ITEM(result, k)) { Py_CLEAR(result); goto error; }
    }
    goto done;
fallback:
    result = Py_NewRef(Py_None);
    goto done;
nomem:
    PyErr_NoMemory();
error:
done:
    scan_free(&s);
    PyMem_Free(key.d); PyMem_Free(locs.d); PyMem_Free(vals.d); PyMem_Free(stack_first.d);
    PyMem_Free(sample_stack.d); PyMem_Free(labels.d); PyMem_Free(label_first.d);
    PyMem_Free(sample_labels.d); PyMem_Free(canon.d); PyMem_Free(stack_ids.d); PyMem_Free(seq.d);
    dedup_free(&stacks); dedup_free(&labelsets);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(pprof_bytes, interner) -> (nvalues, nsamples, stack_ids, stack_first_sample,\n"
     "sample_stack, values, sample_labelset, labelset_first_sample) or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pprofscan",
    "Fast paths for pprof ingest (see the comment at the top of _pprofscan.c).", -1, methods,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__pprofscan(void) {
    if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        seed = (uint64_t)(uintptr_t)&seed ^ 0x9e3779b97f4a7c15ULL;  /* ASLR as a fallback */
    if (PyType_Ready(&InternerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    if (PyModule_AddObjectRef(m, "Interner", (PyObject *)&InternerType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
