/* Redis commands packed into the RESP protocol, in C.
 *
 * The Python reference is core/store/resp.py (pack_commands_python); this module gives the same
 * bytes. A store flush sends ~1,000 arguments (keys, JSON documents, scores); redis-py packs each
 * command through a Python generator and hiredis's formatter, which cost most of the writer
 * thread's CPU. Here the whole transaction is measured once and written into one bytes object.
 *
 * An argument is bytes, str (written as UTF-8) or int (written in decimal); anything else raises
 * TypeError, as a command must never carry a float or None by accident.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Decimal digits of n (n >= 0). */
static Py_ssize_t digits(Py_ssize_t n) {
    Py_ssize_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* Write n (n >= 0) in decimal at out; return the end. */
static char *write_count(char *out, Py_ssize_t n) {
    Py_ssize_t d = digits(n), i;
    for (i = d - 1; i >= 0; i--) {
        out[i] = (char)('0' + n % 10);
        n /= 10;
    }
    return out + d;
}

/* The text of one argument: a borrowed pointer and length. An int is formatted into buf. */
static int arg_text(PyObject *arg, const char **text, Py_ssize_t *size, char *buf) {
    if (PyBytes_Check(arg)) {
        *text = PyBytes_AS_STRING(arg);
        *size = PyBytes_GET_SIZE(arg);
        return 0;
    }
    if (PyUnicode_Check(arg)) {
        *text = PyUnicode_AsUTF8AndSize(arg, size);
        return *text == NULL ? -1 : 0;
    }
    if (PyLong_CheckExact(arg)) {
        int overflow = 0;
        long long value = PyLong_AsLongLongAndOverflow(arg, &overflow);
        if (overflow || (value == -1 && PyErr_Occurred())) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_OverflowError, "an integer argument beyond 64 bits");
            return -1;
        }
        *size = snprintf(buf, 24, "%lld", value);
        *text = buf;
        return 0;
    }
    PyErr_Format(PyExc_TypeError, "a command argument must be bytes, str or int, not %.80s",
                 Py_TYPE(arg)->tp_name);
    return -1;
}

/* pack_commands(commands) -> bytes: every command (a list or tuple of arguments) in RESP. */
static PyObject *pack_commands(PyObject *module, PyObject *commands) {
    PyObject *fast = PySequence_Fast(commands, "commands must be a sequence"), *out = NULL;
    Py_ssize_t n, c, a, total = 0, size;
    const char *text;
    char buf[24], *w;
    if (fast == NULL) return NULL;
    n = PySequence_Fast_GET_SIZE(fast);
    for (c = 0; c < n; c++) { /* measure */
        PyObject *command = PySequence_Fast_GET_ITEM(fast, c);
        Py_ssize_t argc;
        if (!PyList_CheckExact(command) && !PyTuple_CheckExact(command)) {
            PyErr_SetString(PyExc_TypeError, "a command must be a list or tuple of arguments");
            goto done;
        }
        argc = PySequence_Fast_GET_SIZE(command);
        if (argc == 0) {
            PyErr_SetString(PyExc_ValueError, "a command needs at least its name");
            goto done;
        }
        total += 1 + digits(argc) + 2;
        for (a = 0; a < argc; a++) {
            if (arg_text(PySequence_Fast_GET_ITEM(command, a), &text, &size, buf) < 0) goto done;
            total += 1 + digits(size) + 2 + size + 2;
        }
    }
    out = PyBytes_FromStringAndSize(NULL, total);
    if (out == NULL) goto done;
    w = PyBytes_AS_STRING(out);
    for (c = 0; c < n; c++) { /* write */
        PyObject *command = PySequence_Fast_GET_ITEM(fast, c);
        Py_ssize_t argc = PySequence_Fast_GET_SIZE(command);
        *w++ = '*';
        w = write_count(w, argc);
        *w++ = '\r', *w++ = '\n';
        for (a = 0; a < argc; a++) {
            arg_text(PySequence_Fast_GET_ITEM(command, a), &text, &size, buf); /* succeeded above */
            *w++ = '$';
            w = write_count(w, size);
            *w++ = '\r', *w++ = '\n';
            memcpy(w, text, size);
            w += size;
            *w++ = '\r', *w++ = '\n';
        }
    }
    if (w - PyBytes_AS_STRING(out) != total) { /* an argument changed while packing (not possible) */
        Py_CLEAR(out);
        PyErr_SetString(PyExc_RuntimeError, "packed size changed while packing");
    }
done:
    Py_DECREF(fast);
    return out;
}

static PyMethodDef module_methods[] = {
    {"pack_commands", (PyCFunction)pack_commands, METH_O,
     "Every command (a list or tuple of bytes, str or int arguments) in the RESP protocol, as one bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef resp_module = {
    PyModuleDef_HEAD_INIT, "core.store._resp", "Redis commands packed into RESP, in C.", -1, module_methods,
};

PyMODINIT_FUNC PyInit__resp(void) { return PyModule_Create(&resp_module); }
