/* osquery's values as the Python reader reads them, and the key tables (_fast.h). */
#include "_fast.h"

#include <string.h>

/* "-?[0-9]+" only (what int() takes beyond that -- spaces, "_", "+" -- is left to Python). */
int parse_int(const char *s, Py_ssize_t n, long long *out, int *overflow) {
    Py_ssize_t i = 0;
    int neg = 0;
    unsigned long long v = 0, limit;
    if (n > 0 && s[0] == '-') { neg = 1; i = 1; }
    if (i == n) return BAIL;
    limit = neg ? (unsigned long long)LLONG_MAX + 1ULL : (unsigned long long)LLONG_MAX;
    *overflow = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return BAIL;
        if (*overflow) continue;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10) *overflow = 1;
        else v = v * 10 + d;
    }
    *out = neg ? (long long)(0ULL - v) : (long long)v;
    return 0;
}

/* resultlog.as_int for the forms this file handles: 0 ok (*present 0 for None/missing). */
int as_int(PyObject *v, long long *out, int *present) {
    *present = 0;
    if (v == NULL || v == Py_None) return 0;
    if (PyLong_CheckExact(v)) {
        int overflow;
        *out = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (overflow || (*out == -1 && PyErr_Occurred())) { PyErr_Clear(); return BAIL; }
        *present = 1;
        return 0;
    }
    if (PyUnicode_CheckExact(v)) {
        Py_ssize_t n;
        int overflow;
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (!s) { PyErr_Clear(); return BAIL; }
        if (parse_int(s, n, out, &overflow) != 0 || overflow) return BAIL;
        *present = 1;
        return 0;
    }
    return BAIL;
}

/* resultlog._text for the forms handled: a non-empty str, else NULL (None or ""). */
int text_of(PyObject *v, PyObject **out) {
    *out = NULL;
    if (v == NULL || v == Py_None) return 0;
    if (!PyUnicode_CheckExact(v)) return BAIL;
    if (PyUnicode_GET_LENGTH(v) > 0) *out = v;
    return 0;
}

void table_free(KeyTable *t) {
    for (Py_ssize_t i = 0; i < t->n; i++) {
        Py_XDECREF(t->names[i]);
        Py_XDECREF(t->seen[i]);
    }
    PyMem_Free(t->names);
    PyMem_Free(t->seen);
    PyMem_Free(t->hashes);
    PyMem_Free(t->table);
    memset(t, 0, sizeof *t);
}

/* The slot of name, added if new; -1 with an exception on failure. */
int table_slot(KeyTable *t, PyObject *name, Py_ssize_t capacity) {
    for (Py_ssize_t i = 0; i < t->n; i++)
        if (PyUnicode_Compare(t->names[i], name) == 0) return (int)i;
    if (PyErr_Occurred()) return -1;
    if (!t->names) {
        t->names = PyMem_Calloc((size_t)capacity, sizeof(PyObject *));
        t->seen = PyMem_Calloc((size_t)capacity, sizeof(PyObject *));
        t->hashes = PyMem_Calloc((size_t)capacity, sizeof(Py_hash_t));
        if (!t->names || !t->seen || !t->hashes) { PyErr_NoMemory(); return -1; }
    }
    if (t->n >= capacity) {
        PyErr_SetString(PyExc_ValueError, "too many keys");
        return -1;
    }
    Py_hash_t h = PyObject_Hash(name);
    if (h == -1) return -1;
    t->names[t->n] = Py_NewRef(name);
    t->hashes[t->n] = h;
    return (int)t->n++;
}

int table_slot_str(KeyTable *t, const char *name, Py_ssize_t capacity) {
    PyObject *s = PyUnicode_InternFromString(name);
    if (!s) return -1;
    int slot = table_slot(t, s, capacity);
    Py_DECREF(s);
    return slot;
}

int table_seal(KeyTable *t) {
    Py_ssize_t size = 8;
    while (size < 4 * t->n) size *= 2;
    t->table = PyMem_Malloc((size_t)size * sizeof(int));
    if (!t->table) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < size; i++) t->table[i] = -1;
    t->mask = size - 1;
    for (Py_ssize_t s = 0; s < t->n; s++) {
        size_t i = (size_t)t->hashes[s] & (size_t)t->mask;
        while (t->table[i] >= 0) i = (i + 1) & (size_t)t->mask;
        t->table[i] = (int)s;
    }
    return 0;
}

int table_read(KeyTable *t, PyObject *dict, PyObject **vals) {
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    memset(vals, 0, (size_t)t->n * sizeof *vals);
    while (PyDict_Next(dict, &pos, &k, &v)) {
        if (!PyUnicode_CheckExact(k)) continue;
        Py_hash_t h = ((PyASCIIObject *)k)->hash;
        if (h == -1 && (h = PyObject_Hash(k)) == -1) return -1;
        for (size_t i = (size_t)h & (size_t)t->mask;; i = (i + 1) & (size_t)t->mask) {
            int s = t->table[i];
            if (s < 0) break;
            if (t->seen[s] == k) {
                vals[s] = v;
                break;
            }
            if (t->hashes[s] == h && PyUnicode_Compare(k, t->names[s]) == 0) {
                vals[s] = v;
                Py_INCREF(k);
                Py_XSETREF(t->seen[s], k);
                break;
            }
        }
    }
    return 0;
}

/* A compact JSON array of plain strings ('["a","b"]': no escapes, controls or spaces): its
 * text is then exactly what orjson writes for the decoded list. Item spans go to starts/lens
 * (at most max_items of them); returns the item count, or BAIL. */
Py_ssize_t simple_array(const char *s, Py_ssize_t n, Py_ssize_t *starts, Py_ssize_t *lens,
                               Py_ssize_t max_items) {
    Py_ssize_t i = 1, count = 0;
    if (n < 2 || s[0] != '[' || s[n - 1] != ']') return BAIL;
    if (n == 2) return 0;
    for (;;) {
        if (i >= n - 1 || s[i] != '"') return BAIL;
        Py_ssize_t start = ++i;
        while (i < n - 1 && s[i] != '"') {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x20 || c == '\\') return BAIL;
            i++;
        }
        if (i >= n - 1) return BAIL;
        if (count < max_items) { starts[count] = start; lens[count] = i - start; }
        count++;
        i++; /* closing quote */
        if (i == n - 1) return count;
        if (s[i] != ',') return BAIL;
        i++;
    }
}
