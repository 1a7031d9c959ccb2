/* Pydantic records assembled without validation, in C (the native side of core/records.py).
 *
 * trusted(model, **values) builds a record of values an adapter already checked: the model's
 * defaults updated with the values become its __dict__ (in field order), the values' names its
 * __pydantic_fields_set__, and __pydantic_extra__ / __pydantic_private__ are None, exactly as
 * pydantic's model_construct leaves them. In Python that took four object.__setattr__ calls
 * through a slot wrapper, a set() and two dict merges, after the caller had built a dict of the
 * keyword arguments: ~13k instructions a record, 14% of the collector's in-process path.
 *
 * Here it is called with the keyword names as one tuple (vectorcall), so no dict of them is made.
 * Each (model, names in order) gets a plan the first time: one fields set that all its records
 * share (the models are frozen, pydantic never adds to the set, and model_copy copies it before an
 * update). An unknown name is caught on every call, by the dict's size. The names of a call site
 * are the same interned strings each time, so plans are matched by identity. The slots
 * are set through their own descriptors (looked up once on pydantic's BaseModel), so no private
 * CPython structure is touched.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Set by bind(): BaseModel's three slots, the models' templates and what makes a missing one. */
static PyObject *fields_set_slot = NULL;
static PyObject *extra_slot = NULL;
static PyObject *private_slot = NULL;
static PyObject *templates = NULL;        /* dict: model -> {field: default} in field order */
static PyObject *template_factory = NULL; /* model -> its template (stored in templates) */
static PyObject *no_names = NULL;         /* () */

#define PLANS 64

typedef struct {
    PyObject *model; /* strong references, kept for the process's life */
    PyObject *names; /* the keyword names' tuple first seen */
    PyObject *fields_set;
} Plan;

static Plan plans[PLANS];
static int plan_count = 0;

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
             "bind(base_model, templates, template_factory, /)\n--\n\n"
             "Find the slots of ``base_model`` (pydantic's BaseModel) that trusted() sets; a model's\n"
             "template is ``templates[model]``, made by ``template_factory(model)`` when missing.");

static PyObject *bind(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3 || !PyType_Check(args[0]) || !PyDict_CheckExact(args[1]) || !PyCallable_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "bind() takes BaseModel, a dict and a callable");
        return NULL;
    }
    PyObject *namespace = ((PyTypeObject *)args[0])->tp_dict;
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
    Py_XSETREF(templates, Py_NewRef(args[1]));
    Py_XSETREF(template_factory, Py_NewRef(args[2]));
    Py_RETURN_NONE;
}

/* A borrowed reference to model's template, made on first use. */
static PyObject *template_of(PyObject *model) {
    PyObject *template = PyDict_GetItemWithError(templates, model);
    if (template != NULL || PyErr_Occurred()) return template;
    PyObject *made = PyObject_CallOneArg(template_factory, model);
    if (made == NULL) return NULL;
    Py_DECREF(made);
    template = PyDict_GetItemWithError(templates, model);
    if (template == NULL && !PyErr_Occurred())
        PyErr_Format(PyExc_RuntimeError, "no template stored for %R", model);
    return template;
}

static int same_names(PyObject *a, PyObject *b) {
    Py_ssize_t i, n = PyTuple_GET_SIZE(a);
    if (a == b) return 1;
    if (n != PyTuple_GET_SIZE(b)) return 0;
    for (i = 0; i < n; i++)
        if (PyTuple_GET_ITEM(a, i) != PyTuple_GET_ITEM(b, i)) return 0;
    return 1;
}

/* TypeError naming the names that template lacks (sorted), or another error. */
static void unknown_fields(PyObject *model, PyObject *template, PyObject *names) {
    PyObject *unknown = PyList_New(0);
    Py_ssize_t i;
    if (unknown == NULL) return;
    for (i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        int found = PyDict_Contains(template, name);
        if (found < 0 || (!found && PyList_Append(unknown, name) < 0)) {
            Py_DECREF(unknown);
            return;
        }
    }
    if (PyList_Sort(unknown) == 0)
        PyErr_Format(PyExc_TypeError, "%s: unknown fields %R", ((PyTypeObject *)model)->tp_name, unknown);
    Py_DECREF(unknown);
}

/* A new reference to the fields set of (model, names), which are all fields of template: the
 * plan's, else a new set (kept as a new plan while there is room and the names are interned). */
static PyObject *fields_set_of(PyObject *model, PyObject *names) {
    int i;
    Py_ssize_t j;
    for (i = 0; i < plan_count; i++)
        if (plans[i].model == model && same_names(plans[i].names, names)) return Py_NewRef(plans[i].fields_set);
    PyObject *set = PySet_New(names);
    if (set == NULL || plan_count == PLANS) return set;
    for (j = 0; j < PyTuple_GET_SIZE(names); j++)
        if (!PyUnicode_CheckExact(PyTuple_GET_ITEM(names, j)) || !PyUnicode_CHECK_INTERNED(PyTuple_GET_ITEM(names, j)))
            return set;
    plans[plan_count].model = Py_NewRef(model);
    plans[plan_count].names = Py_NewRef(names);
    plans[plan_count].fields_set = Py_NewRef(set);
    plan_count++;
    return set;
}

/* model with data as its __dict__ and fields_set as its fields set. */
static PyObject *assemble(PyTypeObject *type, PyObject *data, PyObject *fields_set) {
    PyObject *record = type->tp_alloc(type, 0);
    if (record == NULL) return NULL;
    if (PyObject_GenericSetDict(record, data, NULL) < 0 || set_slot(fields_set_slot, record, fields_set) < 0
        || set_slot(extra_slot, record, Py_None) < 0 || set_slot(private_slot, record, Py_None) < 0) {
        Py_DECREF(record);
        return NULL;
    }
    return record;
}

PyDoc_STRVAR(trusted_doc,
             "trusted(model, /, **values)\n--\n\n"
             "A ``model`` of ``values`` (unvalidated) and the other fields' defaults; see\n"
             "core.records.trusted. A name that is not a field raises TypeError.");

static PyObject *trusted(PyObject *module, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), i, n;
    PyObject *model, *template, *data, *fields_set, *record;
    if (fields_set_slot == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "trusted() before bind()");
        return NULL;
    }
    if (nargs != 1 || !PyType_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "trusted() takes a model class, then its fields by name");
        return NULL;
    }
    model = args[0];
    template = template_of(model);
    if (template == NULL) return NULL;
    if (kwnames == NULL) kwnames = no_names;
    n = PyTuple_GET_SIZE(kwnames);
    /* Set each value into a copy of the template: its keys are all there already and stay in field
     * order (an update would first grow the table). An unknown name adds a key. */
    data = PyDict_Copy(template);
    if (data == NULL) return NULL;
    for (i = 0; i < n; i++) {
        if (PyDict_SetItem(data, PyTuple_GET_ITEM(kwnames, i), args[1 + i]) < 0) {
            Py_DECREF(data);
            return NULL;
        }
    }
    if (PyDict_GET_SIZE(data) != PyDict_GET_SIZE(template)) {
        unknown_fields(model, template, kwnames);
        Py_DECREF(data);
        return NULL;
    }
    fields_set = fields_set_of(model, kwnames);
    if (fields_set == NULL) {
        Py_DECREF(data);
        return NULL;
    }
    record = assemble((PyTypeObject *)model, data, fields_set);
    Py_DECREF(fields_set);
    Py_DECREF(data);
    return record;
}

static PyMethodDef methods[] = {
    {"bind", (PyCFunction)(void (*)(void))bind, METH_FASTCALL, bind_doc},
    {"trusted", (PyCFunction)(void (*)(void))trusted, METH_FASTCALL | METH_KEYWORDS, trusted_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    "_records",
    "Pydantic records assembled without validation (see core/records.py).",
    -1,
    methods,
};

PyMODINIT_FUNC PyInit__records(void) {
    no_names = PyTuple_New(0);
    if (no_names == NULL) return NULL;
    return PyModule_Create(&module_def);
}
