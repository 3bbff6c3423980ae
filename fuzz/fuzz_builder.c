/*
 * fuzz_builder.c - libFuzzer target: any operation with arbitrary arguments.
 *
 * The input picks an API, an operation and a list of (name, value) arguments of
 * every kind. Whatever the input, af_build must not crash, and a request it
 * accepts must be well-formed: an ASCII URL with no spaces or line breaks, and
 * header lines without CR/LF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "builder.h"
#include "registry.h"

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static int take(reader *r, void *out, size_t len)
{
    if (r->n < len)
        return -1;
    memcpy(out, r->p, len);
    r->p += len;
    r->n -= len;
    return 0;
}

static int take_byte(reader *r, uint8_t *b)
{
    return take(r, b, 1);
}

static int read_scalar(reader *r, af_value *v)
{
    uint8_t kind, len, b;
    memset(v, 0, sizeof *v);
    if (take_byte(r, &kind) != 0)
        return -1;
    switch (kind % 4) {
    case 0:
        v->kind = AF_V_NULL;
        return 0;
    case 1:
        if (take_byte(r, &len) != 0 || r->n < len)
            return -1;
        v->kind = AF_V_STRING;
        v->str = (const char *)r->p;
        v->len = len;
        r->p += len;
        r->n -= len;
        return 0;
    case 2:
        v->kind = AF_V_NUMBER;
        return take(r, &v->num, sizeof v->num);
    default:
        if (take_byte(r, &b) != 0)
            return -1;
        v->kind = AF_V_BOOLEAN;
        v->boolean = b & 1;
        return 0;
    }
}

static void check(const af_built *b)
{
    size_t i;
    const char *h = b->headers.data;
    for (i = 0; i < b->url.len; i++) {
        unsigned char c = (unsigned char)b->url.data[i];
        if (c <= ' ' || c >= 0x7f)
            abort(); /* an unencoded byte reached the URL */
    }
    for (i = 0; h && i < b->nheaders; i++) {
        size_t len = strlen(h);
        if (memchr(h, '\r', len) || memchr(h, '\n', len))
            abort(); /* header injection */
        h += len + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { MAX_ARGS = 12, MAX_ITEMS = 64 };
    reader r = {data, size};
    const af_registry *reg;
    const af_operation *op;
    af_arg args[MAX_ARGS];
    af_value items[MAX_ITEMS];
    size_t nargs = 0, nitems = 0;
    uint8_t head, lo, hi;
    af_built out;
    af_error err;
    double when;

    if (take_byte(&r, &head) || take_byte(&r, &lo) || take_byte(&r, &hi))
        return 0;
    reg = (head & 1) ? &af_registry_v2 : &af_registry_v1;
    op = &reg->ops[((size_t)hi << 8 | lo) % reg->nops];

    while (nargs < MAX_ARGS && r.n > 0) {
        af_arg *a = &args[nargs];
        uint8_t sel, count, i;
        if (take_byte(&r, &sel) != 0)
            break;
        if (sel < 0xF0 && op->nparams > 0) {
            a->name = op->params[sel % op->nparams].name;
            a->name_len = strlen(a->name);
        } else {
            uint8_t len;
            if (take_byte(&r, &len) != 0 || r.n < len)
                break;
            a->name = (const char *)r.p;
            a->name_len = len;
            r.p += len;
            r.n -= len;
        }
        if (sel & 0x80) { /* an array */
            if (take_byte(&r, &count) != 0)
                break;
            count %= 8;
            if (nitems + count > MAX_ITEMS)
                break;
            memset(&a->value, 0, sizeof a->value);
            a->value.kind = AF_V_ARRAY;
            a->value.items = &items[nitems];
            for (i = 0; i < count; i++)
                if (read_scalar(&r, &items[nitems + i]) != 0)
                    break;
            a->value.nitems = i;
            nitems += i;
        } else if (read_scalar(&r, &a->value) != 0) {
            break;
        }
        nargs++;
    }

    af_built_init(&out);
    if (af_build(op, "http://h", args, nargs, (head >> 1) & 1, &out, &err) == 0)
        check(&out);
    af_built_free(&out);

    if (size >= sizeof when) {
        af_buf b;
        memcpy(&when, data + size - sizeof when, sizeof when);
        af_buf_init(&b, 0);
        af_format_datetime(&b, when);
        af_buf_free(&b);
    }
    return 0;
}
