/* transfer.c - configure an easy handle for one request and read its outcome. */
#include "transfer.h"

#include "interrupt.h"

#include <string.h>

#define SETOPT(opt, val)                                                     \
    do {                                                                     \
        CURLcode rc_ = curl_easy_setopt(easy, opt, val);                     \
        if (rc_ != CURLE_OK)                                                 \
            return setopt_failed(t, err, #opt, rc_);                         \
    } while (0)

static int setopt_failed(af_transfer *t, af_error *err, const char *opt, CURLcode rc)
{
    af_transfer_cleanup(t);
    err->curl_code = (int)rc;
    return af_error_set(err, rc == CURLE_OUT_OF_MEMORY ? AF_ERR_NOMEM : AF_ERR_INVALID,
                        "cannot set %s: %s", opt, curl_easy_strerror(rc));
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    af_transfer *t = userdata;
    size_t n = size * nmemb;

    t->body_started = 1;
    if (t->max_body && t->sink->len + n > t->max_body) {
        t->too_large = 1;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    if (af_buf_add(t->sink, ptr, n) != 0)
        return 0;
    return n;
}

/* Stops the transfer over a head that breaks HTTP's rules (RFC 9112 section 6.3: a
 * client must not guess the framing of such a response). */
static size_t bad_head(af_transfer *t, const char *why)
{
    t->bad_head = 1;
    t->bad_head_why = why;
    return 0;
}

static int has_name(const char *line, size_t n, const char *name)
{
    size_t i, k = strlen(name);
    if (n <= k || line[k] != ':')
        return 0;
    for (i = 0; i < k; i++) {
        char c = line[i];
        if ((c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c) != name[i])
            return 0;
    }
    return 1;
}

/* A Content-Length value: 1 to 18 digits (so it fits), blanks around; -1 otherwise. */
static long long parse_length(const char *v, const char *end)
{
    long long len = 0;
    int digits = 0;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (; v < end; v++, digits++) {
        if (*v < '0' || *v > '9' || digits == 18)
            return -1;
        len = len * 10 + (*v - '0');
    }
    return digits ? len : -1;
}

/* The status code of a status line ("HTTP/1.1 401 ..."), or 0: a stream needs it
 * as soon as the head is in, before libcurl reports it (at the transfer's end). */
static long status_of(const char *line, size_t n)
{
    const char *sp = memchr(line, ' ', n);
    size_t at;
    long code = 0;
    int i;

    if (!sp)
        return 0;
    at = (size_t)(sp - line) + 1;
    if (at + 3 > n)
        return 0;
    for (i = 0; i < 3; i++) {
        char c = line[at + (size_t)i];
        if (c < '0' || c > '9')
            return 0;
        code = code * 10 + (c - '0');
    }
    return code;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    af_transfer *t = userdata;
    size_t n = size * nmemb, len, i;
    af_buf *h = &t->resp->headers;

    t->head_bytes += n;
    if (t->head_bytes > AF_MAX_HEAD_BYTES) {
        t->headers_too_large = 1;
        return 0;
    }
    /* A status line starts a new header block (after 100 Continue, or a redirect):
     * keep only the final response's headers. */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        af_buf_reset(h);
        t->content_length = -1;
        t->transfer_encoding = 0;
        t->resp->status = status_of(ptr, n);
        return n;
    }
    if (n <= 2 && (ptr[0] == '\r' || ptr[0] == '\n')) {
        /* the end of a block: a length beside a transfer coding is ambiguous */
        if (t->content_length >= 0 && t->transfer_encoding)
            return bad_head(t, "both Content-Length and Transfer-Encoding");
        return n;
    }
    /* Field values may not hold CR, NUL or other control bytes (RFC 9110 5.5): they
     * would reach the caller's logs and terminals. Only the line's own end is allowed. */
    len = n;
    if (len && ptr[len - 1] == '\n')
        len--;
    if (len && ptr[len - 1] == '\r')
        len--;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)ptr[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return bad_head(t, "a control character in a header");
    }
    if (has_name(ptr, len, "content-length")) {
        long long v = parse_length(ptr + 15, ptr + len);
        if (v < 0)
            return bad_head(t, "an invalid Content-Length");
        if (t->content_length >= 0 && t->content_length != v)
            return bad_head(t, "conflicting Content-Length headers");
        t->content_length = v;
    } else if (has_name(ptr, len, "transfer-encoding")) {
        t->transfer_encoding = 1;
    }
    if (af_buf_add(h, ptr, n) != 0) {
        t->headers_too_large = h->overflow;
        return 0;
    }
    return n;
}

/* Where redirects may lead: http and https, but from an https URL only https, so
 * that nothing of the request (its path, query, headers, body) is sent in clear text
 * after the caller chose TLS. Set per request, when it changes. */
static int apply_redirect_protocols(af_transfer *t, af_handle *h, const char *url,
                                    af_error *err)
{
    CURL *easy = h->easy;
    int https_only = strncmp(url, "https:", 6) == 0 || strncmp(url, "HTTPS:", 6) == 0;

    if (h->redirects_https_only == https_only)
        return 0;
    h->redirects_https_only = -1; /* a failure part-way leaves it unknown */
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, https_only ? "https" : "http,https");
#else
    SETOPT(CURLOPT_REDIR_PROTOCOLS,
           https_only ? (long)CURLPROTO_HTTPS : (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    h->redirects_https_only = https_only;
    return 0;
}

/* libcurl calls this at least once a second while a transfer runs, even when no
 * byte moves, so a SIGINT ends a request that waits on a silent server. */
static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)userdata;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return af_interrupted() ? 1 : 0; /* non-zero aborts with CURLE_ABORTED_BY_CALLBACK */
}

static int is_method(const char *m, const char *want)
{
    return strcmp(m, want) == 0;
}

/* The session's options: set once on each handle (see af_handle). */
static int apply_session_options(af_transfer *t, af_session *s, CURL *easy, af_error *err)
{
    const af_session_opts *o = &s->opts;

    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
    SETOPT(CURLOPT_SSL_VERIFYPEER, o->verify_tls ? 1L : 0L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, o->verify_tls ? 2L : 0L);
    if (o->ca_file)
        SETOPT(CURLOPT_CAINFO, o->ca_file);
    if (o->ca_path)
        SETOPT(CURLOPT_CAPATH, o->ca_path);
    if (o->cert_file)
        SETOPT(CURLOPT_SSLCERT, o->cert_file);
    if (o->key_file)
        SETOPT(CURLOPT_SSLKEY, o->key_file);
    if (o->key_password)
        SETOPT(CURLOPT_KEYPASSWD, o->key_password);
    if (o->proxy)
        SETOPT(CURLOPT_PROXY, o->proxy);
    SETOPT(CURLOPT_USERAGENT, o->user_agent);
    if (o->http_version == 11)
        SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    else if (o->http_version == 2)
        SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (o->max_redirects > 0) {
        SETOPT(CURLOPT_FOLLOWLOCATION, 1L);
        SETOPT(CURLOPT_MAXREDIRS, o->max_redirects);
    }
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0 */
    SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (o->compressed)
        SETOPT(CURLOPT_ACCEPT_ENCODING, "");
    if (o->max_body_bytes)
        SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body_bytes);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    /* 64 KiB reads instead of 16: a page of runs arrives in a few callbacks (the
     * client's CPU per 90 KB page drops by about a fifth; bench/RESULTS.md) */
    SETOPT(CURLOPT_BUFFERSIZE, 65536L);
    return 0;
}

/* Credentials: every auth option is set (to NULL where unused), so that nothing of
 * the previous kind stays on the handle. `kind` is AF_AUTH_NONE for a no_auth
 * request. */
static int apply_auth(af_transfer *t, af_session *s, CURL *easy, af_auth_kind kind,
                      af_error *err)
{
    /* USERPWD first: it sets (or clears) both the user name and the password */
    SETOPT(CURLOPT_USERPWD, kind == AF_AUTH_NEGOTIATE ? ":" : NULL);
    if (kind == AF_AUTH_BASIC) {
        SETOPT(CURLOPT_USERNAME, s->auth_user);
        SETOPT(CURLOPT_PASSWORD, s->auth_secret);
    }
    SETOPT(CURLOPT_XOAUTH2_BEARER, kind == AF_AUTH_BEARER ? s->auth_secret : NULL);
    switch (kind) {
    case AF_AUTH_BASIC: SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC); break;
    case AF_AUTH_BEARER: SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER); break;
    case AF_AUTH_NEGOTIATE: SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_NEGOTIATE); break;
    case AF_AUTH_NONE: SETOPT(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC); break; /* the default */
    }
    return 0;
}

/* Whether the request goes out with a body: one was given, or the method is one
 * that carries one (POST, PUT, PATCH), sent empty then. */
static int sends_body(const af_request *req)
{
    const char *m = req->method ? req->method : "GET";
    return req->body || is_method(m, "POST") || is_method(m, "PUT") || is_method(m, "PATCH");
}

/* The method and body, set in full on every request: no option of the previous
 * request's method may stay behind. */
static int apply_method_and_body(af_transfer *t, const af_request *req, CURL *easy,
                                 af_error *err)
{
    const char *m = req->method ? req->method : "GET";
    int is_get = is_method(m, "GET"), is_head = is_method(m, "HEAD");

    if (sends_body(req)) {
        /* POSTFIELDS with an explicit size: binary-safe, and Content-Length is sent
         * even for an empty body. libcurl does not copy the data: the request outlives
         * the transfer. */
        SETOPT(CURLOPT_NOBODY, 0L); /* after a HEAD */
        SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        SETOPT(CURLOPT_POSTFIELDS, req->body ? req->body : "");
        SETOPT(CURLOPT_CUSTOMREQUEST, is_method(m, "POST") ? NULL : m);
        return 0;
    }
    /* No body: drop the previous request's (its memory is gone), then back to GET. */
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    SETOPT(CURLOPT_POSTFIELDS, NULL);
    SETOPT(CURLOPT_HTTPGET, 1L);
    if (is_head)
        SETOPT(CURLOPT_NOBODY, 1L);
    SETOPT(CURLOPT_CUSTOMREQUEST, is_get || is_head ? NULL : m);
    return 0;
}

static int build_header_list(af_transfer *t, const af_request *req, af_error *err)
{
    size_t i;
    struct curl_slist *l;

    for (i = 0; i < req->nheaders; i++) {
        l = curl_slist_append(t->headers, req->headers[i]);
        if (!l)
            goto nomem;
        t->headers = l;
    }
    /* An empty Expect disables 100-continue, which stalls bodies on servers that
     * never answer it. */
    l = curl_slist_append(t->headers, "Expect:");
    if (!l)
        goto nomem;
    t->headers = l;
    /* A POST, PUT or PATCH without a body is sent with an empty one, for which
     * libcurl would add Content-Type: application/x-www-form-urlencoded: an empty
     * value drops that header (a request without a body has no media type). */
    if (!req->body && sends_body(req)) {
        l = curl_slist_append(t->headers, "Content-Type:");
        if (!l)
            goto nomem;
        t->headers = l;
    }
    return 0;
nomem:
    af_transfer_cleanup(t);
    return af_error_set(err, AF_ERR_NOMEM, "out of memory building request headers");
}

int af_handle_init(af_session *s, af_handle *h)
{
    memset(h, 0, sizeof *h);
    h->redirects_https_only = -1;
    h->easy = curl_easy_init();
    if (h->easy && curl_easy_setopt(h->easy, CURLOPT_SHARE, s->share) != CURLE_OK) {
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
    }
    return h->easy ? 0 : -1;
}

void af_handle_free(af_handle *h)
{
    if (h->easy)
        curl_easy_cleanup(h->easy);
    memset(h, 0, sizeof *h);
}

int af_transfer_setup(af_transfer *t, af_session *s, af_handle *h, const af_request *req,
                      af_response *resp, af_error *err)
{
    CURL *easy = h->easy;
    unsigned long long want_auth = req->no_auth ? 0 : s->auth_gen;

    memset(t, 0, sizeof *t);
    t->easy = easy;
    t->resp = resp;
    t->sink = &resp->body;
    t->max_body = s->opts.max_body_bytes;
    t->content_length = -1;
    if (!req->url || !*req->url)
        return af_error_set(err, AF_ERR_INVALID, "request has no URL");

    if (af_interrupted())
        return af_error_set(err, AF_ERR_INTERRUPTED, "interrupted");
    if (build_header_list(t, req, err) != 0)
        return -1;
    if (!h->configured) {
        if (apply_session_options(t, s, easy, err) != 0)
            return -1;
        h->configured = 1;
        h->auth_applied = AF_AUTH_UNKNOWN; /* set the credentials below */
    }
    if (!h->interruptible && af_interrupt_installed()) {
        SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
        SETOPT(CURLOPT_NOPROGRESS, 0L);
        h->interruptible = 1;
    }
    if (h->auth_applied != want_auth) {
        h->auth_applied = AF_AUTH_UNKNOWN; /* a failure part-way leaves it unknown */
        if (apply_auth(t, s, easy, req->no_auth ? AF_AUTH_NONE : s->auth, err) != 0)
            return -1;
        h->auth_applied = want_auth;
    }
    if (apply_method_and_body(t, req, easy, err) != 0)
        return -1;
    if (apply_redirect_protocols(t, h, req->url, err) != 0)
        return -1;
    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : s->opts.timeout_ms);
    SETOPT(CURLOPT_HTTPHEADER, t->headers);
    SETOPT(CURLOPT_ERRORBUFFER, t->errbuf);
    SETOPT(CURLOPT_WRITEDATA, t);
    SETOPT(CURLOPT_HEADERDATA, t);
    SETOPT(CURLOPT_PRIVATE, t);
    return 0;
}

/* The scheme libcurl's message names (`Protocol "file" not supported...`) into
 * out (`"file:"`), or "unknown" when it names none that looks like one. */
static const char *scheme_named(const char *msg, char *out, size_t cap)
{
    const char *q = strchr(msg, '"'), *e;
    size_t i, n;

    e = q ? strchr(q + 1, '"') : NULL;
    n = e ? (size_t)(e - q - 1) : 0;
    if (n == 0 || n + 4 > cap)
        return "unknown";
    for (i = 1; i <= n; i++) {
        char c = q[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return "unknown";
    }
    out[0] = '"';
    memcpy(out + 1, q + 1, n);
    memcpy(out + 1 + n, ":\"", 3);
    return out;
}

int af_transfer_finish(af_transfer *t, CURLcode rc, af_error *err)
{
    CURL *easy = t->easy;
    af_response *r = t->resp;
    long connects = 0;
    char scheme[24];

    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &r->http_version);
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &r->total_seconds);
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
    r->new_connections = connects;
    switch (r->http_version) {
    case CURL_HTTP_VERSION_1_0: r->http_version = 10; break;
    case CURL_HTTP_VERSION_1_1: r->http_version = 11; break;
    case CURL_HTTP_VERSION_2_0: r->http_version = 20; break;
    case CURL_HTTP_VERSION_3: r->http_version = 30; break;
    default: r->http_version = 0; break;
    }
    af_transfer_cleanup(t);
    if (rc == CURLE_OK)
        return 0;

    err->curl_code = (int)rc;
    if (rc == CURLE_ABORTED_BY_CALLBACK && af_interrupted())
        af_error_set(err, AF_ERR_INTERRUPTED, "interrupted");
    else if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        af_error_set(err, AF_ERR_TOO_LARGE, "response body exceeds the limit of %zu bytes%s",
                     t->max_body, t->sink == &r->body ? "" : " between two reads of the stream");
    else if (t->headers_too_large)
        af_error_set(err, AF_ERR_TOO_LARGE, "response headers exceed %zu bytes",
                     t->head_bytes > AF_MAX_HEAD_BYTES ? (size_t)AF_MAX_HEAD_BYTES
                                                       : r->headers.limit);
    else if (t->bad_head)
        af_error_set(err, AF_ERR_PROTOCOL, "malformed response: %s", t->bad_head_why);
    else if (rc == CURLE_OUT_OF_MEMORY && !t->body_started && !t->errbuf[0])
        /* libcurl 7.x says "out of memory" for a header line over its 100 KB limit */
        af_error_set(err, AF_ERR_TOO_LARGE, "a response header line exceeds libcurl's limit");
    else if (rc == CURLE_UNSUPPORTED_PROTOCOL && r->status >= 300 && r->status < 400)
        af_error_set(err, AF_ERR_PROTOCOL, "redirect refused: the new location's scheme is "
                     "%s; only http and https are followed, and never from https to http",
                     scheme_named(t->errbuf, scheme, sizeof scheme));
    else if (rc == CURLE_WRITE_ERROR)
        af_error_set(err, AF_ERR_NOMEM, "out of memory storing the response");
    else
        af_error_set(err, af_error_from_curl(rc), "%s",
                     t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
    af_buf_reset(&r->body);
    return -1;
}

void af_transfer_cleanup(af_transfer *t)
{
    /* The easy handle outlives the transfer: leave it no pointer into freed memory
     * or into the caller's stack. */
    if (t->easy) {
        curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, NULL);
    }
    if (t->headers) {
        curl_slist_free_all(t->headers);
        t->headers = NULL;
    }
}
