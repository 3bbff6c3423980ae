/* http_response.c - the incremental HTTP/1.1 response parser (see http_response.h). */
#include <string.h>

#include "http_response.h"

enum {
    S_STATUS = 0, /* the status line */
    S_HEADER,     /* header lines, up to the empty line */
    S_BODY_LEN,   /* a Content-Length body */
    S_CHUNK_SIZE, /* a chunk-size line */
    S_CHUNK_DATA, /* chunk data */
    S_CHUNK_END,  /* the CRLF after chunk data */
    S_TRAILER,    /* trailer lines after the last chunk */
    S_UNTIL_CLOSE,/* a body delimited by the end of the connection */
    S_DONE,
    S_ERROR
};

/* Per-head facts gathered from the header lines, reset at each status line. */
#define F_CLOSE 1u
#define F_CHUNKED 2u
#define F_LENGTH 4u
#define F_TE 8u


void af_hresp_init(af_hresp *p, size_t max_head, size_t max_body, int head_request)
{
    memset(p, 0, sizeof *p);
    p->state = S_STATUS;
    p->max_head = max_head ? max_head : AF_HRESP_DEFAULT_MAX_HEAD;
    p->max_body = max_body;
    p->head_request = head_request != 0;
    af_buf_init(&p->line, 0);
    af_buf_init(&p->headers, 0);
}

void af_hresp_free(af_hresp *p)
{
    af_buf_free(&p->line);
    af_buf_free(&p->headers);
}

static af_hresp_rc fail(af_hresp *p, af_error *err, af_errcode code, const char *msg)
{
    p->state = S_ERROR;
    p->keep_alive = 0;
    af_error_set(err, code, "%s", msg);
    return AF_HRESP_ERROR;
}

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Case-insensitive comparison of a span with a lower-case literal. */
static int span_is(const char *s, size_t n, const char *lit)
{
    size_t i;
    if (strlen(lit) != n)
        return 0;
    for (i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != lit[i])
            return 0;
    return 1;
}

/* Whether a comma-separated list contains the token `lit` (case-insensitive). */
static int list_has(const char *s, size_t n, const char *lit)
{
    size_t i = 0;
    while (i < n) {
        size_t a, b;
        while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
            i++;
        a = i;
        while (i < n && s[i] != ',')
            i++;
        b = i;
        while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
            b--;
        if (b > a && span_is(s + a, b - a, lit))
            return 1;
    }
    return 0;
}

static int is_tchar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* "HTTP/1.x SSS[ reason]" */
static af_hresp_rc status_line(af_hresp *p, const char *s, size_t n, af_error *err)
{
    int code;
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ' ||
        s[9] < '1' || s[9] > '9' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
        (n > 12 && s[12] != ' '))
        return fail(p, err, AF_ERR_PROTOCOL, "malformed HTTP status line");
    code = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    p->status = code;
    p->http_minor = s[7] - '0';
    p->flags = 0;
    p->length = 0;
    af_buf_reset(&p->headers);
    p->state = S_HEADER;
    return AF_HRESP_MORE;
}

/* Parses a decimal Content-Length; -1 when malformed or absurd. */
static int parse_length(const char *s, size_t n, unsigned long long *out)
{
    unsigned long long v = 0;
    size_t i;
    if (n == 0 || n > 18)
        return -1;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned long long)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* The end of the head: decides how the body is delimited. */
static af_hresp_rc head_end(af_hresp *p, af_error *err)
{
    unsigned facts = p->flags;
    unsigned long long length = p->length;
    if (p->status < 200) {
        if (p->status == 101)
            return fail(p, err, AF_ERR_PROTOCOL, "unexpected 101 Switching Protocols");
        p->state = S_STATUS; /* an interim response: the final one follows */
        return AF_HRESP_MORE;
    }
    p->head_done = 1;
    p->keep_alive = p->http_minor >= 1 && !(facts & F_CLOSE);
    if (p->head_request || p->status == 204 || p->status == 304) {
        p->state = S_DONE;
        return AF_HRESP_DONE;
    }
    if (facts & F_TE) {
        if (!(facts & F_CHUNKED))
            return fail(p, err, AF_ERR_PROTOCOL, "unsupported Transfer-Encoding in the response");
        if (facts & F_LENGTH) /* two framings: refused, as the libcurl path does (smuggling) */
            return fail(p, err, AF_ERR_PROTOCOL, "both Content-Length and Transfer-Encoding in the response");
        p->state = S_CHUNK_SIZE;
        return AF_HRESP_MORE;
    }
    if (facts & F_LENGTH) {
        if (p->max_body && length > p->max_body)
            return fail(p, err, AF_ERR_TOO_LARGE, "response body larger than the limit (Content-Length)");
        p->left = length;
        p->state = length ? S_BODY_LEN : S_DONE;
        return length ? AF_HRESP_MORE : AF_HRESP_DONE;
    }
    p->keep_alive = 0;
    p->state = S_UNTIL_CLOSE;
    return AF_HRESP_MORE;
}

/* One header line (CR removed); an empty line ends the head. */
static af_hresp_rc header_line(af_hresp *p, const char *s, size_t n, af_error *err)
{
    size_t colon = 0, a, b;
    unsigned facts = p->flags;
    if (n == 0)
        return head_end(p, err);
    if (s[0] == ' ' || s[0] == '\t')
        return fail(p, err, AF_ERR_PROTOCOL, "folded header line in the response");
    while (colon < n && is_tchar((unsigned char)s[colon]))
        colon++;
    if (colon == 0 || colon >= n || s[colon] != ':')
        return fail(p, err, AF_ERR_PROTOCOL, "malformed header line in the response");
    a = colon + 1;
    b = n;
    while (a < b && (s[a] == ' ' || s[a] == '\t'))
        a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t'))
        b--;
    if (span_is(s, colon, "content-length")) {
        unsigned long long v;
        if (parse_length(s + a, b - a, &v) != 0)
            return fail(p, err, AF_ERR_PROTOCOL, "malformed Content-Length in the response");
        if ((facts & F_LENGTH) && v != p->length)
            return fail(p, err, AF_ERR_PROTOCOL, "conflicting Content-Length headers in the response");
        p->length = v;
        facts |= F_LENGTH;
    } else if (span_is(s, colon, "transfer-encoding")) {
        facts |= F_TE;
        if (span_is(s + a, b - a, "chunked") && !(facts & F_CHUNKED))
            facts |= F_CHUNKED;
        else /* another coding, or chunked twice: not something we decode */
            facts &= ~F_CHUNKED;
    } else if (span_is(s, colon, "connection")) {
        if (list_has(s + a, b - a, "close"))
            facts |= F_CLOSE;
    }
    p->flags = facts;
    af_buf_add(&p->headers, s, colon);
    af_buf_add(&p->headers, ": ", 2);
    af_buf_add(&p->headers, s + a, b - a);
    af_buf_add(&p->headers, "\r\n", 2);
    if (!af_buf_ok(&p->headers))
        return fail(p, err, AF_ERR_NOMEM, "out of memory reading the response headers");
    return AF_HRESP_MORE;
}

/* "hex[;ext]" */
static af_hresp_rc chunk_size_line(af_hresp *p, const char *s, size_t n, af_error *err)
{
    unsigned long long v = 0;
    size_t i = 0;
    while (i < n) {
        int c = lower((unsigned char)s[i]), d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else
            break;
        if (i >= 15)
            return fail(p, err, AF_ERR_PROTOCOL, "chunk size too large in the response");
        v = v * 16 + (unsigned long long)d;
        i++;
    }
    if (i == 0)
        return fail(p, err, AF_ERR_PROTOCOL, "malformed chunk size in the response");
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < n && s[i] != ';')
        return fail(p, err, AF_ERR_PROTOCOL, "malformed chunk size in the response");
    if (v == 0) {
        p->state = S_TRAILER;
    } else {
        if (p->max_body && v > p->max_body - p->body_bytes)
            return fail(p, err, AF_ERR_TOO_LARGE, "response body larger than the limit");
        p->left = v;
        p->state = S_CHUNK_DATA;
    }
    return AF_HRESP_MORE;
}

static af_hresp_rc add_body(af_hresp *p, const char *s, size_t n, af_buf *body, af_error *err)
{
    if (p->max_body && n > p->max_body - p->body_bytes)
        return fail(p, err, AF_ERR_TOO_LARGE, "response body larger than the limit");
    if (af_buf_add(body, s, n) != 0)
        return fail(p, err, AF_ERR_NOMEM, "out of memory reading the response body");
    p->body_bytes += n;
    return AF_HRESP_MORE;
}

static int is_line_state(int state)
{
    return state == S_STATUS || state == S_HEADER || state == S_CHUNK_SIZE || state == S_CHUNK_END ||
           state == S_TRAILER;
}

/* A complete line (LF and a final CR removed) in the current line state. */
static af_hresp_rc line_done(af_hresp *p, const char *s, size_t n, af_error *err)
{
    if (memchr(s, '\r', n) || memchr(s, '\0', n))
        return fail(p, err, AF_ERR_PROTOCOL, "CR or NUL inside a line of the response");
    switch (p->state) {
    case S_STATUS:
        return status_line(p, s, n, err);
    case S_HEADER:
        return header_line(p, s, n, err);
    case S_CHUNK_SIZE:
        return chunk_size_line(p, s, n, err);
    case S_CHUNK_END:
        if (n != 0)
            return fail(p, err, AF_ERR_PROTOCOL, "chunk data longer than its size in the response");
        p->state = S_CHUNK_SIZE;
        return AF_HRESP_MORE;
    default: /* S_TRAILER: trailers are read and dropped */
        if (n == 0) {
            p->state = S_DONE;
            return AF_HRESP_DONE;
        }
        return AF_HRESP_MORE;
    }
}

af_hresp_rc af_hresp_feed(af_hresp *p, const char *data, size_t len, af_buf *body, af_error *err)
{
    size_t i = 0;
    af_hresp_rc rc = AF_HRESP_MORE;

    if (p->state == S_DONE || p->state == S_ERROR)
        return fail(p, err, AF_ERR_PROTOCOL, "response data after the end of the response");
    while (i < len && p->state != S_DONE && p->state != S_ERROR) {
        if (is_line_state(p->state)) {
            const char *nl = memchr(data + i, '\n', len - i);
            size_t take = nl ? (size_t)(nl - (data + i)) + 1 : len - i;
            size_t keep = nl ? take - 1 : take;
            if (p->state == S_CHUNK_SIZE || p->state == S_CHUNK_END) {
                if (p->line.len + keep > p->max_head)
                    return fail(p, err, AF_ERR_TOO_LARGE, "chunk framing line too long in the response");
            } else {
                p->head_bytes += take;
                if (p->head_bytes > p->max_head)
                    return fail(p, err, AF_ERR_TOO_LARGE, "response headers larger than the limit");
            }
            if (af_buf_add(&p->line, data + i, keep) != 0)
                return fail(p, err, AF_ERR_NOMEM, "out of memory reading the response");
            i += take;
            if (nl) {
                size_t n = p->line.len;
                if (n && p->line.data[n - 1] == '\r')
                    n--;
                rc = line_done(p, p->line.len ? p->line.data : "", n, err);
                af_buf_reset(&p->line);
                if (rc == AF_HRESP_ERROR)
                    return rc;
            }
        } else if (p->state == S_UNTIL_CLOSE) {
            if (add_body(p, data + i, len - i, body, err) == AF_HRESP_ERROR)
                return AF_HRESP_ERROR;
            i = len;
        } else { /* S_BODY_LEN, S_CHUNK_DATA */
            size_t n = len - i;
            if ((unsigned long long)n > p->left)
                n = (size_t)p->left;
            if (add_body(p, data + i, n, body, err) == AF_HRESP_ERROR)
                return AF_HRESP_ERROR;
            p->left -= n;
            i += n;
            if (p->left == 0) {
                if (p->state == S_BODY_LEN) {
                    p->state = S_DONE;
                } else {
                    p->state = S_CHUNK_END;
                }
            }
        }
    }
    if (p->state == S_DONE) {
        if (i < len)
            p->keep_alive = 0; /* bytes past the response: the connection is not clean */
        return AF_HRESP_DONE;
    }
    return AF_HRESP_MORE;
}

af_hresp_rc af_hresp_eof(af_hresp *p, af_error *err)
{
    if (p->state == S_DONE)
        return AF_HRESP_DONE;
    if (p->state == S_UNTIL_CLOSE) {
        p->state = S_DONE;
        p->keep_alive = 0;
        return AF_HRESP_DONE;
    }
    if (p->state == S_ERROR)
        return AF_HRESP_ERROR;
    if (p->state == S_STATUS && p->head_bytes == 0 && p->line.len == 0)
        return fail(p, err, AF_ERR_RECV, "the server closed the connection without a response");
    return fail(p, err, AF_ERR_RECV, "the connection closed before the response was complete");
}
