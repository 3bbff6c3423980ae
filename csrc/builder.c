/* builder.c - arguments -> method, URL and headers, with validation. */
#include "builder.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void af_built_init(af_built *b)
{
    b->method = NULL;
    af_buf_init(&b->url, 0);
    af_buf_init(&b->headers, 0);
    b->nheaders = 0;
}

void af_built_reset(af_built *b)
{
    b->method = NULL;
    af_buf_reset(&b->url);
    af_buf_reset(&b->headers);
    b->nheaders = 0;
}

void af_built_free(af_built *b)
{
    af_buf_free(&b->url);
    af_buf_free(&b->headers);
    b->nheaders = 0;
}

const af_param *af_find_param(const af_operation *op, const char *name, size_t len)
{
    unsigned i;
    for (i = 0; i < op->nparams; i++) {
        const char *p = op->params[i].name;
        if (strlen(p) == len && memcmp(p, name, len) == 0)
            return &op->params[i];
    }
    return NULL;
}

static const af_arg *find_arg(const af_arg *args, size_t nargs, const char *name)
{
    size_t i, len = strlen(name);
    for (i = 0; i < nargs; i++)
        if (args[i].name_len == len && memcmp(args[i].name, name, len) == 0)
            return &args[i];
    return NULL;
}

/* Edit distance, capped: names are short, and we only care about small distances.
 * Optimal string alignment, like airflow.suggest: swapping two adjacent characters
 * counts as one edit, as do an insertion, a deletion and a substitution. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
    size_t rows[3][64], *prev2 = rows[0], *prev = rows[1], *row = rows[2], *t, i, j;
    if (la >= 63 || lb >= 63)
        return 99;
    for (j = 0; j <= lb; j++)
        prev[j] = j;
    for (i = 1; i <= la; i++) {
        row[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t best = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && prev2[j - 2] + 1 < best)
                best = prev2[j - 2] + 1;
            row[j] = best;
        }
        t = prev2;
        prev2 = prev;
        prev = row;
        row = t;
    }
    return prev[lb];
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writes the parameter names (or "body") equally closest to `name` into out as
 * "'a'", "'a' or 'b'" or "'a', 'b' or 'c'", sorted, as airflow.suggest does (at most
 * a third of the name's length plus one edit away). Returns how many there are; 0
 * leaves out empty. Truncated to fit `size`. */
static int closest_params(const af_operation *op, const char *name, size_t len, char *out, size_t size)
{
    const char *found[64];
    size_t limit = len / 3 + 1, best = limit + 1, d, used = 0;
    int n = 0, k;
    unsigned i;

    out[0] = '\0';
    for (i = 0; i <= op->nparams; i++) {
        const char *cand = i < op->nparams ? op->params[i].name : (op->body ? "body" : NULL);
        if (!cand)
            continue;
        d = edit_distance(name, len, cand, strlen(cand));
        if (d > limit)
            continue;
        if (d < best) {
            best = d;
            n = 0;
        }
        if (d == best && n < 64)
            found[n++] = cand;
    }
    qsort(found, (size_t)n, sizeof found[0], cmp_names);
    for (k = 0; k < n; k++) {
        const char *sep = k == 0 ? "" : (k == n - 1 ? " or " : ", ");
        int w = snprintf(out + used, size - used, "%s'%s'", sep, found[k]);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
    return n;
}

static const char *type_name(unsigned char type)
{
    switch (type) {
    case AF_TYPE_STRING: return "string";
    case AF_TYPE_INTEGER: return "integer";
    case AF_TYPE_NUMBER: return "number";
    case AF_TYPE_BOOLEAN: return "boolean";
    case AF_TYPE_DATETIME: return "date-time string or epoch seconds";
    default: return "scalar";
    }
}

static const char *kind_name(af_value_kind k)
{
    switch (k) {
    case AF_V_NULL: return "null";
    case AF_V_STRING: return "string";
    case AF_V_NUMBER: return "number";
    case AF_V_BOOLEAN: return "boolean";
    case AF_V_ARRAY: return "table";
    }
    return "value";
}

/* Sets an AF_ERR_INVALID error naming the operation, then the formatted message. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static int op_error(af_error *err, const af_operation *op, const char *fmt, ...)
{
    char tail[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    return af_error_set(err, AF_ERR_INVALID, "%s.%s: %s", op->resource, op->name, tail);
}

/* Lists the enum values as "a, b, c" into out (truncated to fit). */
static void join_enum(const char *const *values, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (; *values && used + 4 < size; values++) {
        int n = snprintf(out + used, size - used, "%s%s", used ? ", " : "", *values);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
}

/* Checks one scalar against the parameter's (item) type and enum. */
static int check_scalar(const af_operation *op, const af_param *p, const af_value *v,
                        af_error *err)
{
    char what[64];
    int ok;

    switch (p->type) {
    case AF_TYPE_INTEGER:
        ok = v->kind == AF_V_NUMBER && v->num == floor(v->num) && isfinite(v->num);
        break;
    case AF_TYPE_NUMBER:
        ok = v->kind == AF_V_NUMBER && isfinite(v->num);
        break;
    case AF_TYPE_BOOLEAN:
        ok = v->kind == AF_V_BOOLEAN;
        break;
    case AF_TYPE_STRING:
    case AF_TYPE_DATETIME:
        ok = v->kind == AF_V_STRING || (v->kind == AF_V_NUMBER && isfinite(v->num));
        /* years 1..9999: what RFC 3339 can write */
        if (ok && p->type == AF_TYPE_DATETIME && v->kind == AF_V_NUMBER)
            ok = v->num >= -62135596800.0 && v->num <= 253402300799.0;
        break;
    default:
        ok = v->kind == AF_V_STRING || v->kind == AF_V_NUMBER || v->kind == AF_V_BOOLEAN;
        break;
    }
    if (!ok) {
        snprintf(what, sizeof what, "%s", v->kind == AF_V_NUMBER ? "a non-integral or non-finite number" : kind_name(v->kind));
        return op_error(err, op, "parameter '%s' expects %s, got %s", p->name,
                        type_name(p->type), what);
    }
    if (p->enum_values && v->kind == AF_V_STRING) {
        const char *const *e;
        char list[300];
        for (e = p->enum_values; *e; e++)
            if (strlen(*e) == v->len && memcmp(*e, v->str, v->len) == 0)
                return 0;
        join_enum(p->enum_values, list, sizeof list);
        return op_error(err, op, "parameter '%s' must be one of: %s", p->name, list);
    }
    if (v->kind == AF_V_STRING && p->in != AF_IN_QUERY && memchr(v->str, '\0', v->len))
        return op_error(err, op, "parameter '%s' contains a NUL byte", p->name);
    return 0;
}

static int check_arg(const af_operation *op, const af_param *p, const af_value *v,
                     af_error *err)
{
    size_t i;
    if (v->kind == AF_V_NULL)
        return 0;
    if (v->kind == AF_V_ARRAY) {
        if (!(p->flags & AF_PARAM_ARRAY))
            return op_error(err, op, "parameter '%s' expects %s, got %s", p->name,
                            type_name(p->type), "a table");
        for (i = 0; i < v->nitems; i++)
            if (check_scalar(op, p, &v->items[i], err) != 0)
                return -1;
        return 0;
    }
    return check_scalar(op, p, v, err);
}

int af_format_datetime(af_buf *b, double seconds)
{
    struct tm tm;
    time_t t;
    double whole;
    long micros;
    char tmp[48];
    int n;

    /* checked before any conversion: NaN or infinity cast to an integer is undefined */
    if (!isfinite(seconds) || seconds < -62135596800.0 || seconds >= 253402300800.0)
        return -1; /* outside years 1..9999 */
    whole = floor(seconds);
    micros = (long)floor((seconds - whole) * 1e6 + 0.5);
    if (micros >= 1000000) {
        whole += 1;
        micros -= 1000000;
    }
    t = (time_t)whole;
    if (!gmtime_r(&t, &tm))
        return -1;
    n = snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (micros)
        n += snprintf(tmp + n, sizeof tmp - (size_t)n, ".%06ld", micros);
    tmp[n++] = 'Z';
    return af_buf_add(b, tmp, (size_t)n);
}

/* Appends one scalar as text, percent-encoded when `encode`. */
static int add_scalar(af_buf *b, const af_param *p, const af_value *v, int encode)
{
    af_buf tmp;
    int rc;

    if (v->kind == AF_V_STRING)
        return encode ? af_buf_add_pct(b, v->str, v->len, AF_PCT_QUERY)
                      : af_buf_add(b, v->str, v->len);
    if (v->kind == AF_V_BOOLEAN)
        return af_buf_adds(b, v->boolean ? "true" : "false");
    if (p->type == AF_TYPE_DATETIME) {
        af_buf_init(&tmp, 0);
        rc = af_format_datetime(&tmp, v->num);
        if (rc == 0)
            rc = encode ? af_buf_add_pct(b, tmp.data, tmp.len, AF_PCT_QUERY)
                        : af_buf_add(b, tmp.data, tmp.len);
        af_buf_free(&tmp);
        return rc;
    }
    return af_buf_add_number(b, v->num);
}

static int add_path(af_built *out, const af_operation *op, const af_arg *args, size_t nargs,
                    af_error *err)
{
    const char *s = op->path;
    while (*s) {
        const char *open = strchr(s, '{'), *close;
        const af_arg *a;
        const af_param *p;
        char name[128];
        size_t len;

        if (!open)
            return af_buf_adds(&out->url, s);
        af_buf_add(&out->url, s, (size_t)(open - s));
        close = strchr(open, '}');
        len = close ? (size_t)(close - open - 1) : 0;
        if (!close || len == 0 || len >= sizeof name)
            return op_error(err, op, "malformed path template %s", op->path);
        memcpy(name, open + 1, len);
        name[len] = '\0';
        p = af_find_param(op, name, len);
        a = find_arg(args, nargs, name);
        if (!a || a->value.kind == AF_V_NULL)
            return op_error(err, op, "missing required path parameter '%s'", name);
        if (a->value.kind == AF_V_STRING && a->value.len == 0)
            return op_error(err, op, "path parameter '%s' must not be empty", name);
        if (a->value.kind == AF_V_ARRAY)
            return op_error(err, op, "path parameter '%s' expects %s, got %s", name,
                            p ? type_name(p->type) : "a scalar", "a table");
        if (a->value.kind == AF_V_STRING)
            af_buf_add_pct(&out->url, a->value.str, a->value.len, AF_PCT_SEGMENT);
        else if (p)
            add_scalar(&out->url, p, &a->value, 1);
        s = close + 1;
    }
    return 0;
}

static int add_query(af_built *out, const af_operation *op, const af_arg *args, size_t nargs)
{
    unsigned i;
    size_t k;
    int first = 1;

    for (i = 0; i < op->nparams; i++) {
        const af_param *p = &op->params[i];
        const af_arg *a;
        const af_value *items;
        size_t n;

        if (p->in != AF_IN_QUERY)
            continue;
        a = find_arg(args, nargs, p->name);
        if (!a || a->value.kind == AF_V_NULL)
            continue;
        items = a->value.kind == AF_V_ARRAY ? a->value.items : &a->value;
        n = a->value.kind == AF_V_ARRAY ? a->value.nitems : 1;
        if (n == 0)
            continue;
        if (p->flags & AF_PARAM_CSV) {
            af_buf_addc(&out->url, first ? '?' : '&');
            af_buf_add_pct(&out->url, p->name, strlen(p->name), AF_PCT_QUERY);
            af_buf_addc(&out->url, '=');
            for (k = 0; k < n; k++) {
                if (k)
                    af_buf_addc(&out->url, ',');
                add_scalar(&out->url, p, &items[k], 1);
            }
            first = 0;
            continue;
        }
        for (k = 0; k < n; k++) {
            af_buf_addc(&out->url, first ? '?' : '&');
            af_buf_add_pct(&out->url, p->name, strlen(p->name), AF_PCT_QUERY);
            af_buf_addc(&out->url, '=');
            add_scalar(&out->url, p, &items[k], 1);
            first = 0;
        }
    }
    return 0;
}

/* Header names from the spec are lower-case; send them capitalised per word. */
static void add_header_name(af_buf *b, const char *name)
{
    int up = 1;
    for (; *name; name++) {
        char c = *name;
        if (up && c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        up = c == '-';
        af_buf_addc(b, c);
    }
}

static int add_headers(af_built *out, const af_operation *op, const af_arg *args,
                       size_t nargs, int has_body, af_error *err)
{
    unsigned i;
    for (i = 0; i < op->nparams; i++) {
        const af_param *p = &op->params[i];
        const af_arg *a;

        if (p->in != AF_IN_HEADER)
            continue;
        a = find_arg(args, nargs, p->name);
        if (!a || a->value.kind == AF_V_NULL)
            continue;
        if (a->value.kind == AF_V_STRING &&
            (memchr(a->value.str, '\r', a->value.len) || memchr(a->value.str, '\n', a->value.len)))
            return op_error(err, op, "header parameter '%s' contains a line break",
                            p->name);
        add_header_name(&out->headers, p->name);
        af_buf_add(&out->headers, ": ", 2);
        if (a->value.kind == AF_V_ARRAY) {
            size_t k;
            for (k = 0; k < a->value.nitems; k++) {
                if (k)
                    af_buf_add(&out->headers, ", ", 2);
                add_scalar(&out->headers, p, &a->value.items[k], 0);
            }
        } else {
            add_scalar(&out->headers, p, &a->value, 0);
        }
        af_buf_addc(&out->headers, '\0');
        out->nheaders++;
    }
    if (has_body && op->body_media) {
        af_buf_adds(&out->headers, "Content-Type: ");
        af_buf_adds(&out->headers, op->body_media);
        af_buf_addc(&out->headers, '\0');
        out->nheaders++;
    }
    return 0;
}

int af_build(const af_operation *op, const char *base_url, const af_arg *args,
             size_t nargs, int has_body, af_built *out, af_error *err)
{
    size_t i;
    unsigned k;

    af_error_clear(err);
    out->method = op->method;
    /* Every argument must name a parameter of this operation. */
    for (i = 0; i < nargs; i++) {
        const af_arg *a = &args[i];
        const af_param *p = af_find_param(op, a->name, a->name_len);
        if (!p) {
            char name[96], near[256];
            snprintf(name, sizeof name, "%.*s", (int)(a->name_len < 80 ? a->name_len : 80),
                     a->name);
            if (closest_params(op, a->name, a->name_len, near, sizeof near) > 0)
                return op_error(err, op, "unknown parameter '%s' (did you mean %s?)", name, near);
            return op_error(err, op, "unknown parameter '%s'", name);
        }
        if (check_arg(op, p, &a->value, err) != 0)
            return -1;
    }
    for (k = 0; k < op->nparams; k++) {
        const af_param *p = &op->params[k];
        const af_arg *a;
        if (!(p->flags & AF_PARAM_REQUIRED))
            continue;
        a = find_arg(args, nargs, p->name);
        if (!a || a->value.kind == AF_V_NULL)
            return op_error(err, op, "missing required %s parameter '%s'",
                            p->in == AF_IN_PATH ? "path" : p->in == AF_IN_QUERY ? "query" : "header",
                            p->name);
    }
    if (op->body == AF_BODY_REQUIRED && !has_body)
        return op_error(err, op, "missing required request body (args.body)");
    if (op->body == AF_BODY_NONE && has_body)
        return op_error(err, op, "takes no request body, but args.body was given");

    if (af_buf_adds(&out->url, base_url) != 0 || add_path(out, op, args, nargs, err) != 0 ||
        add_query(out, op, args, nargs) != 0 || add_headers(out, op, args, nargs, has_body, err) != 0)
        return err->code ? -1 : af_error_set(err, AF_ERR_NOMEM, "out of memory building the URL");
    if (!af_buf_ok(&out->url) || !af_buf_ok(&out->headers))
        return af_error_set(err, AF_ERR_NOMEM, "out of memory building the request");
    return 0;
}
