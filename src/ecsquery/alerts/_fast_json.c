/* The output buffer and JSON text exactly as orjson writes it (_fast.h). */
#include "_fast.h"

#include <string.h>
#include <time.h>

const char HEX[] = "0123456789abcdef";

int buf_init(Buf *b, Py_ssize_t cap) {
    b->obj = PyBytes_FromStringAndSize(NULL, cap);
    b->len = 0;
    b->cap = cap;
    return b->obj ? 0 : -1;
}

int buf_grow(Buf *b, Py_ssize_t need) {
    Py_ssize_t cap = b->cap;
    while (cap < b->len + need) cap *= 2;
    if (_PyBytes_Resize(&b->obj, cap) < 0) return -1;
    b->cap = cap;
    return 0;
}

/* A JSON string as orjson writes it: only '"', '\\' and controls escaped, UTF-8 as is. */
int put_json_utf8(Buf *b, const char *s, Py_ssize_t n) {
    if (!RESERVE(b, n * 6 + 2)) return -1;
    char *d = END(b);
    *d++ = '"';
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *d++ = (char)c;
            continue;
        }
        *d++ = '\\';
        switch (c) {
        case '"': *d++ = '"'; break;
        case '\\': *d++ = '\\'; break;
        case '\b': *d++ = 'b'; break;
        case '\f': *d++ = 'f'; break;
        case '\n': *d++ = 'n'; break;
        case '\r': *d++ = 'r'; break;
        case '\t': *d++ = 't'; break;
        default:
            *d++ = 'u'; *d++ = '0'; *d++ = '0';
            *d++ = HEX[c >> 4]; *d++ = HEX[c & 15];
        }
    }
    *d++ = '"';
    b->len = d - PyBytes_AS_STRING(b->obj);
    return 0;
}

int put_json_str(Buf *b, PyObject *str) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(str, &n);
    if (!s) { /* a lone surrogate: orjson refuses it too, so the Python path decides */
        PyErr_Clear();
        return BAIL;
    }
    return put_json_utf8(b, s, n);
}

int put_text(Buf *b, PyObject *str) {
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(str, &n);
    if (!s) { PyErr_Clear(); return BAIL; }
    return put(b, s, n);
}

int put_i64(Buf *b, long long v) {
    char tmp[24], *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do { *--p = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *--p = '-';
    return put(b, p, tmp + sizeof tmp - p);
}

static void two(char *d, int v) { d[0] = (char)('0' + v / 10); d[1] = (char)('0' + v % 10); }

/* Elastic's date form, as alert.iso_time writes it; t must be within [0, MAX_TIME]. */
int put_iso(Buf *b, long long t) {
    struct tm tm;
    time_t tt = (time_t)t;
    char d[] = "\"YYYY-MM-DDTHH:MM:SS.000Z\"";
    if (!gmtime_r(&tt, &tm)) return BAIL;
    int year = tm.tm_year + 1900;
    two(d + 1, year / 100);
    two(d + 3, year % 100);
    two(d + 6, tm.tm_mon + 1);
    two(d + 9, tm.tm_mday);
    two(d + 12, tm.tm_hour);
    two(d + 15, tm.tm_min);
    two(d + 18, tm.tm_sec);
    return put(b, d, (Py_ssize_t)sizeof d - 1);
}
