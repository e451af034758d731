/* The alert's document (the nester's, from the plan) and its reason sentence (_fast.h). */
#include "_fast.h"

typedef struct {
    int opened;
    Py_ssize_t members;
    const Op *op;
} Frame;

static int open_frames(Buf *b, Frame *stack, int depth) {
    for (int d = 1; d <= depth; d++) {
        if (stack[d].opened) continue;
        if (stack[d - 1].members++ && PUTS(b, ",") < 0) return -1;
        if (put(b, stack[d].op->key, stack[d].op->keylen) < 0 || PUTS(b, "{") < 0) return -1;
        stack[d].opened = 1;
        stack[d].members = 0;
    }
    return 0;
}

static int member(Buf *b, Frame *f, const char *key, Py_ssize_t keylen) {
    if (f->members++ && PUTS(b, ",") < 0) return -1;
    return put(b, key, keylen);
}

static int host_tail(Buf *b, Frame *f, PyObject *host_name, PyObject *name_col, int name_done,
                     PyObject *host_id) {
    int r;
    if (host_name && !name_done) {
        if (member(b, f, KEY("\"name\":")) < 0) return -1;
        if ((r = put_json_str(b, host_name)) != 0) return r;
    }
    PyObject *hostname = host_name ? host_name : (name_done ? name_col : NULL);
    if (hostname) {
        if (member(b, f, KEY("\"hostname\":")) < 0) return -1;
        if ((r = put_json_str(b, hostname)) != 0) return r;
    }
    if (host_id) {
        if (member(b, f, KEY("\"id\":")) < 0) return -1;
        if ((r = put_json_str(b, host_id)) != 0) return r;
    }
    return 0;
}

/* One column's value as the nester converts it, read once. */
typedef struct {
    int kind;
    long long number; /* K_LONG; K_BOOL as 0 or 1 */
    const char *text; /* K_STR, K_ARRAY (already as orjson writes it): UTF-8 */
    Py_ssize_t len;
} Value;

/* 1 when the nester leaves the value out, 0 when *out is what it writes, BAIL when Python must
 * decide. */
static int read_value(const Op *op, PyObject *v, Value *out) {
    int overflow;
    Py_ssize_t start, len;
    out->kind = op->kind;
    if (is_empty(v)) return 1;
    switch (op->kind) {
    case K_LONG:
        if (PyLong_CheckExact(v)) {
            out->number = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (out->number == -1 && PyErr_Occurred()) { PyErr_Clear(); return BAIL; }
            return overflow != 0; /* beyond 64 bits: left out, as an ECS long */
        }
        if (!PyUnicode_CheckExact(v)) return BAIL;
        if (!(out->text = PyUnicode_AsUTF8AndSize(v, &out->len))) { PyErr_Clear(); return BAIL; }
        if (parse_int(out->text, out->len, &out->number, &overflow) != 0) return BAIL;
        return overflow;
    case K_BOOL:
        if (PyLong_CheckExact(v)) { /* --logger_numerics: the nester's str(v) in ("1", "true") */
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (x == -1 && PyErr_Occurred()) { PyErr_Clear(); return BAIL; }
            out->number = x == 1 && !overflow;
            return 0;
        }
        if (!PyUnicode_CheckExact(v) || PyUnicode_GET_LENGTH(v) != 1) return BAIL;
        switch (PyUnicode_READ_CHAR(v, 0)) {
        case '1': out->number = 1; return 0;
        case '0': out->number = 0; return 0;
        default: return BAIL;
        }
    default: /* K_STR, K_ARRAY */
        if (!PyUnicode_CheckExact(v)) return BAIL;
        if (!(out->text = PyUnicode_AsUTF8AndSize(v, &out->len))) { PyErr_Clear(); return BAIL; }
        if (op->kind == K_STR) return 0;
        Py_ssize_t count = simple_array(out->text, out->len, &start, &len, 1);
        return count == BAIL ? BAIL : count == 0; /* [] counts as missing */
    }
}

static int put_value(Buf *b, const Value *v) {
    switch (v->kind) {
    case K_LONG: return put_i64(b, v->number);
    case K_BOOL: return v->number ? PUTS(b, "true") : PUTS(b, "false");
    case K_ARRAY: return put(b, v->text, v->len);
    default: return put_json_utf8(b, v->text, v->len);
    }
}

int write_doc(Scanner *self, Buf *b, Line *ln, PyObject *host_name) {
    Frame stack[MAX_DEPTH + 1];
    int depth = 0, r, host_done = 0, event_done = 0, name_done = 0;
    PyObject *name_col = NULL;
    stack[0].opened = 1;
    stack[0].members = 1; /* the alert's own fields come first */
    stack[0].op = NULL;
    for (Py_ssize_t i = 0; i < self->n_ops; i++) {
        const Op *op = &self->ops[i];
        if (op->op == OP_OPEN) {
            depth++;
            stack[depth].opened = 0;
            stack[depth].members = 0;
            stack[depth].op = op;
            continue;
        }
        if (op->op == OP_CLOSE) {
            Frame *f = &stack[depth];
            if (f->opened) {
                if (f->op->hook == HOOK_HOST) {
                    host_done = 1;
                    if ((r = host_tail(b, f, host_name, name_col, name_done, ln->host_id)) != 0)
                        return r;
                } else if (f->op->hook == HOOK_EVENT) {
                    event_done = 1;
                    if (member(b, f, KEY("\"kind\":\"signal\"")) < 0) return -1;
                }
                if (PUTS(b, "}") < 0) return -1;
            }
            depth--;
            continue;
        }
        PyObject *v = ln->vals[op->slot];
        Value value;
        if ((r = read_value(op, v, &value)) == 1) continue;
        if (r != 0) return r;
        if (open_frames(b, stack, depth) < 0) return -1;
        if (member(b, &stack[depth], op->key, op->keylen) < 0) return -1;
        if (op->host_name) {
            name_done = 1;
            name_col = v;
            if (host_name) {
                if ((r = put_json_str(b, host_name)) != 0) return r;
                continue;
            }
        }
        if (put_value(b, &value) < 0) return -1;
    }
    if (!host_done) { /* the Python path adds "host" at the end of the document */
        Frame f = {1, 0, NULL};
        if (PUTS(b, ",\"host\":{") < 0) return -1;
        if ((r = host_tail(b, &f, host_name, NULL, 0, ln->host_id)) != 0) return r;
        if (PUTS(b, "}") < 0) return -1;
    }
    if (!event_done && PUTS(b, ",\"event\":{\"kind\":\"signal\"}") < 0) return -1;
    return 0;
}

/* alert._reason_start + the rule's ending, from the row (values as the nester makes them). */
int write_reason(Scanner *self, Buf *b, Line *ln, PyObject *host_name) {
    Buf t;
    int r = 0;
    PyObject *v;
    PyObject *pname = NULL, *ppname = NULL, *uname = NULL;
    if (buf_init(&t, 256) < 0) return -1;
#define GET(which, dst)                                                                        \
    do {                                                                                       \
        dst = NULL;                                                                            \
        v = column(self, ln, which);                                                           \
        if (!is_empty(v)) {                                                                    \
            if (!PyUnicode_CheckExact(v)) { r = BAIL; goto done; }                             \
            dst = v;                                                                           \
        }                                                                                      \
    } while (0)
    /* category */
    GET(C_CATEGORY, v);
    if (v) {
        Py_ssize_t n, starts[16], lens[16];
        const char *s = PyUnicode_AsUTF8AndSize(v, &n);
        if (!s) { PyErr_Clear(); r = BAIL; goto done; }
        Py_ssize_t count = simple_array(s, n, starts, lens, 16);
        if (count == BAIL || count > 16) { r = BAIL; goto done; }
        Py_ssize_t written = 0;
        for (Py_ssize_t i = 0; i < count; i++) {
            if (i && PUTS(&t, ", ") < 0) { r = -1; goto done; }
            if (put(&t, s + starts[i], lens[i]) < 0) { r = -1; goto done; }
            written += lens[i] + (i ? 2 : 0);
        }
        if (written && PUTS(&t, " ") < 0) { r = -1; goto done; }
    }
    if (PUTS(&t, "event") < 0) { r = -1; goto done; }
    GET(C_PNAME, pname);
    GET(C_PPNAME, ppname);
    GET(C_UNAME, uname);
    if (pname) {
        if (PUTS(&t, " with process ") < 0 || (r = put_text(&t, pname)) != 0) goto fail;
        if (PUTS(&t, ",") < 0) { r = -1; goto done; }
        if (ppname) {
            if (PUTS(&t, " parent process ") < 0 || (r = put_text(&t, ppname)) != 0) goto fail;
            if (PUTS(&t, ",") < 0) { r = -1; goto done; }
        }
    } else if (ppname) {
        if (PUTS(&t, " with parent process ") < 0 || (r = put_text(&t, ppname)) != 0) goto fail;
        if (PUTS(&t, ",") < 0) { r = -1; goto done; }
    }
    if (uname && (PUTS(&t, " by ") < 0 || (r = put_text(&t, uname)) != 0)) goto fail;
    if (host_name && (PUTS(&t, " on ") < 0 || (r = put_text(&t, host_name)) != 0)) goto fail;
    if ((r = put_text(&t, PyTuple_GET_ITEM(ln->spec, 5))) != 0) goto fail;
    r = put_json_utf8(b, PyBytes_AS_STRING(t.obj), t.len);
    goto done;
fail:
    if (r == 0) r = -1;
done:
#undef GET
    Py_XDECREF(t.obj);
    return r;
}
