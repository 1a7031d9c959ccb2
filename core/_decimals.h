/* The C API of core._decimals, for other extensions (exchanges/binance/_levels.c):
 *
 *     const QwDecimalsAPI *api = PyCapsule_Import(QW_DECIMALS_CAPSULE, 0);
 *     PyObject *price = api->decimal_of("0.00001230", 10);  // a new reference, or NULL
 */
#ifndef QW_DECIMALS_H
#define QW_DECIMALS_H

#include <Python.h>

#define QW_DECIMALS_CAPSULE "core._decimals._C_API"

typedef struct {
    /* The Decimal of plain text (digits, an optional "-" and "."), shared while cached. */
    PyObject *(*decimal_of)(const char *text, Py_ssize_t length);
} QwDecimalsAPI;

#endif
