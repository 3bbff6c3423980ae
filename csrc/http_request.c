/* http_request.c - HTTP/1.1 request bytes (see http_request.h). */
#include <stdlib.h>
#include <string.h>

#include "headers.h"
#include "http_request.h"

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int prefix_is(const char *s, size_t n, const char *lit)
{
    size_t i, m = strlen(lit);
    if (n < m)
        return 0;
    for (i = 0; i < m; i++)
        if (lower((unsigned char)s[i]) != lit[i])
            return 0;
    return 1;
}

int af_url_split(const char *url, af_url_parts *u, af_error *err)
{
    const char *p, *host, *host_end, *auth_end;
    size_t n;

    memset(u, 0, sizeof *u);
    n = strlen(url);
    if (prefix_is(url, n, "http://")) {
        p = url + 7;
    } else if (prefix_is(url, n, "https://")) {
        p = url + 8;
        u->tls = 1;
    } else {
        return af_error_set(err, AF_ERR_INVALID, "not an http:// or https:// URL");
    }
    auth_end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(auth_end - p)))
        return af_error_set(err, AF_ERR_INVALID, "URL with user info is not accepted");
    host = p;
    if (*host == '[') {
        host_end = memchr(host, ']', (size_t)(auth_end - host));
        if (!host_end)
            return af_error_set(err, AF_ERR_INVALID, "malformed IPv6 address in the URL");
        host++;
        u->ipv6 = 1;
        p = host_end + 1;
    } else {
        host_end = host + strcspn(host, ":/?#");
        if (host_end > auth_end)
            host_end = auth_end;
        p = host_end;
    }
    if (host_end == host || (size_t)(host_end - host) > AF_URL_HOST_MAX)
        return af_error_set(err, AF_ERR_INVALID, "missing or over-long host in the URL");
    memcpy(u->host, host, (size_t)(host_end - host));
    u->host[host_end - host] = '\0';
    if (strpbrk(u->host, " \t\r\n%") != NULL)
        return af_error_set(err, AF_ERR_INVALID, "invalid character in the URL's host");
    u->port = u->tls ? 443 : 80;
    u->default_port = 1;
    if (p < auth_end && *p == ':') {
        long port = 0;
        const char *q = p + 1;
        if (q == auth_end)
            return af_error_set(err, AF_ERR_INVALID, "empty port in the URL");
        for (; q < auth_end; q++) {
            if (*q < '0' || *q > '9' || port > 65535)
                return af_error_set(err, AF_ERR_INVALID, "invalid port in the URL");
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535)
            return af_error_set(err, AF_ERR_INVALID, "invalid port in the URL");
        u->default_port = port == (u->tls ? 443 : 80);
        u->port = (int)port;
    } else if (p != auth_end) {
        return af_error_set(err, AF_ERR_INVALID, "malformed host in the URL");
    }
    u->target = auth_end;
    u->target_len = strcspn(auth_end, "#");
    return 0;
}

/* A header the framing owns: dropped from the caller's. `n` is the name's length, or
 * the line's (then the name ends at its colon). */
static int framing_header(const char *name, size_t n, int line)
{
    static const char *const names[] = {"host", "content-length", "transfer-encoding", "connection"};
    size_t i, m;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        m = strlen(names[i]);
        if (prefix_is(name, n, names[i]) && (line ? (n > m && name[m] == ':') : n == m))
            return 1;
    }
    return 0;
}


int af_http_request_head(af_buf *out, const char *method, const char *url, const af_url_parts *u,
                         int absolute_target, af_error *err)
{
    size_t mlen = strlen(method);

    if (mlen == 0 || strspn(method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != mlen)
        return af_error_set(err, AF_ERR_INVALID, "invalid request method");
    if (strpbrk(url, " \t\r\n") != NULL || !af_header_text_ok(u->target, u->target_len))
        return af_error_set(err, AF_ERR_INVALID, "space or line break in the request URL");
    af_buf_add(out, method, mlen);
    af_buf_addc(out, ' ');
    if (absolute_target) {
        af_buf_add(out, url, strcspn(url, "#"));
    } else {
        if (u->target_len == 0 || u->target[0] == '?')
            af_buf_addc(out, '/');
        af_buf_add(out, u->target, u->target_len);
    }
    af_buf_adds(out, " HTTP/1.1\r\nHost: ");
    if (u->ipv6)
        af_buf_addc(out, '[');
    af_buf_adds(out, u->host);
    if (u->ipv6)
        af_buf_addc(out, ']');
    if (!u->default_port) {
        af_buf_addc(out, ':');
        af_buf_add_int(out, u->port);
    }
    af_buf_adds(out, "\r\n");
    return 0;
}

int af_http_request_header(af_buf *out, const char *name, size_t name_len, const char *value,
                           size_t value_len, af_error *err)
{
    size_t i;
    if (!af_header_text_ok(value, value_len))
        return af_error_set(err, AF_ERR_INVALID, "line break or NUL in a request header");
    if (name) {
        if (name_len == 0 || !af_header_text_ok(name, name_len))
            return af_error_set(err, AF_ERR_INVALID, "invalid request header name");
        for (i = 0; i < name_len; i++)
            if (name[i] == ':' || name[i] == ' ' || name[i] == '\t')
                return af_error_set(err, AF_ERR_INVALID, "invalid request header name");
        if (framing_header(name, name_len, 0))
            return 0;
        af_buf_add(out, name, name_len);
        af_buf_add(out, ": ", 2);
    } else {
        const char *colon = memchr(value, ':', value_len);
        if (!colon || colon == value)
            return af_error_set(err, AF_ERR_INVALID, "invalid request header line");
        if (framing_header(value, value_len, 1))
            return 0;
    }
    af_buf_add(out, value, value_len);
    af_buf_add(out, "\r\n", 2);
    return 0;
}

int af_http_request_end(af_buf *out, const char *method, const char *body, size_t body_len,
                        af_error *err)
{
    if (body || !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH")) {
        af_buf_adds(out, "Content-Length: ");
        af_buf_add_int(out, (long long)(body ? body_len : 0));
        af_buf_adds(out, "\r\n");
    }
    af_buf_adds(out, "Connection: keep-alive\r\n\r\n");
    if (body)
        af_buf_add(out, body, body_len);
    if (!af_buf_ok(out))
        return af_error_set(err, AF_ERR_NOMEM, "out of memory building the request");
    return 0;
}

int af_http_request(af_buf *out, const char *method, const char *url, const af_url_parts *u,
                    int absolute_target, const char *const *headers, size_t nheaders,
                    const char *body, size_t body_len, af_error *err)
{
    size_t i;
    if (af_http_request_head(out, method, url, u, absolute_target, err) != 0)
        return -1;
    for (i = 0; i < nheaders; i++)
        if (af_http_request_header(out, NULL, 0, headers[i], strlen(headers[i]), err) != 0)
            return -1;
    return af_http_request_end(out, method, body, body_len, err);
}
