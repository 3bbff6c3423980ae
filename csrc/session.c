/* session.c - session lifetime, options and credentials. */
#include "transfer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init_once(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_ALL);
}

int af_global_init(af_error *err)
{
    pthread_once(&global_once, global_init_once);
    if (global_rc != CURLE_OK) {
        err->curl_code = (int)global_rc;
        return af_error_set(err, AF_ERR_OTHER, "libcurl initialisation failed: %s",
                            curl_easy_strerror(global_rc));
    }
    return 0;
}

void af_session_opts_default(af_session_opts *o)
{
    memset(o, 0, sizeof *o);
    o->timeout_ms = 30000;
    o->connect_timeout_ms = 10000;
    o->verify_tls = 1;
    o->max_redirects = 5;
    o->max_body_bytes = AF_DEFAULT_MAX_BODY;
    o->compressed = 1;
}

/* Overwrites a secret before freeing it, through a volatile pointer so the
 * compiler cannot drop the stores. */
static void free_secret(char *p)
{
    if (p) {
        volatile char *v = p;
        while (*v)
            *v++ = '\0';
        free(p);
    }
}

static int copy_string(const char *src, const char **dst)
{
    char *p;
    if (!src) {
        *dst = NULL;
        return 0;
    }
    p = malloc(strlen(src) + 1);
    if (!p)
        return -1;
    strcpy(p, src);
    *dst = p;
    return 0;
}

static void free_opts_strings(af_session_opts *o)
{
    free((char *)o->ca_file);
    free((char *)o->ca_path);
    free((char *)o->cert_file);
    free((char *)o->key_file);
    free_secret((char *)o->key_password);
    free((char *)o->proxy);
    free((char *)o->user_agent);
    o->ca_file = o->ca_path = o->cert_file = o->key_file = NULL;
    o->key_password = o->proxy = o->user_agent = NULL;
}

af_session *af_session_new(const af_session_opts *opts, af_error *err)
{
    af_session *s;
    af_session_opts defaults;

    if (af_global_init(err) != 0)
        return NULL;
    if (!opts) {
        af_session_opts_default(&defaults);
        opts = &defaults;
    }
    s = calloc(1, sizeof *s);
    if (!s) {
        af_error_set(err, AF_ERR_NOMEM, "out of memory creating a session");
        return NULL;
    }
    s->opts = *opts;
    s->opts.ca_file = s->opts.ca_path = s->opts.cert_file = s->opts.key_file = NULL;
    s->opts.key_password = s->opts.proxy = s->opts.user_agent = NULL;
    if (copy_string(opts->ca_file, &s->opts.ca_file) || copy_string(opts->ca_path, &s->opts.ca_path) ||
        copy_string(opts->cert_file, &s->opts.cert_file) ||
        copy_string(opts->key_file, &s->opts.key_file) ||
        copy_string(opts->key_password, &s->opts.key_password) ||
        copy_string(opts->proxy, &s->opts.proxy) ||
        copy_string(opts->user_agent ? opts->user_agent : "lua-airflow", &s->opts.user_agent)) {
        af_error_set(err, AF_ERR_NOMEM, "out of memory copying session options");
        goto fail;
    }
    s->share = curl_share_init();
    if (!s->share) {
        af_error_set(err, AF_ERR_NOMEM, "cannot create a libcurl share handle");
        goto fail;
    }
    /* One session is used by one thread at a time, so the share needs no locks. */
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    s->auth_gen = 1;
    if (af_handle_init(s, &s->main) != 0) {
        af_error_set(err, AF_ERR_NOMEM, "cannot create a libcurl easy handle");
        goto fail;
    }
    return s;
fail:
    af_session_free(s);
    return NULL;
}

void af_session_free(af_session *s)
{
    size_t i;
    if (!s)
        return;
    /* Easy handles go before the share they use, and the multi before its easies;
     * open streams' handles use the share too. */
    af_streams_detach(s);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    for (i = 0; i < s->npool; i++)
        af_handle_free(&s->pool[i]);
    free(s->pool);
    af_handle_free(&s->main);
    if (s->share)
        curl_share_cleanup(s->share);
    free_opts_strings(&s->opts);
    free(s->auth_user);
    free_secret(s->auth_secret);
    free(s);
}

/* Index+1 of the first byte of s that is a control character (or, with
 * `visible_only`, a space or not ASCII), or equal to `forbid` (0: none); 0 if none. */
static size_t bad_byte(const char *s, int visible_only, char forbid)
{
    const unsigned char *p;
    for (p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || (visible_only && (*p == 0x20 || *p >= 0x80)) ||
            (forbid && *p == (unsigned char)forbid))
            return (size_t)(p - (const unsigned char *)s) + 1;
    }
    return 0;
}

/* Credentials end up in a header: a bearer token as is, so only visible ASCII may
 * pass (a CR or LF would start a header of the attacker's choosing); basic ones are
 * base64-encoded, so anything but control characters may pass (and no ':' in the
 * user, which would move the split). The message names the position, never a byte. */
static int check_credentials(af_auth_kind kind, const char *user, const char *secret,
                             af_error *err)
{
    size_t at;
    if (kind == AF_AUTH_BEARER) {
        if (!*secret)
            return af_error_set(err, AF_ERR_INVALID, "the bearer token is empty");
        if ((at = bad_byte(secret, 1, 0)) != 0)
            return af_error_set(err, AF_ERR_INVALID,
                                "the bearer token has a byte outside visible ASCII at position %zu", at);
    } else if (kind == AF_AUTH_BASIC) {
        if ((at = bad_byte(user, 0, ':')) != 0)
            return af_error_set(err, AF_ERR_INVALID,
                                "the user name has a control character or ':' at position %zu", at);
        if ((at = bad_byte(secret, 0, 0)) != 0)
            return af_error_set(err, AF_ERR_INVALID,
                                "the password has a control character at position %zu", at);
    }
    return 0;
}

int af_session_set_auth(af_session *s, af_auth_kind kind, const char *user,
                        const char *secret, af_error *err)
{
    const char *u = NULL, *p = NULL;

    if ((kind == AF_AUTH_BASIC && (!user || !secret)) || (kind == AF_AUTH_BEARER && !secret))
        return af_error_set(err, AF_ERR_INVALID, "credentials missing for this auth kind");
    if (check_credentials(kind, user, secret, err) != 0)
        return -1;
    if (copy_string(kind == AF_AUTH_BASIC ? user : NULL, &u) ||
        copy_string(kind == AF_AUTH_BASIC || kind == AF_AUTH_BEARER ? secret : NULL, &p)) {
        free((char *)u);
        return af_error_set(err, AF_ERR_NOMEM, "out of memory storing credentials");
    }
    free(s->auth_user);
    free_secret(s->auth_secret);
    s->auth = kind;
    s->auth_user = (char *)u;
    s->auth_secret = (char *)p;
    s->auth_gen++; /* every handle sets the new credentials before its next request */
    return 0;
}

af_auth_kind af_session_auth_kind(const af_session *s)
{
    return s->auth;
}

const af_session_opts *af_session_options(const af_session *s)
{
    return &s->opts;
}

void af_response_init(af_response *r)
{
    r->status = 0;
    r->http_version = 0;
    r->total_seconds = 0;
    r->new_connections = 0;
    af_buf_init(&r->headers, 1024 * 1024);
    af_buf_init(&r->body, 0);
}

void af_response_free(af_response *r)
{
    af_buf_free(&r->headers);
    af_buf_free(&r->body);
}

int af_session_perform(af_session *s, const af_request *req, af_response *resp,
                       af_error *err)
{
    af_transfer t;
    CURLcode rc;

    af_error_clear(err);
    if (af_transfer_setup(&t, s, &s->main, req, resp, err) != 0)
        return -1;
    rc = curl_easy_perform(s->main.easy);
    return af_transfer_finish(&t, rc, err);
}
