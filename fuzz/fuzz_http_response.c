/*
 * fuzz_http_response.c - libFuzzer target: the incremental HTTP/1.1 response parser
 * (csrc/http_response.c) that the cosocket transport feeds from the socket.
 *
 * The first input byte picks the piece size (1 to 64 bytes, or all at once), the
 * limits and a HEAD request; the rest is what the server sent. Whatever the input:
 * no crash or sanitizer report; the same result whichever way the bytes are split;
 * the body never exceeds its limit; the kept header lines hold no CR or LF inside
 * a value; nothing is accepted after the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "headers.h"
#include "http_response.h"

static af_hresp_rc run(const uint8_t *data, size_t size, size_t step, size_t max_head, size_t max_body,
                       int head, af_buf *body, int *status)
{
    af_hresp p;
    af_error e;
    af_hresp_rc rc = AF_HRESP_MORE;
    size_t i = 0;

    af_hresp_init(&p, max_head, max_body, head);
    af_error_clear(&e);
    while (i < size && rc == AF_HRESP_MORE) {
        size_t n = size - i < step ? size - i : step;
        rc = af_hresp_feed(&p, (const char *)data + i, n, body, &e);
        i += n;
    }
    if (rc == AF_HRESP_MORE)
        rc = af_hresp_eof(&p, &e);
    if (rc == AF_HRESP_DONE) {
        af_header_iter it;
        const char *name, *value;
        size_t nlen, vlen;
        if (af_hresp_feed(&p, "x", 1, body, &e) != AF_HRESP_ERROR)
            abort(); /* nothing after the end */
        af_header_iter_init(&it, p.headers.data, p.headers.len);
        while (af_header_next(&it, &name, &nlen, &value, &vlen))
            if (memchr(value, '\r', vlen) || memchr(value, '\n', vlen) || memchr(name, '\n', nlen))
                abort();
        *status = p.status;
    }
    if (max_body && p.body_bytes > max_body)
        abort();
    if (rc == AF_HRESP_ERROR && e.message[0] == '\0')
        abort(); /* every failure says what it is */
    af_hresp_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t flags;
    size_t step, max_head, max_body;
    af_buf a, b;
    af_hresp_rc ra, rb;
    int sa = 0, sb = 0;

    if (size < 1)
        return 0;
    flags = data[0];
    data++;
    size--;
    step = (flags & 0x3f) + 1;
    max_head = (flags & 0x40) ? 256 : 0;
    max_body = (flags & 0x80) ? 1024 : 0;
    af_buf_init(&a, 0);
    af_buf_init(&b, 0);
    ra = run(data, size, step, max_head, max_body, (flags & 0x21) == 0x21, &a, &sa);
    rb = run(data, size, size ? size : 1, max_head, max_body, (flags & 0x21) == 0x21, &b, &sb);
    /* the split must not matter */
    if (ra != rb || sa != sb || (ra == AF_HRESP_DONE && (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)))))
        abort();
    af_buf_free(&a);
    af_buf_free(&b);
    return 0;
}
