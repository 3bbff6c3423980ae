/*
 * http_response.h - an incremental HTTP/1.1 response parser, for transports that
 * read the socket themselves (the OpenResty cosocket transport).
 *
 * Pure computation: no I/O, no Lua, no callbacks. The caller feeds whatever bytes
 * it received, in pieces of any size; the parser keeps what it needs between calls
 * and appends the decoded body (Content-Length, chunked, or up to the end of the
 * connection) to the caller's buffer. It reads the status line and the header block
 * (interim 1xx responses are skipped), and enforces the size limits given at init:
 * an over-long head or body is AF_ERR_TOO_LARGE; anything malformed is
 * AF_ERR_PROTOCOL. The parser owns its buffers; af_hresp_free releases them.
 */
#ifndef AIRFLOW_HTTP_RESPONSE_H
#define AIRFLOW_HTTP_RESPONSE_H

#include <stddef.h>

#include "errors.h"
#include "strbuf.h"

/* The default cap on a response head (status line + headers) and on one line of
 * chunked framing or trailers. */
#define AF_HRESP_DEFAULT_MAX_HEAD ((size_t)64 * 1024)

typedef enum af_hresp_rc {
    AF_HRESP_ERROR = -1, /* err is set; the parser accepts nothing more */
    AF_HRESP_MORE = 0,   /* needs more bytes */
    AF_HRESP_DONE = 1    /* the response is complete */
} af_hresp_rc;

typedef struct af_hresp {
    int state;               /* private: where the parser is */
    int status;              /* the final status, once head_done */
    int http_minor;          /* HTTP/1.<minor> */
    int head_done;           /* the status line and headers of the final response are in */
    int keep_alive;          /* valid when DONE: the connection may carry another request */
    int head_request;        /* a HEAD request: no body whatever the headers say */
    unsigned flags;          /* private: framing facts of the head being read */
    unsigned long long length; /* private: its Content-Length */
    unsigned long long left; /* bytes left in the Content-Length body or current chunk */
    size_t max_head;         /* cap on the head, and on one framing/trailer line */
    size_t max_body;         /* cap on the decoded body, 0 = unlimited */
    size_t head_bytes;       /* bytes of head (and trailers) seen */
    size_t body_bytes;       /* decoded body bytes delivered */
    af_buf line;             /* the current incomplete line */
    af_buf headers;          /* "Name: value\r\n" lines of the final response (status line
                                excluded; the format headers.h iterates) */
} af_hresp;

/* Prepares a parser. max_head 0 = AF_HRESP_DEFAULT_MAX_HEAD; max_body 0 = unlimited;
 * head_request: the request was HEAD. Allocates nothing yet. */
void af_hresp_init(af_hresp *p, size_t max_head, size_t max_body, int head_request);
/* Releases the parser's buffers (it may be initialised again). Safe to call twice. */
void af_hresp_free(af_hresp *p);
/* Feeds `len` bytes received from the connection. Decoded body bytes are appended
 * to `body` (which the caller owns and may empty between calls). Returns
 * AF_HRESP_MORE, AF_HRESP_DONE (bytes after the end of the response make it not
 * keep_alive) or AF_HRESP_ERROR with err set. Feeding after DONE or ERROR is an
 * error. */
af_hresp_rc af_hresp_feed(af_hresp *p, const char *data, size_t len, af_buf *body, af_error *err);
/* The connection was closed by the peer: DONE when that ends the response (a body
 * delimited by the close), else ERROR (AF_ERR_RECV) with err set. */
af_hresp_rc af_hresp_eof(af_hresp *p, af_error *err);

#endif
