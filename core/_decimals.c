/* Decimals of exchange text, cached, and their text back (the native side of core/decimals.py).
 *
 * Every price and amount of a stream frame becomes a Decimal, and every Decimal stored becomes JSON
 * text again. Decimal(text) costs ~1,700 instructions through the type's call (argument parsing, an
 * ASCII copy, libmpdec's parser) and str(decimal) ~1,000, and the same texts come again and again: a
 * market's prices sit on its tick grid near the last price, a 24h ticker repeats its open, high and
 * low every second, a candle its open. So both directions go through one direct-mapped table:
 *
 * - forward, text -> Decimal: a slot chosen by a hash of the text holds one text and its Decimal;
 *   a hit returns that Decimal (Decimals are immutable, so sharing one is safe), a miss makes the
 *   Decimal and replaces the slot's entry;
 * - reverse, Decimal -> text: a slot chosen by the Decimal's address holds a Decimal the forward
 *   table handed out and its text. The slot keeps a reference to that Decimal, so while it is
 *   there no other object can have its address.
 *
 * Only canonical plain text is cached: -?(0|[1-9][0-9]*)(\.[0-9]+)?, at most MAX_TEXT characters.
 * For such text format(Decimal(text), "f") is the text itself, so the reverse table gives exactly
 * what core.decimals.format_decimal gives. Other text (exponents, leading zeros, signs, spaces) is
 * left to the Python code. The table holds at most SLOTS Decimals and texts (~6 MB).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_decimals.h"

#define SLOTS 32768 /* a power of two */
#define MAX_TEXT 32

typedef struct {
    PyObject *decimal; /* strong references, or NULL */
    PyObject *text;
    unsigned char length;
    char chars[MAX_TEXT];
} Forward;

typedef struct {
    PyObject *decimal; /* strong references, or NULL */
    PyObject *text;
} Reverse;

static Forward forward[SLOTS];
static Reverse reverse[SLOTS];
static PyObject *decimal_type; /* decimal.Decimal */
static PyObject *format_f;     /* "f" */

/* True for canonical plain text: -?(0|[1-9][0-9]*)(\.[0-9]+)? */
static int canonical_plain(const char *s, Py_ssize_t n) {
    Py_ssize_t i = 0, start;
    if (i < n && s[i] == '-') i++;
    start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (i == start || (s[start] == '0' && i - start > 1)) return 0;
    if (i == n) return 1;
    if (s[i] != '.') return 0;
    start = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    return i == n && i > start;
}

static size_t text_slot(const char *s, Py_ssize_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (Py_ssize_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29)) & (SLOTS - 1);
}

static size_t address_slot(PyObject *decimal) {
    uint64_t h = (uint64_t)(uintptr_t)decimal * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 40) & (SLOTS - 1);
}

/* Store (decimal, text) in both tables, dropping what the slots held. */
static void remember(Forward *slot, const char *s, Py_ssize_t n, PyObject *decimal, PyObject *text) {
    PyObject *old_decimal = slot->decimal, *old_text = slot->text;
    Reverse *back = &reverse[address_slot(decimal)];
    PyObject *old_back_decimal = back->decimal, *old_back_text = back->text;
    slot->decimal = Py_NewRef(decimal);
    slot->text = Py_NewRef(text);
    slot->length = (unsigned char)n;
    memcpy(slot->chars, s, n);
    back->decimal = Py_NewRef(decimal);
    back->text = Py_NewRef(text);
    Py_XDECREF(old_decimal);
    Py_XDECREF(old_text);
    Py_XDECREF(old_back_decimal);
    Py_XDECREF(old_back_text);
}

/* The Decimal of canonical plain text s (n <= MAX_TEXT); text is its str, or NULL to make one. */
static PyObject *cached_decimal(const char *s, Py_ssize_t n, PyObject *text) {
    Forward *slot = &forward[text_slot(s, n)];
    if (slot->decimal != NULL && slot->length == n && memcmp(slot->chars, s, n) == 0)
        return Py_NewRef(slot->decimal);
    PyObject *made_text = NULL, *decimal;
    if (text == NULL) {
        text = made_text = PyUnicode_FromStringAndSize(s, n);
        if (text == NULL) return NULL;
    }
    decimal = PyObject_CallOneArg(decimal_type, text);
    if (decimal != NULL) remember(slot, s, n, decimal, text);
    Py_XDECREF(made_text);
    return decimal;
}

/* C API: the Decimal of plain text (digits, an optional "-" and "."), cached when canonical. */
static PyObject *decimal_of(const char *s, Py_ssize_t n) {
    if (n <= MAX_TEXT && canonical_plain(s, n)) return cached_decimal(s, n, NULL);
    PyObject *text = PyUnicode_FromStringAndSize(s, n), *decimal;
    if (text == NULL) return NULL;
    decimal = PyObject_CallOneArg(decimal_type, text);
    Py_DECREF(text);
    return decimal;
}

PyDoc_STRVAR(exact_text_doc,
             "exact_text(text, /)\n--\n\n"
             "``Decimal(text)`` when ``text`` is canonical plain text (``-?(0|[1-9]\\d*)(\\.\\d+)?``, up to\n"
             "32 characters), shared with earlier calls of the same text; else ``None``.");

static PyObject *exact_text(PyObject *module, PyObject *text) {
    Py_ssize_t n;
    const char *s;
    if (!PyUnicode_CheckExact(text) || !PyUnicode_IS_COMPACT_ASCII(text)) Py_RETURN_NONE;
    n = PyUnicode_GET_LENGTH(text);
    s = (const char *)PyUnicode_DATA(text);
    if (n > MAX_TEXT || !canonical_plain(s, n)) Py_RETURN_NONE;
    return cached_decimal(s, n, text);
}

PyDoc_STRVAR(decimal_text_doc,
             "decimal_text(value, /)\n--\n\n"
             "The plain positional text of a Decimal (``format(value, \"f\")``); TypeError for anything\n"
             "else. Made for orjson's ``default``.");

static PyObject *decimal_text(PyObject *module, PyObject *value) {
    if (Py_TYPE(value) != (PyTypeObject *)decimal_type) {
        PyErr_Format(PyExc_TypeError, "cannot encode %.80s", Py_TYPE(value)->tp_name);
        return NULL;
    }
    Reverse *back = &reverse[address_slot(value)];
    if (back->decimal == value) return Py_NewRef(back->text);
    /* str() is ~3x faster than format(value, "f") and the same unless it chose an exponent */
    PyObject *text = PyObject_Str(value);
    if (text == NULL) return NULL;
    if (PyUnicode_FindChar(text, 'E', 0, PyUnicode_GET_LENGTH(text), 1) == -1) return text;
    Py_DECREF(text);
    return PyObject_Format(value, format_f);
}

PyDoc_STRVAR(clear_doc, "clear()\n--\n\nEmpty the table (for tests).");

static PyObject *clear(PyObject *module, PyObject *unused) {
    for (size_t i = 0; i < SLOTS; i++) {
        Py_CLEAR(forward[i].decimal);
        Py_CLEAR(forward[i].text);
        Py_CLEAR(reverse[i].decimal);
        Py_CLEAR(reverse[i].text);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"exact_text", (PyCFunction)exact_text, METH_O, exact_text_doc},
    {"decimal_text", (PyCFunction)decimal_text, METH_O, decimal_text_doc},
    {"clear", (PyCFunction)clear, METH_NOARGS, clear_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "_decimals",
    "Decimals of exchange text, cached, and their text back (see core/decimals.py).",
    -1,
    methods,
};

static QwDecimalsAPI api = {decimal_of};

PyMODINIT_FUNC PyInit__decimals(void) {
    PyObject *module = PyModule_Create(&module_def), *decimal_module, *capsule;
    if (module == NULL) return NULL;
    decimal_module = PyImport_ImportModule("decimal");
    if (decimal_module == NULL) goto fail;
    decimal_type = PyObject_GetAttrString(decimal_module, "Decimal");
    Py_DECREF(decimal_module);
    format_f = PyUnicode_InternFromString("f");
    if (decimal_type == NULL || format_f == NULL) goto fail;
    capsule = PyCapsule_New(&api, QW_DECIMALS_CAPSULE, NULL);
    if (capsule == NULL || PyModule_AddObject(module, "_C_API", capsule) < 0) {
        Py_XDECREF(capsule);
        goto fail;
    }
    return module;
fail:
    Py_DECREF(module);
    return NULL;
}
