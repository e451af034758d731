/* One result line: parsed, checked, its alert written and the reader's state updated. */
#include "_fast.h"

#include <string.h>

static int read_line(Scanner *self, PyObject *line_obj, Line *ln, PyObject **obj_out) {
    PyObject *obj, *v;
    int present;
    *obj_out = NULL;
    obj = PyObject_CallOneArg(self->loads, line_obj);
    if (!obj) { PyErr_Clear(); return BAIL; } /* the Python path names the error */
    *obj_out = obj;
    if (!PyDict_CheckExact(obj)) return BAIL;
    if (table_read(&self->top, obj, ln->top) < 0) return -1;
    v = ln->top[T_NAME];
    if (!v || !PyUnicode_CheckExact(v)) return BAIL;
    ln->name = v;
    ln->spec = PyDict_GetItemWithError(self->rules, v);
    if (!ln->spec) {
        if (PyErr_Occurred()) return -1;
        PyObject *spec = PyObject_CallOneArg(self->resolve, v);
        if (!spec) return -1;
        int bad = PyDict_SetItem(self->rules, v, spec);
        Py_DECREF(spec); /* the dict holds it */
        if (bad < 0) return -1;
        ln->spec = spec;
    }
    if (ln->spec == Py_None) return BAIL;
    if (!PyTuple_CheckExact(ln->spec) || PyTuple_GET_SIZE(ln->spec) != 6) {
        PyErr_SetString(PyExc_TypeError, "a rule spec is a 6-tuple");
        return -1;
    }
    if ((v = ln->top[T_DIFF]) && v != Py_None) return BAIL;
    if ((v = ln->top[T_SNAPSHOT]) && v != Py_None) return BAIL;
    v = ln->top[T_COLUMNS];
    if (!v || !PyDict_CheckExact(v)) return BAIL;
    ln->row = v;
    v = ln->top[T_ACTION];
    if (!v || !PyUnicode_CheckExact(v)) return BAIL;
    if (PyUnicode_Compare(v, S_added) == 0) ln->is_added = 1;
    else if (PyUnicode_Compare(v, S_snapshot) == 0) ln->is_added = 0;
    else return BAIL; /* "removed" rows are counted by the Python path */
    ln->action = v;
    v = ln->top[T_DECORATIONS];
    if (!v || !PyDict_CheckExact(v)) return BAIL;
    ln->dec = v;
    if (table_read(&self->dec, ln->dec, ln->decv) < 0) return -1;
    /* host: decorations.hostname, else hostIdentifier; id: host_uuid, else uuid */
    if (text_of(ln->decv[D_HOSTNAME], &ln->host_name) != 0) return BAIL;
    if (!ln->host_name && text_of(ln->top[T_HOST_IDENTIFIER], &ln->host_name) != 0) return BAIL;
    if (text_of(ln->decv[D_HOST_UUID], &ln->host_id) != 0) return BAIL;
    if (!ln->host_id && text_of(ln->decv[D_UUID], &ln->host_id) != 0) return BAIL;
    if (as_int(ln->top[T_UNIX_TIME], &ln->unix_time, &present) != 0 || !present) return BAIL;
    if (ln->unix_time < 0 || ln->unix_time > MAX_TIME) return BAIL;
    if (as_int(ln->top[T_EPOCH], &ln->epoch, &ln->has_epoch) != 0) return BAIL;
    if (as_int(ln->top[T_COUNTER], &ln->counter, &ln->has_counter) != 0) return BAIL;
    if (table_read(&self->row, ln->row, ln->vals) < 0) return -1;
    /* the hit's identity and time */
    v = column(self, ln, C_EVENT_ID);
    if (is_empty(v) || !PyUnicode_CheckExact(v)) return BAIL; /* identity by content: Python */
    ln->event_id = v;
    v = column(self, ln, C_TIME);
    long long t = 0;
    if (!is_empty(v) && (as_int(v, &t, &present) != 0 || t < 0 || t > MAX_TIME)) return BAIL;
    ln->seen_at = t ? t : ln->unix_time;
    return 0;
}

static int put_original_time(Scanner *self, Buf *b, Line *ln) {
    PyObject *v = column(self, ln, C_TIMESTAMP);
    if (!is_empty(v)) {
        if (!PyUnicode_CheckExact(v)) return BAIL;
        return put_json_str(b, v);
    }
    v = column(self, ln, C_TIME);
    if (!is_empty(v)) { /* read_line checked it */
        long long t;
        int present;
        if (as_int(v, &t, &present) != 0) return BAIL;
        return put_iso(b, t);
    }
    return put_iso(b, ln->unix_time);
}

static int put_osquery(Scanner *self, Buf *b, Line *ln) {
    int r;
    if (PUTS(b, ",\"osquery\":{\"name\":") < 0) return -1;
    if ((r = put_json_str(b, ln->name)) != 0) return r;
    if (PUTS(b, ",\"action\":") < 0) return -1;
    if ((r = put_json_str(b, ln->action)) != 0) return r;
    if (PUTS(b, ",\"epoch\":") < 0) return -1;
    if ((ln->has_epoch ? put_i64(b, ln->epoch) : PUTS(b, "null")) < 0) return -1;
    if (PUTS(b, ",\"counter\":") < 0) return -1;
    if ((ln->has_counter ? put_i64(b, ln->counter) : PUTS(b, "null")) < 0) return -1;
    if (PUTS(b, ",\"unix_time\":") < 0 || put_i64(b, ln->unix_time) < 0) return -1;
    if (PUTS(b, ",\"decorations\":") < 0) return -1;
    /* the same host's decorations repeat line after line: encode them once */
    int same = self->last_dec ? PyObject_RichCompareBool(ln->dec, self->last_dec, Py_EQ) : 0;
    if (same < 0) return -1;
    if (!same) {
        PyObject *json = PyObject_CallOneArg(self->dumps, ln->dec);
        if (!json) { PyErr_Clear(); return BAIL; }
        if (!PyBytes_Check(json)) { Py_DECREF(json); return BAIL; }
        Py_XSETREF(self->last_dec_json, json);
        Py_INCREF(ln->dec);
        Py_XSETREF(self->last_dec, ln->dec);
    }
    if (put(b, PyBytes_AS_STRING(self->last_dec_json), PyBytes_GET_SIZE(self->last_dec_json)) < 0)
        return -1;
    return PUTS(b, "}}\n");
}

int refresh_seen(State *st) {
    PyObject *seen = PyObject_GetAttr(st->state, S_seen);
    if (!seen) return -1;
    if (!PyDict_Check(seen)) {
        Py_DECREF(seen);
        PyErr_SetString(PyExc_TypeError, "state.seen is not a dict");
        return -1;
    }
    Py_XSETREF(st->seen, seen);
    return 0;
}

/* A clock attribute of the state, clamped to 64 bits (Python's ints are not). */
int get_long_attr(PyObject *obj, PyObject *name, long long *out) {
    int overflow;
    PyObject *v = PyObject_GetAttr(obj, name);
    if (!v) return -1;
    *out = PyLong_AsLongLongAndOverflow(v, &overflow);
    Py_DECREF(v);
    if (*out == -1 && PyErr_Occurred()) return -1;
    if (overflow) *out = overflow > 0 ? LLONG_MAX : LLONG_MIN;
    return 0;
}

/* ReaderState.advance: the log's clock moves on; Python sweeps expired ids when one is due. */
static int advance(State *st, long long unix_time) {
    if (unix_time <= st->newest) return 0;
    st->newest = unix_time;
    st->moved = 1;
    if (unix_time < st->prune_at) return 0;
    PyObject *res = PyObject_CallMethod(st->state, "advance", "L", unix_time);
    if (!res) return -1;
    Py_DECREF(res);
    st->moved = 0; /* advance() set it */
    if (get_long_attr(st->state, S_prune_at, &st->prune_at) < 0) return -1;
    return refresh_seen(st);
}

/* LineInfo.run, "epoch/counter@unixTime" ("None" for a missing number), reused while the
 * lines of one scheduled run go by. */
static PyObject *run_of(Scanner *self, const Line *ln) {
    long long nums[5] = {ln->has_epoch, ln->epoch, ln->has_counter, ln->counter, ln->unix_time};
    if (self->last_run && memcmp(nums, self->last_run_nums, sizeof nums) == 0)
        return Py_NewRef(self->last_run);
    Buf b;
    if (buf_init(&b, 80) < 0) return NULL;
    if ((ln->has_epoch ? put_i64(&b, ln->epoch) : PUTS(&b, "None")) < 0 || PUTS(&b, "/") < 0 ||
        (ln->has_counter ? put_i64(&b, ln->counter) : PUTS(&b, "None")) < 0 ||
        PUTS(&b, "@") < 0 || put_i64(&b, ln->unix_time) < 0) {
        Py_XDECREF(b.obj);
        return NULL;
    }
    PyObject *run = PyUnicode_FromStringAndSize(PyBytes_AS_STRING(b.obj), b.len);
    Py_DECREF(b.obj);
    if (!run) return NULL;
    memcpy(self->last_run_nums, nums, sizeof nums);
    Py_XSETREF(self->last_run, Py_NewRef(run));
    return run;
}

/* "rule_id\x1fhost" (the max_signals key and the start of the alert id's text), reused. */
static PyObject *run_key_of(Scanner *self, PyObject *rule_id, PyObject *host_key) {
    if (self->last_run_key && self->last_rule_id == rule_id) {
        int same = PyUnicode_Compare(self->last_host_key, host_key) == 0;
        if (same) return Py_NewRef(self->last_run_key);
        if (PyErr_Occurred()) return NULL;
    }
    PyObject *key = PyUnicode_FromFormat("%U\037%U", rule_id, host_key);
    if (!key) return NULL;
    Py_ssize_t n;
    const char *utf8 = PyUnicode_AsUTF8AndSize(key, &n);
    if (!utf8) {
        Py_DECREF(key);
        return NULL;
    }
    sha256_init(&self->id_prefix);
    sha256_update(&self->id_prefix, utf8, n);
    sha256_update(&self->id_prefix, "\037event.id:", 10);
    Py_XSETREF(self->last_rule_id, Py_NewRef(rule_id));
    Py_XSETREF(self->last_host_key, Py_NewRef(host_key));
    Py_XSETREF(self->last_run_key, Py_NewRef(key));
    return key;
}

static int write_alert(Scanner *self, Buf *out, Line *ln, const char hex[64]) {
    int r = 0;
    PyObject *head = PyTuple_GET_ITEM(ln->spec, 4), *reason_host = ln->host_name;
    if (self->bulk_head != Py_None) {
        if (put(out, PyBytes_AS_STRING(self->bulk_head), PyBytes_GET_SIZE(self->bulk_head)) < 0 ||
            PUTS(out, "\"") < 0 || put(out, hex, 64) < 0 || PUTS(out, "\"}}\n") < 0)
            return -1;
    }
    if (PUTS(out, "{\"@timestamp\":") < 0) return -1;
    if ((r = put_iso(out, ln->unix_time)) != 0) return r;
    if (put(out, PyBytes_AS_STRING(head), PyBytes_GET_SIZE(head)) < 0) return -1;
    if (PUTS(out, "\"kibana.alert.original_time\":") < 0) return -1;
    if ((r = put_original_time(self, out, ln)) != 0) return r;
    if (!reason_host && self->host_name_slot >= 0) { /* host.name as the document has it */
        PyObject *v = ln->vals[self->host_name_slot];
        if (!is_empty(v)) {
            if (!PyUnicode_CheckExact(v)) return BAIL;
            reason_host = v;
        }
    }
    if (PUTS(out, ",\"kibana.alert.reason\":") < 0) return -1;
    if ((r = write_reason(self, out, ln, reason_host)) != 0) return r;
    if (PUTS(out, ",\"kibana.alert.uuid\":\"") < 0 || put(out, hex, 64) < 0 || PUTS(out, "\"") < 0)
        return -1;
    if ((r = write_doc(self, out, ln, ln->host_name)) != 0) return r;
    return put_osquery(self, out, ln);
}

/* ReaderState.admit's bookkeeping after the alert is written: [run, made, dropped]. */
static int admit(PyObject *runs, PyObject *run_key, PyObject *run, PyObject *entry, Py_ssize_t made) {
    if (entry) {
        PyObject *m = PyLong_FromSsize_t(made + 1);
        return m ? PyList_SetItem(entry, 1, m) : -1; /* steals m, drops the old count */
    }
    PyObject *fresh = Py_BuildValue("[Onn]", run, (Py_ssize_t)1, (Py_ssize_t)0);
    if (!fresh) return -1;
    int r = PyDict_SetItem(runs, run_key, fresh);
    Py_DECREF(fresh);
    return r;
}

/* 0: the line is done (alert written, or a duplicate); BAIL: the Python path takes it. */
int handle_line(Scanner *self, State *st, const char *s, Py_ssize_t n, Buf *out) {
    Line ln;
    PyObject *obj = NULL, *mv = NULL, *run_key = NULL, *uuid = NULL, *run = NULL, *expiry = NULL;
    PyObject *entry;
    Py_ssize_t mark = out->len, made = 0;
    int r;
    char hex[64];
    memset(&ln, 0, offsetof(Line, top)); /* the key tables fill the rest as they read */
    if (n > self->max_line) return BAIL;
    mv = PyMemoryView_FromMemory((char *)s, n, PyBUF_READ);
    if (!mv) return -1;
    if ((r = read_line(self, mv, &ln, &obj)) != 0) goto done;
    /* kibana.alert.uuid = sha256("rule_id\x1fhost\x1fevent.id:ID"), as the Python reader */
    PyObject *host_key = ln.host_id ? ln.host_id : (ln.host_name ? ln.host_name : S_empty);
    if (!(run_key = run_key_of(self, PyTuple_GET_ITEM(ln.spec, 1), host_key))) {
        r = -1;
        goto done;
    }
    {
        Py_ssize_t n;
        const char *id = PyUnicode_AsUTF8AndSize(ln.event_id, &n);
        if (!id) { PyErr_Clear(); r = BAIL; goto done; }
        Sha256 c = self->id_prefix; /* run_key_of left it for this run_key */
        sha256_update(&c, id, n);
        sha256_hex(&c, hex);
    }
    if (!(uuid = PyUnicode_FromStringAndSize(hex, 64))) { r = -1; goto done; }
    if ((r = advance(st, ln.unix_time)) != 0) goto done;
    if ((r = PyDict_Contains(st->seen, uuid)) < 0) goto done;
    if (r == 1) {
        self->duplicates++;
        r = 0;
        goto counted;
    }
    if (!(run = run_of(self, &ln))) { r = -1; goto done; }
    entry = PyDict_GetItemWithError(st->runs, run_key);
    if (!entry && PyErr_Occurred()) { r = -1; goto done; }
    if (entry) {
        if (!PyList_CheckExact(entry) || PyList_GET_SIZE(entry) != 3) { r = BAIL; goto done; }
        if ((r = PyObject_RichCompareBool(PyList_GET_ITEM(entry, 0), run, Py_EQ)) < 0) goto done;
        if (r == 0) entry = NULL; /* a new run: counting starts again */
        else {
            made = PyLong_AsSsize_t(PyList_GET_ITEM(entry, 1));
            if (made == -1 && PyErr_Occurred()) { PyErr_Clear(); r = BAIL; goto done; }
            if (made >= PyLong_AsSsize_t(PyTuple_GET_ITEM(ln.spec, 2))) { r = BAIL; goto done; }
        }
    }
    if ((r = write_alert(self, out, &ln, hex)) != 0) goto done;
    /* commit: from here on the line is ours */
    {
        long long horizon = PyLong_AsLongLong(PyTuple_GET_ITEM(ln.spec, 3));
        long long at = ln.seen_at > ln.unix_time ? ln.seen_at : ln.unix_time;
        if (horizon == -1 && PyErr_Occurred()) { r = -1; goto done; }
        if (!(expiry = PyLong_FromLongLong(at + horizon))) { r = -1; goto done; }
    }
    if ((r = admit(st->runs, run_key, run, entry, made)) < 0) goto done;
    if ((r = PyDict_SetItem(st->seen, uuid, expiry)) < 0) goto done;
    {
        Py_ssize_t index = PyLong_AsSsize_t(PyTuple_GET_ITEM(ln.spec, 0));
        if (index < 0 || index >= self->n_rules) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "rule index out of range");
            r = -1;
            goto done;
        }
        self->alerts[index]++;
    }
counted:
    self->candidates++;
    self->parsed++;
    if (ln.is_added) self->added++;
    else self->snapshot++;
    r = 0;
done:
    if (r != 0) out->len = mark;
    Py_XDECREF(obj);
    Py_XDECREF(mv);
    Py_XDECREF(run_key);
    Py_XDECREF(uuid);
    Py_XDECREF(run);
    Py_XDECREF(expiry);
    return r;
}
