/*
 * _sqlcols: one SELECT on a SQLite file, read straight into column buffers.
 *
 * A trace's thread tracks read 100,000 linked samples of 12 columns: through
 * Python's sqlite3 cursor that is 1.2M Python objects (a tuple per row, an
 * int or str per value), ~220 ms of a cold trace view's ~340 ms answer. Here
 * the rows are stepped in C with the GIL released and each column lands in
 * one buffer: integer columns as int64, the others dictionary-coded (each
 * row's index, as uint32, into the column's distinct values in first-seen
 * order; a trace has a few reasons, spans and thread names in 100,000 rows).
 * Only the distinct values become Python objects.
 *
 * read(path, sql, params, kinds) -> list, one entry per result column:
 *   kinds[i] == 'i': bytes, the column as native-endian int64 (a NULL, text,
 *                    blob or real value in it raises TypeError)
 *   kinds[i] == 'd': (bytes of native-endian uint32 codes, [values]) with
 *                    TEXT as str, BLOB as bytes, NULL as None, INTEGER as int
 * params: a sequence of int, str, bytes or None bound to the ?s in order.
 * The file is opened by its own connection (read-write so that a WAL file's
 * shared memory can be used; `PRAGMA query_only` forbids any write), as a
 * reader of the committed data. profiler/store/sqlcols.py reads the same
 * answer through any SQLAlchemy connection when this is not built.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap; /* bytes */
} Buf;

static int buf_put(Buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 1 << 16;
        while (cap < b->len + n) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

/* A distinct value of a coded column: its type and bytes. */
typedef struct {
    int type; /* SQLITE_TEXT, SQLITE_BLOB, SQLITE_NULL or SQLITE_INTEGER */
    char *bytes;
    size_t len;
    uint64_t hash;
} Key;

typedef struct {
    Key *keys;      /* by code, first seen first */
    size_t n, kcap; /* keys held, room */
    uint32_t *slots; /* open addressing: code + 1, 0 free */
    size_t mask;
    Buf codes;      /* uint32 per row */
} Dict;

static uint64_t hash_of(int type, const char *p, size_t n) {
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)type;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int dict_grow(Dict *d) {
    size_t slots = d->slots ? (d->mask + 1) * 2 : 64;
    uint32_t *s = calloc(slots, sizeof(uint32_t));
    if (!s) return -1;
    for (size_t i = 0; i < d->n; i++) {
        size_t j = d->keys[i].hash & (slots - 1);
        while (s[j]) j = (j + 1) & (slots - 1);
        s[j] = (uint32_t)(i + 1);
    }
    free(d->slots);
    d->slots = s;
    d->mask = slots - 1;
    return 0;
}

/* The code of (type, p, n), adding it when new; -1 when out of memory. */
static int64_t dict_code(Dict *d, int type, const char *p, size_t n) {
    if (!d->slots && dict_grow(d) < 0) return -1;
    uint64_t h = hash_of(type, p, n);
    size_t j = h & d->mask;
    for (; d->slots[j]; j = (j + 1) & d->mask) {
        Key *k = &d->keys[d->slots[j] - 1];
        if (k->hash == h && k->type == type && k->len == n && (n == 0 || memcmp(k->bytes, p, n) == 0))
            return d->slots[j] - 1;
    }
    if (d->n >= 0xFFFFFFF0u) return -1;
    if (d->n == d->kcap) {
        size_t cap = d->kcap ? d->kcap * 2 : 16;
        Key *k = realloc(d->keys, cap * sizeof(Key));
        if (!k) return -1;
        d->keys = k;
        d->kcap = cap;
    }
    char *copy = malloc(n ? n : 1);
    if (!copy) return -1;
    if (n) memcpy(copy, p, n);
    d->keys[d->n] = (Key){type, copy, n, h};
    d->slots[j] = (uint32_t)(d->n + 1);
    d->n++;
    if (d->n * 2 > d->mask + 1 && dict_grow(d) < 0) return -1;
    return d->n - 1;
}

static void dict_free(Dict *d) {
    for (size_t i = 0; i < d->n; i++) free(d->keys[i].bytes);
    free(d->keys);
    free(d->slots);
    free(d->codes.data);
}

static PyObject *value_of(const Key *k) {
    switch (k->type) {
    case SQLITE_TEXT:
        return PyUnicode_DecodeUTF8(k->bytes, (Py_ssize_t)k->len, NULL);
    case SQLITE_BLOB:
        return PyBytes_FromStringAndSize(k->bytes, (Py_ssize_t)k->len);
    case SQLITE_INTEGER: {
        int64_t v;
        memcpy(&v, k->bytes, sizeof v);
        return PyLong_FromLongLong(v);
    }
    default:
        Py_RETURN_NONE;
    }
}

typedef struct {
    char kind; /* 'i' or 'd' */
    Buf ints;
    Dict dict;
} Column;

enum { OK, NOMEM, NOT_INT, SQL_ERROR };

/* Every row of `stmt` into `cols` (no Python object touched: the GIL is off). */
static int step_all(sqlite3_stmt *stmt, Column *cols, int ncols, int *bad_col) {
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        for (int c = 0; c < ncols; c++) {
            int type = sqlite3_column_type(stmt, c);
            if (cols[c].kind == 'i') {
                if (type != SQLITE_INTEGER) {
                    *bad_col = c;
                    return NOT_INT;
                }
                int64_t v = sqlite3_column_int64(stmt, c);
                if (buf_put(&cols[c].ints, &v, sizeof v) < 0) return NOMEM;
                continue;
            }
            int64_t code;
            if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
                const char *p = type == SQLITE_TEXT ? (const char *)sqlite3_column_text(stmt, c)
                                                    : (const char *)sqlite3_column_blob(stmt, c);
                int n = sqlite3_column_bytes(stmt, c);
                if (!p && n) return NOMEM;
                code = dict_code(&cols[c].dict, type, p ? p : "", (size_t)n);
            } else if (type == SQLITE_INTEGER) {
                int64_t v = sqlite3_column_int64(stmt, c);
                code = dict_code(&cols[c].dict, type, (const char *)&v, sizeof v);
            } else if (type == SQLITE_NULL) {
                code = dict_code(&cols[c].dict, type, "", 0);
            } else {
                *bad_col = c;
                return NOT_INT; /* a real: not a value this reads */
            }
            if (code < 0) return NOMEM;
            uint32_t u = (uint32_t)code;
            if (buf_put(&cols[c].dict.codes, &u, sizeof u) < 0) return NOMEM;
        }
    }
    return rc == SQLITE_DONE ? OK : SQL_ERROR;
}

static int bind_all(sqlite3_stmt *stmt, PyObject *params) {
    PyObject *seq = PySequence_Fast(params, "params must be a sequence");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n != sqlite3_bind_parameter_count(stmt)) {
        PyErr_Format(PyExc_ValueError, "%zd params for %d placeholders", n,
                     sqlite3_bind_parameter_count(stmt));
        Py_DECREF(seq);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PySequence_Fast_GET_ITEM(seq, i);
        int rc;
        if (v == Py_None) {
            rc = sqlite3_bind_null(stmt, (int)i + 1);
        } else if (PyLong_Check(v)) {
            long long x = PyLong_AsLongLong(v);
            if (x == -1 && PyErr_Occurred()) {
                Py_DECREF(seq);
                return -1;
            }
            rc = sqlite3_bind_int64(stmt, (int)i + 1, x);
        } else if (PyUnicode_Check(v)) {
            Py_ssize_t len;
            const char *s = PyUnicode_AsUTF8AndSize(v, &len);
            if (!s) {
                Py_DECREF(seq);
                return -1;
            }
            rc = sqlite3_bind_text(stmt, (int)i + 1, s, (int)len, SQLITE_TRANSIENT);
        } else if (PyBytes_Check(v)) {
            rc = sqlite3_bind_blob(stmt, (int)i + 1, PyBytes_AS_STRING(v),
                                   (int)PyBytes_GET_SIZE(v), SQLITE_TRANSIENT);
        } else {
            PyErr_Format(PyExc_TypeError, "param %zd: int, str, bytes or None, not %.100s", i,
                         Py_TYPE(v)->tp_name);
            Py_DECREF(seq);
            return -1;
        }
        if (rc != SQLITE_OK) {
            PyErr_SetString(PyExc_ValueError, "cannot bind a param");
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    return 0;
}

static PyObject *columns_out(Column *cols, int ncols) {
    PyObject *out = PyList_New(ncols);
    if (!out) return NULL;
    for (int c = 0; c < ncols; c++) {
        PyObject *item;
        if (cols[c].kind == 'i') {
            item = PyBytes_FromStringAndSize(cols[c].ints.data ? cols[c].ints.data : "",
                                             (Py_ssize_t)cols[c].ints.len);
        } else {
            Dict *d = &cols[c].dict;
            PyObject *values = PyList_New((Py_ssize_t)d->n);
            PyObject *codes = PyBytes_FromStringAndSize(d->codes.data ? d->codes.data : "",
                                                        (Py_ssize_t)d->codes.len);
            item = values && codes ? PyTuple_Pack(2, codes, values) : NULL;
            for (size_t i = 0; item && i < d->n; i++) {
                PyObject *v = value_of(&d->keys[i]);
                if (!v) Py_CLEAR(item);
                else PyList_SET_ITEM(values, (Py_ssize_t)i, v);
            }
            Py_XDECREF(values);
            Py_XDECREF(codes);
        }
        if (!item) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, c, item);
    }
    return out;
}

static PyObject *sqlcols_read(PyObject *self, PyObject *args) {
    const char *path, *sql, *kinds;
    PyObject *params;
    if (!PyArg_ParseTuple(args, "ssOs", &path, &sql, &params, &kinds)) return NULL;
    size_t nkinds = strlen(kinds);
    if (nkinds > 1000) {
        PyErr_SetString(PyExc_ValueError, "at most 1000 columns");
        return NULL;
    }
    int ncols = (int)nkinds;
    for (int c = 0; c < ncols; c++) {
        if (kinds[c] != 'i' && kinds[c] != 'd') {
            PyErr_SetString(PyExc_ValueError, "kinds: 'i' or 'd' per column");
            return NULL;
        }
    }
    sqlite3 *db = NULL;
    sqlite3_stmt *stmt = NULL;
    PyObject *out = NULL;
    Column *cols = calloc(nkinds ? nkinds : 1, sizeof(Column));
    if (!cols) return PyErr_NoMemory();
    for (int c = 0; c < ncols; c++) cols[c].kind = kinds[c];
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 30000);
        rc = sqlite3_exec(db, "PRAGMA query_only=1", NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);
    Py_END_ALLOW_THREADS
    if (rc != SQLITE_OK) {
        PyErr_Format(PyExc_OSError, "sqlite: %s", db ? sqlite3_errmsg(db) : "cannot open");
        goto done;
    }
    if (sqlite3_column_count(stmt) != ncols) {
        PyErr_Format(PyExc_ValueError, "%d columns, %d kinds", sqlite3_column_count(stmt), ncols);
        goto done;
    }
    if (bind_all(stmt, params) < 0) goto done;
    int bad_col = -1, got;
    Py_BEGIN_ALLOW_THREADS
    got = step_all(stmt, cols, ncols, &bad_col);
    Py_END_ALLOW_THREADS
    if (got == NOMEM) PyErr_NoMemory();
    else if (got == NOT_INT) PyErr_Format(PyExc_TypeError, "column %d: a value of another type", bad_col);
    else if (got == SQL_ERROR) PyErr_Format(PyExc_OSError, "sqlite: %s", sqlite3_errmsg(db));
    else out = columns_out(cols, ncols);
done:
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    for (int c = 0; c < ncols; c++) {
        free(cols[c].ints.data);
        dict_free(&cols[c].dict);
    }
    free(cols);
    return out;
}

static PyMethodDef methods[] = {
    {"read", sqlcols_read, METH_VARARGS,
     "read(path, sql, params, kinds): the result's columns (int64 bytes, or codes and values)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sqlcols", NULL, -1, methods};

PyMODINIT_FUNC PyInit__sqlcols(void) { return PyModule_Create(&module); }
