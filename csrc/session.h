/*
 * session.h - an HTTP session over libcurl: options, auth, one request or many.
 *
 * A session owns a libcurl share handle (connection pool, DNS cache, TLS sessions)
 * and a small pool of easy handles, so sequential requests reuse one keep-alive
 * connection and concurrent requests reuse a pool of them. A session is used by
 * one thread at a time. No Lua here: the binding lives in csrc/lua/.
 *
 * Ownership: the session copies every option string it is given and frees them in
 * af_session_free(); secrets are wiped before being freed. Requests are borrowed
 * for the duration of a call. Responses are owned by the caller (af_response_free).
 */
#ifndef AIRFLOW_SESSION_H
#define AIRFLOW_SESSION_H

#include <stddef.h>

#include "errors.h"
#include "strbuf.h"

typedef enum af_auth_kind {
    AF_AUTH_NONE = 0,
    AF_AUTH_BASIC,      /* username + password */
    AF_AUTH_BEARER,     /* token */
    AF_AUTH_NEGOTIATE   /* SPNEGO/Kerberos from the credential cache */
} af_auth_kind;

typedef struct af_session_opts {
    long timeout_ms;          /* whole request, 0 = none */
    long connect_timeout_ms;  /* 0 = libcurl's default (300 s) */
    int verify_tls;           /* 1 = verify peer and host (the default) */
    const char *ca_file;      /* PEM bundle, or NULL for the system store */
    const char *ca_path;      /* directory of hashed certificates, or NULL */
    const char *cert_file;    /* client certificate (PEM), or NULL */
    const char *key_file;     /* client key (PEM), or NULL */
    const char *key_password; /* secret: passphrase of key_file, or NULL */
    const char *proxy;        /* proxy URL, or NULL for libcurl's default (environment) */
    const char *user_agent;   /* NULL = "lua-airflow" */
    int http_version;         /* 0 = libcurl's choice, 11 = HTTP/1.1, 2 = HTTP/2 */
    size_t max_body_bytes;    /* cap on a response body as decoded (after gzip), 0 = unlimited;
                                 AF_DEFAULT_MAX_BODY by default, so no server can make
                                 the client inflate a small reply into gigabytes */
    long max_redirects;       /* 0 = do not follow redirects */
    int compressed;           /* 1 = ask for gzip/deflate and decode it */
} af_session_opts;

#define AF_DEFAULT_MAX_BODY ((size_t)256 * 1024 * 1024) /* 256 MiB */

/* Fills opts with the defaults (verify_tls on, 30 s timeout, 10 s connect, 5 redirects,
 * bodies up to AF_DEFAULT_MAX_BODY). */
void af_session_opts_default(af_session_opts *opts);

typedef struct af_request {
    const char *method;           /* "GET", "POST", ... */
    const char *url;              /* absolute URL */
    const char *const *headers;   /* "Name: value" lines, may be NULL */
    size_t nheaders;
    const char *body;             /* may be NULL */
    size_t body_len;
    long timeout_ms;              /* overrides the session's when > 0 */
    int no_auth;                  /* 1 = do not send the session's credentials */
} af_request;

typedef struct af_response {
    long status;              /* final HTTP status */
    long http_version;        /* 10, 11, 20 or 30 */
    double total_seconds;     /* as measured by libcurl */
    long new_connections;     /* connections opened for this request (0 = reused) */
    af_buf headers;           /* raw header lines of the final response, CRLF-separated,
                                 status line excluded */
    af_buf body;              /* the decoded body */
} af_response;

typedef struct af_session af_session;

/* Initialises libcurl once per process (thread-safe). Returns 0, or -1 with err set. */
int af_global_init(af_error *err);

/* Creates a session; returns NULL with err set on failure. */
af_session *af_session_new(const af_session_opts *opts, af_error *err);
/* Frees the session, its handles and its copies of options. NULL is fine. */
void af_session_free(af_session *s);

/* Sets the credentials sent with each request (copied; NULLs allowed for NONE/NEGOTIATE).
 * For BASIC: user and secret = password; BEARER: secret = token. Returns 0 or -1. */
int af_session_set_auth(af_session *s, af_auth_kind kind, const char *user,
                        const char *secret, af_error *err);
af_auth_kind af_session_auth_kind(const af_session *s);
/* The options in force (strings owned by the session). */
const af_session_opts *af_session_options(const af_session *s);

void af_response_init(af_response *r);
void af_response_free(af_response *r);

/* Performs one request. Returns 0 with *resp filled (any HTTP status is a success
 * here), or -1 with err set (transport failure; resp is then empty). */
int af_session_perform(af_session *s, const af_request *req, af_response *resp,
                       af_error *err);

/* Performs n requests with at most `concurrency` in flight. resps[i] and errs[i]
 * receive request i's outcome (errs[i].code == AF_OK on success). Returns 0 when
 * the batch ran (individual requests may still have failed), -1 with err set when
 * it could not run at all. */
int af_session_perform_many(af_session *s, const af_request *reqs, af_response *resps,
                            af_error *errs, size_t n, int concurrency, af_error *err);

/* The same, one response at a time as each finishes, so the caller can use a
 * response while the others are still in flight. A session runs one batch at a
 * time (a second af_batch_start fails with AF_ERR_INVALID); single requests may be
 * made meanwhile. The batch borrows reqs, resps and errs until af_batch_free. */
typedef struct af_batch af_batch;
/* Starts the batch; returns NULL with err set on failure. */
af_batch *af_batch_start(af_session *s, const af_request *reqs, af_response *resps,
                         af_error *errs, size_t n, int concurrency, af_error *err);
/* Runs transfers until one more request has finished and returns its index
 * (resps[i] or errs[i] then holds its outcome), or -1 once every index was returned. */
long af_batch_next(af_batch *b);
/* Ends the batch, abandoning transfers still in flight, and frees it. NULL is fine. */
void af_batch_free(af_batch *b);

/* Streaming: one request whose body is handed over in chunks as it arrives. A stream
 * has no limit on its whole body (a log may run for hours); max_body_bytes bounds what
 * arrives between two af_stream_next calls (AF_ERR_TOO_LARGE past it). */
typedef struct af_stream af_stream;
/* Starts a request; returns NULL with err set on failure. */
af_stream *af_stream_open(af_session *s, const af_request *req, af_error *err);
/* Waits for more data. Returns 1 with *data and *len set to the bytes received since the
 * last call (valid until the next call), 0 when the transfer is complete (status and
 * headers are in resp), -1 on failure with err set. */
int af_stream_next(af_stream *st, const char **data, size_t *len, af_error *err);
/* The response head (status, headers) once known; the body buffer is not used. */
const af_response *af_stream_response(const af_stream *st);
/* Ends the transfer (early or not) and frees the stream. NULL is fine. */
void af_stream_close(af_stream *st);

#endif
