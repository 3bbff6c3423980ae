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

    if (t->max_body && t->sink->len + n > t->max_body) {
        t->too_large = 1;
        return 0; /* libcurl stops with CURLE_WRITE_ERROR */
    }
    if (af_buf_add(t->sink, ptr, n) != 0)
        return 0;
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    af_transfer *t = userdata;
    size_t n = size * nmemb;
    af_buf *h = &t->resp->headers;

    /* A status line starts a new header block (after 100 Continue, or a redirect):
     * keep only the final response's headers. */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        af_buf_reset(h);
        return n;
    }
    if (n <= 2 && (ptr[0] == '\r' || ptr[0] == '\n'))
        return n;
    if (af_buf_add(h, ptr, n) != 0) {
        t->headers_too_large = h->overflow;
        return 0;
    }
    return n;
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
    SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SETOPT(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
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

/* The method and body, set in full on every request: no option of the previous
 * request's method may stay behind. */
static int apply_method_and_body(af_transfer *t, const af_request *req, CURL *easy,
                                 af_error *err)
{
    const char *m = req->method ? req->method : "GET";
    int is_get = is_method(m, "GET"), is_head = is_method(m, "HEAD");

    if (req->body || is_method(m, "POST") || is_method(m, "PUT") || is_method(m, "PATCH")) {
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
    return 0;
nomem:
    af_transfer_cleanup(t);
    return af_error_set(err, AF_ERR_NOMEM, "out of memory building request headers");
}

int af_handle_init(af_session *s, af_handle *h)
{
    memset(h, 0, sizeof *h);
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
    SETOPT(CURLOPT_URL, req->url);
    SETOPT(CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : s->opts.timeout_ms);
    SETOPT(CURLOPT_HTTPHEADER, t->headers);
    SETOPT(CURLOPT_ERRORBUFFER, t->errbuf);
    SETOPT(CURLOPT_WRITEDATA, t);
    SETOPT(CURLOPT_HEADERDATA, t);
    SETOPT(CURLOPT_PRIVATE, t);
    return 0;
}

int af_transfer_finish(af_transfer *t, CURLcode rc, af_error *err)
{
    CURL *easy = t->easy;
    af_response *r = t->resp;
    long connects = 0;

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
                     r->headers.limit);
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
