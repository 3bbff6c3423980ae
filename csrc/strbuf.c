/* strbuf.c - growable byte buffer with checked size arithmetic. */
#include "strbuf.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void af_buf_init(af_buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
    b->failed = 0;
    b->overflow = 0;
}

void af_buf_free(af_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->failed = 0;
    b->overflow = 0;
}

void af_buf_reset(af_buf *b)
{
    b->len = 0;
    b->failed = 0;
    b->overflow = 0;
    if (b->data)
        b->data[0] = '\0';
}

int af_buf_reserve(af_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->failed)
        return -1;
    /* one spare byte for the terminating NUL */
    if (extra > SIZE_MAX - b->len - 1)
        goto fail;
    need = b->len + extra + 1;
    if (b->limit && need - 1 > b->limit) {
        b->overflow = 1;
        goto fail;
    }
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2) {
            cap = need;
            break;
        }
        cap *= 2;
    }
    p = realloc(b->data, cap);
    if (!p)
        goto fail;
    b->data = p;
    b->cap = cap;
    return 0;
fail:
    b->failed = 1;
    return -1;
}

int af_buf_add(af_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return b->failed ? -1 : 0;
    if (af_buf_reserve(b, n) != 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int af_buf_adds(af_buf *b, const char *s)
{
    return af_buf_add(b, s, strlen(s));
}

int af_buf_addc(af_buf *b, char c)
{
    return af_buf_add(b, &c, 1);
}

int af_buf_add_int(af_buf *b, long long v)
{
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", v);
    return af_buf_add(b, tmp, (size_t)n);
}

int af_buf_add_number(af_buf *b, double v)
{
    char tmp[40];
    int n;

    /* 2^53: beyond it a double no longer holds every integer exactly */
    if (isfinite(v) && v == floor(v) && fabs(v) <= 9007199254740992.0)
        n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    else
        n = snprintf(tmp, sizeof tmp, "%.17g", v);
    return af_buf_add(b, tmp, (size_t)n);
}

static int is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

int af_buf_add_pct(af_buf *b, const char *s, size_t n, enum af_pct_mode mode)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    (void)mode; /* both modes encode the same set today; kept for call-site clarity */
    if (af_buf_reserve(b, n) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c)) {
            if (af_buf_addc(b, (char)c) != 0)
                return -1;
        } else {
            char enc[3];
            enc[0] = '%';
            enc[1] = hex[c >> 4];
            enc[2] = hex[c & 15];
            if (af_buf_add(b, enc, 3) != 0)
                return -1;
        }
    }
    return 0;
}

const char *af_buf_cstr(af_buf *b)
{
    if (!b->data || b->failed)
        return "";
    return b->data;
}

int af_buf_ok(const af_buf *b)
{
    return !b->failed;
}

char *af_buf_detach(af_buf *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
