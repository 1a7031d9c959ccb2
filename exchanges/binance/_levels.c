/* One side of a Binance local order book, kept in C.
 *
 * The Python reference is exchanges/binance/levels.py (PyLevels); this module has the same
 * interface and results. Levels are kept as the venue's own text, ordered by an exact scaled
 * integer key (price * 10^18 in 128 bits), so a depth diff is applied without creating a single
 * Python object, and the top levels are written as JSON by copying that text. The (Decimal price,
 * Decimal amount) tuple of a level is made only when the level is first handed out in a top, and
 * kept while the level is unchanged.
 *
 * Entries are kept in one array, sorted so that the best level is the LAST one: most changes
 * happen near the best price, and inserting or deleting there moves few entries.
 *
 * A side may have an edge: the worst price up to which it knows every level. A partial load (a
 * REST snapshot that came back with as many levels as asked) sets it at the worst loaded level,
 * and dropping the worst levels (max_levels) moves it to the worst level kept. Beyond the edge the
 * side holds only the levels that changed since, so known(n) counts the best levels inside it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_TEXT 40      /* longest price or amount text kept */
#define MAX_INT_DIGITS 19
#define MAX_FRAC_DIGITS 18

typedef __int128 qw_key;

typedef struct {
    PyObject *level; /* cached (Decimal, Decimal) tuple, or NULL */
    unsigned char plen, alen;
    char price[MAX_TEXT];
    char amount[MAX_TEXT];
} Level;

typedef struct {
    qw_key key; /* the price, negated for a side whose best is the lowest price */
    Level *level;
} Entry;

typedef struct {
    PyObject_HEAD
    Entry *entries;
    Py_ssize_t size, capacity;
    int descending;   /* best first is the highest price (bids) */
    Py_ssize_t max_levels; /* beyond this (plus an eighth), the worst levels are dropped; 0: no bound */
    Py_ssize_t top_n; /* levels of the cached top, -1 when none */
    PyObject *top;    /* the cached EncodedLevels */
    int has_edge;     /* levels beyond `edge` may be missing */
    qw_key edge;      /* key of the worst price up to which every level is known */
} LevelsObject;

static PyObject *decimal_type;        /* decimal.Decimal */
static PyObject *encoded_levels_type; /* core.models.EncodedLevels */
static PyObject *json_name;           /* "json" */
static PyObject *NotPlainError;

/* ---- text ------------------------------------------------------------------------------------ */

/* Parse plain decimal text (digits, optionally "." and digits) into value * 10^18.
 * Returns 0, or -1 when the text is not plain or out of range. Sets *zero when the value is 0. */
static int parse_plain(const char *s, Py_ssize_t n, qw_key *out, int *zero) {
    Py_ssize_t i = 0, int_digits = 0, frac_digits = 0;
    qw_key value = 0;
    int nonzero = 0;
    if (n <= 0 || n > MAX_TEXT) return -1;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (++int_digits > MAX_INT_DIGITS) return -1;
        value = value * 10 + (s[i] - '0');
        nonzero |= s[i] != '0';
        i++;
    }
    if (int_digits == 0) return -1;
    if (i < n) {
        if (s[i] != '.') return -1;
        i++;
        if (i == n) return -1;
        while (i < n) {
            if (s[i] < '0' || s[i] > '9') return -1;
            if (++frac_digits > MAX_FRAC_DIGITS) return -1;
            value = value * 10 + (s[i] - '0');
            nonzero |= s[i] != '0';
            i++;
        }
    }
    for (; frac_digits < MAX_FRAC_DIGITS; frac_digits++) value *= 10;
    *out = value;
    *zero = !nonzero;
    return 0;
}

/* The UTF-8 text of a str item, or NULL (no exception set) when it is not a str. */
static const char *text_of(PyObject *item, Py_ssize_t *n) {
    if (!PyUnicode_CheckExact(item) || !PyUnicode_IS_ASCII(item)) return NULL;
    *n = PyUnicode_GET_LENGTH(item);
    return (const char *)PyUnicode_DATA(item);
}

/* The price and amount texts of one row; 0, or -1 when the row is not two plain texts. */
static int row_texts(PyObject *row, const char **p, Py_ssize_t *pn, const char **a, Py_ssize_t *an) {
    PyObject *price, *amount;
    if (PyList_CheckExact(row) && PyList_GET_SIZE(row) >= 2) {
        price = PyList_GET_ITEM(row, 0);
        amount = PyList_GET_ITEM(row, 1);
    } else if (PyTuple_CheckExact(row) && PyTuple_GET_SIZE(row) >= 2) {
        price = PyTuple_GET_ITEM(row, 0);
        amount = PyTuple_GET_ITEM(row, 1);
    } else {
        return -1;
    }
    *p = text_of(price, pn);
    *a = text_of(amount, an);
    return (*p == NULL || *a == NULL) ? -1 : 0;
}

/* check_rows(rows) -> rows: every row plain text, price > 0; raises NotPlainError otherwise. */
static PyObject *check_rows(PyObject *module, PyObject *rows) {
    Py_ssize_t i, n, pn, an;
    const char *p, *a;
    qw_key key;
    int zero;
    if (!PyList_CheckExact(rows)) {
        PyErr_SetString(NotPlainError, "rows are not a list");
        return NULL;
    }
    n = PyList_GET_SIZE(rows);
    for (i = 0; i < n; i++) {
        if (row_texts(PyList_GET_ITEM(rows, i), &p, &pn, &a, &an) < 0 || parse_plain(p, pn, &key, &zero) < 0
            || zero || parse_plain(a, an, &key, &zero) < 0) {
            PyErr_Format(NotPlainError, "row %zd is not two plain decimal texts with a positive price", i);
            return NULL;
        }
    }
    Py_INCREF(rows);
    return rows;
}

/* check_rows_or(fallback, rows) -> check_rows(rows), or fallback(rows) when they are not plain (a
 * spelling to normalise, or a malformed row for the fallback to name). One C call per depth side,
 * where a Python wrapper around check_rows cost a Python frame. */
static PyObject *check_rows_or(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    PyObject *checked;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "check_rows_or() takes a fallback and rows");
        return NULL;
    }
    checked = check_rows(module, args[1]);
    if (checked != NULL || !PyErr_ExceptionMatches(NotPlainError)) return checked;
    PyErr_Clear();
    return PyObject_CallOneArg(args[0], args[1]);
}

/* ---- the side -------------------------------------------------------------------------------- */

static void forget_top(LevelsObject *self) {
    Py_CLEAR(self->top);
    self->top_n = -1;
}

static void free_level(Level *level) {
    Py_XDECREF(level->level);
    PyMem_Free(level);
}

static void clear_entries(LevelsObject *self) {
    Py_ssize_t i;
    for (i = 0; i < self->size; i++) free_level(self->entries[i].level);
    self->size = 0;
    self->has_edge = 0;
    forget_top(self);
}

/* Nothing beyond the worst level held now is known (no-op on an empty side). */
static void set_edge_at_worst(LevelsObject *self) {
    if (self->size == 0) return;
    if (!self->has_edge || self->entries[0].key > self->edge) self->edge = self->entries[0].key;
    self->has_edge = 1;
}

/* Index of the first entry whose key is >= key. */
static Py_ssize_t lower_bound(LevelsObject *self, qw_key key) {
    Py_ssize_t lo = 0, hi = self->size;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) >> 1;
        if (self->entries[mid].key < key) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static void set_texts(Level *level, const char *p, Py_ssize_t pn, const char *a, Py_ssize_t an) {
    memcpy(level->price, p, pn);
    level->plen = (unsigned char)pn;
    memcpy(level->amount, a, an);
    level->alen = (unsigned char)an;
}

/* Apply one checked row. keep_zero: a zero amount is skipped instead of deleting (snapshots). */
static int apply_row(LevelsObject *self, PyObject *row, int snapshot) {
    Py_ssize_t pn, an, at, rank;
    const char *p, *a;
    qw_key key, unused;
    int zero_price, zero;
    if (row_texts(row, &p, &pn, &a, &an) < 0 || parse_plain(p, pn, &key, &zero_price) < 0 || zero_price
        || parse_plain(a, an, &unused, &zero) < 0) {
        PyErr_SetString(NotPlainError, "a row was not checked with check_rows()");
        return -1;
    }
    if (!self->descending) key = -key;
    at = lower_bound(self, key);
    int found = at < self->size && self->entries[at].key == key;
    if (zero) {
        if (!found || snapshot) return 0;
        rank = self->size - 1 - at;
        free_level(self->entries[at].level);
        memmove(&self->entries[at], &self->entries[at + 1], (self->size - at - 1) * sizeof(Entry));
        self->size--;
    } else if (found) {
        Level *level = self->entries[at].level;
        Py_CLEAR(level->level);
        set_texts(level, p, pn, a, an);
        rank = self->size - 1 - at;
    } else {
        Level *level = PyMem_Malloc(sizeof(Level));
        if (level == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        level->level = NULL;
        set_texts(level, p, pn, a, an);
        if (self->size == self->capacity) {
            Py_ssize_t capacity = self->capacity ? self->capacity * 2 : 64;
            Entry *entries = PyMem_Realloc(self->entries, capacity * sizeof(Entry));
            if (entries == NULL) {
                PyMem_Free(level);
                PyErr_NoMemory();
                return -1;
            }
            self->entries = entries;
            self->capacity = capacity;
        }
        memmove(&self->entries[at + 1], &self->entries[at], (self->size - at) * sizeof(Entry));
        self->entries[at].key = key;
        self->entries[at].level = level;
        self->size++;
        rank = self->size - 1 - at;
    }
    if (rank < self->top_n) forget_top(self);
    return 0;
}

/* Keep the best max_levels levels once the side holds an eighth more (drops happen in chunks). */
static void bound(LevelsObject *self) {
    Py_ssize_t max = self->max_levels, drop, i;
    if (max <= 0 || self->size <= max + (max + 7) / 8) return;
    drop = self->size - max;
    for (i = 0; i < drop; i++) free_level(self->entries[i].level);
    memmove(&self->entries[0], &self->entries[drop], max * sizeof(Entry));
    self->size = max;
    set_edge_at_worst(self);
    if (self->top_n > max) forget_top(self);
}

static PyObject *apply_rows(LevelsObject *self, PyObject *rows, int snapshot) {
    Py_ssize_t i;
    if (!PyList_CheckExact(rows)) {
        PyErr_SetString(PyExc_TypeError, "rows must be a list");
        return NULL;
    }
    for (i = 0; i < PyList_GET_SIZE(rows); i++)
        if (apply_row(self, PyList_GET_ITEM(rows, i), snapshot) < 0) return NULL;
    bound(self);
    Py_RETURN_NONE;
}

static PyObject *Levels_apply(LevelsObject *self, PyObject *rows) { return apply_rows(self, rows, 0); }

static PyObject *Levels_load(LevelsObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"rows", "partial", NULL};
    PyObject *rows, *result;
    int partial = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|$p", kwlist, &rows, &partial)) return NULL;
    clear_entries(self);
    result = apply_rows(self, rows, 1);
    if (result != NULL && partial) set_edge_at_worst(self);
    return result;
}

static PyObject *Levels_known(LevelsObject *self, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg), inside;
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 0) n = 0;
    if (!self->has_edge) return PyLong_FromSsize_t(n);
    inside = self->size - lower_bound(self, self->edge);
    return PyLong_FromSsize_t(inside < n ? inside : n);
}

static PyObject *Levels_clear(LevelsObject *self, PyObject *unused) {
    clear_entries(self);
    Py_RETURN_NONE;
}

/* The cached (Decimal, Decimal) tuple of a level (a borrowed reference). */
static PyObject *level_tuple(Level *level) {
    if (level->level == NULL) {
        PyObject *price = NULL, *amount = NULL, *text;
        text = PyUnicode_FromStringAndSize(level->price, level->plen);
        if (text == NULL) return NULL;
        price = PyObject_CallOneArg(decimal_type, text);
        Py_DECREF(text);
        if (price == NULL) return NULL;
        text = PyUnicode_FromStringAndSize(level->amount, level->alen);
        if (text == NULL) goto fail;
        amount = PyObject_CallOneArg(decimal_type, text);
        Py_DECREF(text);
        if (amount == NULL) goto fail;
        level->level = PyTuple_Pack(2, price, amount);
        Py_DECREF(price);
        Py_DECREF(amount);
        return level->level;
    fail:
        Py_XDECREF(price);
        return NULL;
    }
    return level->level;
}

static PyObject *Levels_top(LevelsObject *self, PyObject *arg) {
    Py_ssize_t n = PyLong_AsSsize_t(arg), count, r, length = 2;
    PyObject *list, *json, *result;
    char *out;
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 0) n = 0;
    if (self->top != NULL && self->top_n == n) return Py_NewRef(self->top);
    count = n < self->size ? n : self->size;
    list = PyList_New(count);
    if (list == NULL) return NULL;
    for (r = 0; r < count; r++) {
        Level *level = self->entries[self->size - 1 - r].level;
        PyObject *tuple = level_tuple(level);
        if (tuple == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, r, Py_NewRef(tuple));
        length += level->plen + level->alen + 8;
    }
    json = PyBytes_FromStringAndSize(NULL, length);
    if (json == NULL) {
        Py_DECREF(list);
        return NULL;
    }
    out = PyBytes_AS_STRING(json);
    *out++ = '[';
    for (r = 0; r < count; r++) {
        Level *level = self->entries[self->size - 1 - r].level;
        if (r) *out++ = ',';
        memcpy(out, "[\"", 2), out += 2;
        memcpy(out, level->price, level->plen), out += level->plen;
        memcpy(out, "\",\"", 3), out += 3;
        memcpy(out, level->amount, level->alen), out += level->alen;
        memcpy(out, "\"]", 2), out += 2;
    }
    *out++ = ']';
    if (_PyBytes_Resize(&json, out - PyBytes_AS_STRING(json)) < 0) {
        Py_DECREF(list);
        return NULL;
    }
    result = PyObject_CallOneArg(encoded_levels_type, list);
    Py_DECREF(list);
    if (result == NULL || PyObject_SetAttr(result, json_name, json) < 0) {
        Py_XDECREF(result);
        Py_DECREF(json);
        return NULL;
    }
    Py_DECREF(json);
    Py_XSETREF(self->top, Py_NewRef(result));
    self->top_n = n;
    return result;
}

static PyObject *Levels_to_dict(LevelsObject *self, PyObject *unused) {
    PyObject *dict = PyDict_New();
    Py_ssize_t i;
    if (dict == NULL) return NULL;
    for (i = 0; i < self->size; i++) {
        PyObject *tuple = level_tuple(self->entries[i].level);
        if (tuple == NULL || PyDict_SetItem(dict, PyTuple_GET_ITEM(tuple, 0), PyTuple_GET_ITEM(tuple, 1)) < 0) {
            Py_DECREF(dict);
            return NULL;
        }
    }
    return dict;
}

static Py_ssize_t Levels_len(LevelsObject *self) { return self->size; }

static int Levels_init(LevelsObject *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"descending", "max_levels", NULL};
    int descending = 0;
    Py_ssize_t max_levels = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|$pn", kwlist, &descending, &max_levels)) return -1;
    clear_entries(self);
    self->descending = descending;
    self->max_levels = max_levels > 0 ? max_levels : 0;
    return 0;
}

static PyObject *Levels_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    LevelsObject *self = (LevelsObject *)type->tp_alloc(type, 0);
    if (self != NULL) {
        self->entries = NULL;
        self->size = self->capacity = 0;
        self->top = NULL;
        self->top_n = -1;
        self->has_edge = 0;
    }
    return (PyObject *)self;
}

static void Levels_dealloc(LevelsObject *self) {
    clear_entries(self);
    PyMem_Free(self->entries);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Levels_methods[] = {
    {"load", (PyCFunction)(void (*)(void))Levels_load, METH_VARARGS | METH_KEYWORDS,
     "Replace every level with checked rows (zero amounts skipped); partial: nothing beyond them is known."},
    {"known", (PyCFunction)Levels_known, METH_O, "How many of the best n levels lie inside the edge (n without one)."},
    {"apply", (PyCFunction)Levels_apply, METH_O, "Apply checked rows in order; a zero amount deletes."},
    {"top", (PyCFunction)Levels_top, METH_O, "The best n levels, best first, as EncodedLevels (cached)."},
    {"to_dict", (PyCFunction)Levels_to_dict, METH_NOARGS, "Every level as {Decimal price: Decimal amount}."},
    {"clear", (PyCFunction)Levels_clear, METH_NOARGS, "Remove every level."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Levels_as_sequence = {.sq_length = (lenfunc)Levels_len};

static PyTypeObject LevelsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "exchanges.binance._levels.Levels",
    .tp_doc = "One side of a local order book: the venue's level texts, ordered by exact price.",
    .tp_basicsize = sizeof(LevelsObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = Levels_new,
    .tp_init = (initproc)Levels_init,
    .tp_dealloc = (destructor)Levels_dealloc,
    .tp_methods = Levels_methods,
    .tp_as_sequence = &Levels_as_sequence,
};

static PyMethodDef module_methods[] = {
    {"check_rows_or", (PyCFunction)(void (*)(void))check_rows_or, METH_FASTCALL,
     "check_rows_or(fallback, rows) -> check_rows(rows), or fallback(rows) when they are not plain."},
    {"check_rows", (PyCFunction)check_rows, METH_O,
     "Return rows when every row is two plain decimal texts with a positive price; else NotPlainError."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef levels_module = {
    PyModuleDef_HEAD_INIT, "exchanges.binance._levels", "One side of a local order book, in C.", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__levels(void) {
    PyObject *module, *decimal, *models;
    if (PyType_Ready(&LevelsType) < 0) return NULL;
    decimal = PyImport_ImportModule("decimal");
    if (decimal == NULL) return NULL;
    decimal_type = PyObject_GetAttrString(decimal, "Decimal");
    Py_DECREF(decimal);
    models = PyImport_ImportModule("core.models");
    if (models == NULL) return NULL;
    encoded_levels_type = PyObject_GetAttrString(models, "EncodedLevels");
    Py_DECREF(models);
    json_name = PyUnicode_InternFromString("json");
    if (decimal_type == NULL || encoded_levels_type == NULL || json_name == NULL) return NULL;
    module = PyModule_Create(&levels_module);
    if (module == NULL) return NULL;
    NotPlainError = PyErr_NewException("exchanges.binance._levels.NotPlainError", PyExc_ValueError, NULL);
    if (NotPlainError == NULL || PyModule_AddObjectRef(module, "NotPlainError", NotPlainError) < 0
        || PyModule_AddObjectRef(module, "Levels", (PyObject *)&LevelsType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
