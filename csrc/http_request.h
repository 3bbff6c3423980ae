/*
 * http_request.h - the bytes of an HTTP/1.1 request, for transports that write the
 * socket themselves (the OpenResty cosocket transport).
 *
 * Pure computation over the caller's strings: splits an absolute http(s) URL into
 * the parts a connection needs, and writes the request line and header block
 * (Host, the caller's headers, Content-Length, Connection: keep-alive) followed by
 * the body. Nothing a caller passes can start a header of its own: a CR, LF or NUL
 * in the method, target or any header line is refused (AF_ERR_INVALID).
 */
#ifndef AIRFLOW_HTTP_REQUEST_H
#define AIRFLOW_HTTP_REQUEST_H

#include <stddef.h>

#include "errors.h"
#include "strbuf.h"

#define AF_URL_HOST_MAX 255

typedef struct af_url_parts {
    int tls;                          /* https */
    char host[AF_URL_HOST_MAX + 1];   /* without brackets for IPv6 literals */
    int port;                         /* explicit, or 80 / 443 */
    int default_port;                 /* the port is the scheme's default */
    int ipv6;                         /* host is an IPv6 literal */
    const char *target;               /* path and query (points into the URL), "" = "/" */
    size_t target_len;
} af_url_parts;

/* Splits an absolute http:// or https:// URL (no user info; the fragment is dropped).
 * Returns 0, or -1 with err set (AF_ERR_INVALID). u->target borrows from `url`. */
int af_url_split(const char *url, af_url_parts *u, af_error *err);

/* The request in three steps, for callers that read headers one at a time:
 * af_http_request_head writes "METHOD target HTTP/1.1" and Host (`absolute_target`
 * writes the whole URL as the target, for an HTTP proxy); af_http_request_header
 * adds one header, from a name and value (`name` non-NULL) or a whole "Name: value"
 * line, dropping the framing's own (Host, Content-Length, Transfer-Encoding,
 * Connection); af_http_request_end writes Content-Length when there is a body or the
 * method usually carries one, Connection: keep-alive, the blank line and the body.
 * Each returns 0, or -1 with err set (AF_ERR_INVALID for a bad method, URL or header,
 * AF_ERR_NOMEM from the end step when `out` failed). */
int af_http_request_head(af_buf *out, const char *method, const char *url, const af_url_parts *u,
                         int absolute_target, af_error *err);
int af_http_request_header(af_buf *out, const char *name, size_t name_len, const char *value,
                           size_t value_len, af_error *err);
int af_http_request_end(af_buf *out, const char *method, const char *body, size_t body_len,
                        af_error *err);

/* All three steps with "Name: value" lines. */
int af_http_request(af_buf *out, const char *method, const char *url, const af_url_parts *u,
                    int absolute_target, const char *const *headers, size_t nheaders,
                    const char *body, size_t body_len, af_error *err);

#endif
