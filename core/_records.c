/* Pydantic records assembled without validation, in C (the native side of core/records.py).
 *
 * core.records.trusted builds a record of values an adapter already checked: the model's defaults
 * merged with the values become its __dict__, the values' names its __pydantic_fields_set__, and
 * __pydantic_extra__ / __pydantic_private__ are None, exactly as pydantic's model_construct leaves
 * them. In Python that takes four object.__setattr__ calls through a slot wrapper, a set() and two
 * dict merges: ~11k instructions a record, 14% of the collector's in-process path. Here the same
 * steps are direct C calls, and records of the same model and field names share one fields set;
 * the slots are set through their own descriptors (looked up once on pydantic's BaseModel), so no
 * private CPython structure is touched.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The member descriptors of BaseModel's three slots, set by bind(). */
static PyObject *fields_set_slot = NULL;
static PyObject *extra_slot = NULL;
static PyObject *private_slot = NULL;

static int set_slot(PyObject *slot, PyObject *record, PyObject *value) {
    descrsetfunc set = Py_TYPE(slot)->tp_descr_set;
    return set(slot, record, value);
}

static PyObject *lookup_slot(PyObject *namespace, const char *name) {
    PyObject *slot = PyMapping_GetItemString(namespace, name);
    if (slot == NULL) return NULL;
    if (Py_TYPE(slot)->tp_descr_set == NULL) {
        PyErr_Format(PyExc_TypeError, "BaseModel.%s is not a settable slot", name);
        Py_DECREF(slot);
        return NULL;
    }
    return slot;
}

PyDoc_STRVAR(bind_doc,
             "bind(base_model)\n--\n\n"
             "Find the slots of ``base_model`` (pydantic's BaseModel) that build() sets.");

static PyObject *bind(PyObject *module, PyObject *base_model) {
    if (!PyType_Check(base_model)) {
        PyErr_SetString(PyExc_TypeError, "bind() takes pydantic's BaseModel class");
        return NULL;
    }
    PyObject *namespace = ((PyTypeObject *)base_model)->tp_dict;
    PyObject *fields_set = lookup_slot(namespace, "__pydantic_fields_set__");
    PyObject *extra = fields_set ? lookup_slot(namespace, "__pydantic_extra__") : NULL;
    PyObject *private = extra ? lookup_slot(namespace, "__pydantic_private__") : NULL;
    if (private == NULL) {
        Py_XDECREF(fields_set);
        Py_XDECREF(extra);
        return NULL;
    }
    Py_XSETREF(fields_set_slot, fields_set);
    Py_XSETREF(extra_slot, extra);
    Py_XSETREF(private_slot, private);
    Py_RETURN_NONE;
}

/* Raise TypeError naming the keys of values that template lacks. */
static void unknown_fields(PyTypeObject *model, PyObject *template, PyObject *values) {
    PyObject *unknown = PyList_New(0), *name, *value;
    Py_ssize_t position = 0;
    if (unknown == NULL) return;
    while (PyDict_Next(values, &position, &name, &value)) {
        if (!PyDict_Contains(template, name) && PyList_Append(unknown, name) < 0) {
            Py_DECREF(unknown);
            return;
        }
    }
    if (PyList_Sort(unknown) == 0) PyErr_Format(PyExc_TypeError, "%s: unknown fields %R", model->tp_name, unknown);
    Py_DECREF(unknown);
}

/* The fields set of each (model, names in order) built so far: one set shared by its records. A
 * record's __pydantic_fields_set__ is only read (its model is frozen: pydantic never adds to it, and
 * model_copy copies it before an update), and making a set of ~9 names cost ~1,600 instructions a
 * record. The names of one call site are the same interned strings each time, so they are compared
 * by identity; a combination beyond the table (or names not interned) gets a set of its own. */
#define SHARED_SETS 64
#define SHARED_NAMES 24

typedef struct {
    PyObject *model; /* strong references, kept for the process's life */
    Py_ssize_t count;
    PyObject *names[SHARED_NAMES];
    PyObject *set;
} SharedSet;

static SharedSet shared_sets[SHARED_SETS];
static int shared_count = 0;

static int same_names(const SharedSet *shared, PyObject *values) {
    Py_ssize_t position = 0, i = 0;
    PyObject *name, *value;
    if (shared->count != PyDict_GET_SIZE(values)) return 0;
    while (PyDict_Next(values, &position, &name, &value))
        if (shared->names[i++] != name) return 0;
    return 1;
}

/* A new reference to the fields set of values: the shared one, else a new set. */
static PyObject *fields_set_of(PyObject *model, PyObject *values) {
    int i;
    for (i = 0; i < shared_count; i++)
        if (shared_sets[i].model == model && same_names(&shared_sets[i], values))
            return Py_NewRef(shared_sets[i].set);
    PyObject *set = PySet_New(values);
    if (set == NULL || shared_count == SHARED_SETS || PyDict_GET_SIZE(values) > SHARED_NAMES) return set;
    SharedSet *shared = &shared_sets[shared_count];
    Py_ssize_t position = 0, n = 0;
    PyObject *name, *value;
    while (PyDict_Next(values, &position, &name, &value)) {
        if (!PyUnicode_CHECK_INTERNED(name)) return set;
        shared->names[n++] = name;
    }
    shared->count = PyDict_GET_SIZE(values);
    for (n = 0; n < shared->count; n++) Py_INCREF(shared->names[n]);
    shared->model = Py_NewRef(model);
    shared->set = Py_NewRef(set);
    shared_count++;
    return set;
}

PyDoc_STRVAR(build_doc,
             "build(model, template, values)\n--\n\n"
             "A ``model`` whose fields are ``template`` (every field with its default) updated with\n"
             "``values``, none of them validated; ``values``'s names are its fields set (one set\n"
             "shared by the records of the same model and names). A name that is not in\n"
             "``template`` raises TypeError.");

static PyObject *build(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "build() takes model, template and values");
        return NULL;
    }
    PyObject *model = args[0], *template = args[1], *values = args[2];
    if (fields_set_slot == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "build() before bind()");
        return NULL;
    }
    if (!PyType_Check(model) || !PyDict_CheckExact(template) || !PyDict_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "build() takes a class, a dict and a dict");
        return NULL;
    }
    /* Set each value into a copy of the template: its keys are all there already, so no resize (a
     * dict update would first grow the table to hold both dicts' sizes). An unknown name adds a key. */
    PyObject *data = PyDict_Copy(template), *name, *value;
    Py_ssize_t position = 0;
    if (data == NULL) return NULL;
    while (PyDict_Next(values, &position, &name, &value))
        if (PyDict_SetItem(data, name, value) < 0) goto fail_data;
    if (PyDict_GET_SIZE(data) != PyDict_GET_SIZE(template)) {
        unknown_fields((PyTypeObject *)model, template, values);
        goto fail_data;
    }
    PyObject *fields_set = fields_set_of(model, values);
    if (fields_set == NULL) goto fail_data;
    PyTypeObject *type = (PyTypeObject *)model;
    PyObject *record = type->tp_alloc(type, 0);
    if (record == NULL) goto fail_set;
    if (PyObject_GenericSetDict(record, data, NULL) < 0 ||
        set_slot(fields_set_slot, record, fields_set) < 0 || set_slot(extra_slot, record, Py_None) < 0 ||
        set_slot(private_slot, record, Py_None) < 0) {
        Py_DECREF(record);
        goto fail_set;
    }
    Py_DECREF(fields_set);
    Py_DECREF(data);
    return record;

fail_set:
    Py_DECREF(fields_set);
fail_data:
    Py_DECREF(data);
    return NULL;
}

static PyMethodDef methods[] = {
    {"bind", (PyCFunction)bind, METH_O, bind_doc},
    {"build", (PyCFunction)(void (*)(void))build, METH_FASTCALL, build_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "_records",
    "Pydantic records assembled without validation (see core/records.py).",
    -1,
    methods,
};

PyMODINIT_FUNC PyInit__records(void) { return PyModule_Create(&module_def); }
