/*
 * builder.h - turns an operation and its arguments into verb, URL and headers.
 *
 * Pure computation, no I/O and no Lua: the binding converts a Lua table into an
 * af_arg array (borrowing its strings), and the fuzzer calls this directly.
 * Validation errors (unknown or missing parameter, wrong type, value not in the
 * enum) come back as AF_ERR_INVALID with a message naming the operation and the
 * parameter, and a close match when the name looks like a typo.
 */
#ifndef AIRFLOW_BUILDER_H
#define AIRFLOW_BUILDER_H

#include <stddef.h>

#include "errors.h"
#include "registry.h"
#include "strbuf.h"

typedef enum af_value_kind {
    AF_V_NULL = 0,   /* JSON null / absent: the parameter is left out */
    AF_V_STRING,
    AF_V_NUMBER,
    AF_V_BOOLEAN,
    AF_V_ARRAY
} af_value_kind;

typedef struct af_value {
    af_value_kind kind;
    const char *str;              /* AF_V_STRING: borrowed bytes, not NUL-terminated */
    size_t len;
    double num;                   /* AF_V_NUMBER */
    int boolean;                  /* AF_V_BOOLEAN */
    const struct af_value *items; /* AF_V_ARRAY: borrowed scalar items */
    size_t nitems;
} af_value;

typedef struct af_arg {
    const char *name;             /* borrowed, not NUL-terminated */
    size_t name_len;
    af_value value;
} af_arg;

typedef struct af_built {
    const char *method;           /* static, from the registry */
    af_buf url;                   /* base URL + encoded path + query */
    af_buf headers;               /* header lines, each "Name: value" followed by '\0' */
    size_t nheaders;
} af_built;

/* Initialises / empties (keeping the storage, for reuse) / frees the output
 * buffers (free is idempotent). */
void af_built_init(af_built *b);
void af_built_reset(af_built *b);
void af_built_free(af_built *b);

/* Builds the request for `op`. base_url is the server root without a trailing
 * slash ("http://host:8080"). has_body says whether the caller will send a body:
 * it adds Content-Type, and a required body that is missing is an error.
 * Returns 0, or -1 with err set (out is then partially filled; free it anyway). */
int af_build(const af_operation *op, const char *base_url, const af_arg *args,
             size_t nargs, int has_body, af_built *out, af_error *err);

/* The parameter of `op` called name, or NULL. */
const af_param *af_find_param(const af_operation *op, const char *name, size_t len);

/* Writes seconds since the epoch as RFC 3339 UTC ("2024-01-01T00:00:00Z", with
 * microseconds when fractional). Returns 0, or -1 when out of range. */
int af_format_datetime(af_buf *b, double seconds);

#endif
