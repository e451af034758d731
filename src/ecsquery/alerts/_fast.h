/*
 * Shared declarations of the alert reader's C scanner (the ecsquery.alerts._fast module).
 * _fast.c says why it exists and what it may do; each _fast_*.c file holds one part:
 * _fast_json.c the output buffer and JSON text, _fast_sha256.c the alert id's hash,
 * _fast_values.c reading osquery's values and the key tables, _fast_doc.c the alert's document
 * and reason, _fast_line.c one result line from parse to written alert.
 */
#ifndef ECSQUERY_FAST_H
#define ECSQUERY_FAST_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#define BAIL (-2) /* not for the fast path: no exception set, no side effect */
#define MAX_DEPTH 8
#define MAX_SLOTS 256
#define MAX_TIME 253402300799LL /* 9999-12-31T23:59:59Z, the last time Python's strftime gives */

/* ---- output buffer and JSON text (_fast_json.c) */

typedef struct {
    PyObject *obj; /* a bytes object grown in place: no copy when it is returned */
    Py_ssize_t len, cap;
} Buf;

int buf_init(Buf *b, Py_ssize_t cap);
int buf_grow(Buf *b, Py_ssize_t need);

#define RESERVE(b, n) ((b)->len + (n) <= (b)->cap || buf_grow((b), (n)) == 0)
#define END(b) (PyBytes_AS_STRING((b)->obj) + (b)->len)

static inline int put(Buf *b, const char *s, Py_ssize_t n) {
    if (!RESERVE(b, n)) return -1;
    memcpy(END(b), s, n);
    b->len += n;
    return 0;
}

#define PUTS(b, lit) put((b), (lit), (Py_ssize_t)sizeof(lit) - 1)
#define KEY(lit) (lit), ((Py_ssize_t)sizeof(lit) - 1)

extern const char HEX[];
int put_json_utf8(Buf *b, const char *s, Py_ssize_t n);
int put_json_str(Buf *b, PyObject *str);
int put_text(Buf *b, PyObject *str);
int put_i64(Buf *b, long long v);
int put_iso(Buf *b, long long t);

/* ---- sha256 (_fast_sha256.c) */

typedef struct {
    uint32_t h[8];
    unsigned char block[64];
    size_t fill;
    uint64_t total;
} Sha256;

void sha256_init(Sha256 *c);
void sha256_update(Sha256 *c, const char *data, Py_ssize_t n);
void sha256_hex(Sha256 *c, char out[64]);

/* ---- osquery's values and the key tables (_fast_values.c) */

static inline int is_empty(PyObject *v) {
    return v == NULL || v == Py_None || (PyUnicode_CheckExact(v) && PyUnicode_GET_LENGTH(v) == 0);
}

int parse_int(const char *s, Py_ssize_t n, long long *out, int *overflow);
int as_int(PyObject *v, long long *out, int *present);
int text_of(PyObject *v, PyObject **out);
Py_ssize_t simple_array(const char *s, Py_ssize_t n, Py_ssize_t *starts, Py_ssize_t *lens,
                        Py_ssize_t max_items);

/* The keys one kind of dict (a line, its decorations, its columns) is read by, and one pass
 * over such a dict that sets vals[slot] for every key it has (NULL: absent). A pass costs
 * less than a lookup per key: orjson hands out the same key objects line after line (its key
 * cache), so each slot remembers the last object seen and most keys match by pointer. */
typedef struct {
    Py_ssize_t n, mask;
    PyObject **names, **seen; /* strong refs */
    Py_hash_t *hashes;
    int *table; /* open addressing: slot or -1 */
} KeyTable;

void table_free(KeyTable *t);
int table_slot(KeyTable *t, PyObject *name, Py_ssize_t capacity);
int table_slot_str(KeyTable *t, const char *name, Py_ssize_t capacity);
int table_seal(KeyTable *t);
int table_read(KeyTable *t, PyObject *dict, PyObject **vals);

/* ---- the plan, the scanner and one line */

enum { OP_OPEN, OP_FIELD, OP_CLOSE };
enum { K_STR, K_LONG, K_BOOL, K_ARRAY };
enum { HOOK_NONE, HOOK_HOST, HOOK_EVENT };

enum { T_NAME, T_COLUMNS, T_ACTION, T_DIFF, T_SNAPSHOT, T_DECORATIONS, T_HOST_IDENTIFIER,
       T_UNIX_TIME, T_EPOCH, T_COUNTER, T_N };
enum { D_HOSTNAME, D_HOST_UUID, D_UUID, D_N };
/* the columns the alert's own fields read (fast.py passes their names in this order) */
enum { C_TIME, C_TIMESTAMP, C_EVENT_ID, C_CATEGORY, C_PNAME, C_PPNAME, C_UNAME, C_N };

typedef struct {
    int op, kind, hook, host_name, slot;
    PyObject *column; /* str: the row key (OP_FIELD) */
    char *key;        /* '"key":' */
    Py_ssize_t keylen;
} Op;

typedef struct {
    PyObject_HEAD
    PyObject *marker, *loads, *dumps, *resolve, *rules, *bulk_head;
    KeyTable top, dec, row;
    int col[C_N], host_name_slot; /* row slots, -1 where the table has no such column */
    Op *ops;
    Py_ssize_t n_ops, max_line, n_rules;
    long long *alerts;
    long long candidates, parsed, added, snapshot, duplicates;
    PyObject *last_dec, *last_dec_json;  /* decorations repeat line after line */
    PyObject *last_rule_id, *last_host_key, *last_run_key;
    Sha256 id_prefix; /* the alert id's hash after "rule_id\x1fhost\x1fevent.id:" */
    PyObject *last_run;
    long long last_run_nums[5];
} Scanner;

/* What one line gives, before anything is written or counted. */
typedef struct {
    PyObject *name, *action, *row, *dec, *host_name, *host_id, *event_id, *spec;
    long long unix_time, epoch, counter, seen_at;
    int has_epoch, has_counter, is_added;
    PyObject *top[T_N], *decv[D_N], *vals[MAX_SLOTS];
} Line;

static inline PyObject *column(const Scanner *self, const Line *ln, int which) {
    return self->col[which] < 0 ? NULL : ln->vals[self->col[which]];
}

/* The state the Python reader keeps (alerts.state.ReaderState), held for one scan() call. */
typedef struct {
    PyObject *state, *seen, *runs;
    long long newest, prune_at; /* newest is written back when scan() returns */
    int moved;
} State;

extern PyObject *S_snapshot, *S_added, *S_seen, *S_runs, *S_newest, *S_prune_at, *S_empty;

/* _fast_doc.c */
int write_doc(Scanner *self, Buf *b, Line *ln, PyObject *host_name);
int write_reason(Scanner *self, Buf *b, Line *ln, PyObject *host_name);

/* _fast_line.c */
int refresh_seen(State *st);
int get_long_attr(PyObject *obj, PyObject *name, long long *out);
int handle_line(Scanner *self, State *st, const char *s, Py_ssize_t n, Buf *out);

#endif
