/*
 * strbuf.h - a growable byte buffer, the one place where sizes are computed.
 *
 * Every string the C core builds (URLs, query strings, headers, response bodies)
 * goes through an af_buf. Allocation failure never aborts: it sets `failed`, later
 * appends become no-ops, and the caller checks af_buf_ok() once at the end.
 * The buffer owns `data`; af_buf_free() releases it. `data` is always
 * NUL-terminated when len > 0 or after af_buf_cstr().
 */
#ifndef AIRFLOW_STRBUF_H
#define AIRFLOW_STRBUF_H

#include <stddef.h>

typedef struct af_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit;  /* 0 = no limit; otherwise appends past it fail with `overflow` */
    int failed;    /* allocation failed or limit exceeded: contents are incomplete */
    int overflow;  /* the failure was the limit, not memory */
} af_buf;

/* Initialises an empty buffer (no allocation). `limit` 0 means unlimited. */
void af_buf_init(af_buf *b, size_t limit);
/* Releases the storage and resets the buffer to empty. Safe to call twice. */
void af_buf_free(af_buf *b);
/* Empties the buffer, keeping its storage and clearing the failure flags. */
void af_buf_reset(af_buf *b);
/* Makes room for `extra` more bytes; returns 0 on success, -1 (and sets failed). */
int af_buf_reserve(af_buf *b, size_t extra);

/* Appenders: return 0 on success, -1 when the buffer has failed. */
int af_buf_add(af_buf *b, const void *p, size_t n);
int af_buf_adds(af_buf *b, const char *s);
int af_buf_addc(af_buf *b, char c);
/* Appends the decimal form of a signed integer. */
int af_buf_add_int(af_buf *b, long long v);
/* Appends a number: integral values without a decimal point, others with %.17g. */
int af_buf_add_number(af_buf *b, double v);

/* How af_buf_add_pct treats characters outside the unreserved set. */
enum af_pct_mode {
    AF_PCT_SEGMENT = 0, /* a whole path segment: everything but unreserved is encoded */
    AF_PCT_QUERY = 1    /* a query key or value: the same (so + & = # ; / ? are encoded) */
};
/* Appends bytes percent-encoded (RFC 3986 unreserved characters are kept as is). */
int af_buf_add_pct(af_buf *b, const char *s, size_t n, enum af_pct_mode mode);

/* Returns a NUL-terminated view of the contents ("" for an empty buffer). */
const char *af_buf_cstr(af_buf *b);
/* Non-zero when no append has failed. */
int af_buf_ok(const af_buf *b);
/* Hands the storage to the caller (who frees it with free()) and empties the buffer. */
char *af_buf_detach(af_buf *b, size_t *len);

#endif
