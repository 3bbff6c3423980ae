/*
 * transfer.h - internal: one request on one libcurl easy handle.
 *
 * Shared by session.c (sequential), batch.c (concurrent) and stream.c. A transfer
 * borrows its easy handle and response; it owns only its header list, freed by
 * af_transfer_cleanup(). Callbacks only copy bytes into C buffers: no Lua, no
 * longjmp, ever crosses libcurl.
 */
#ifndef AIRFLOW_TRANSFER_H
#define AIRFLOW_TRANSFER_H

#include <curl/curl.h>

#include "session.h"

#define AF_AUTH_UNKNOWN (~0ULL)

/* An easy handle and what has been set on it. Session options are set once per
 * handle and credentials once per change, so a request sets only its own options
 * (URL, method, body, headers, timeout) instead of resetting the handle. */
typedef struct af_handle {
    CURL *easy;
    int configured;           /* 1 = the session's options are set on it */
    unsigned long long auth_applied; /* the session's auth_gen set on it; 0 = no
                                        credentials, AF_AUTH_UNKNOWN = unknown */
    int redirects_https_only; /* 1 = redirects may only go to https (an https request),
                                 0 = to http or https, -1 = not set yet */
    int interruptible;        /* 1 = the progress callback checks af_interrupted() */
} af_handle;

/* What a response's head may hold at most, in bytes, counting every header line of
 * every response the transfer received (1xx, redirects, the final one). */
#define AF_MAX_HEAD_BYTES (256 * 1024)

struct af_session {
    af_session_opts opts;     /* strings are owned copies */
    af_auth_kind auth;
    char *auth_user;
    char *auth_secret;        /* wiped before free */
    unsigned long long auth_gen; /* starts at 1, bumped by every set_auth */
    CURLSH *share;            /* connection pool, DNS cache, TLS sessions */
    af_handle main;           /* used by af_session_perform */
    af_handle *pool;          /* used by batches (af_batch_start) */
    size_t npool;
    CURLM *multi;
    int batch_running;        /* 1 while a batch uses the pool and the multi */
    struct af_stream *streams; /* open streams: their handles use `share`, so freeing
                                  the session detaches them first (stream.c) */
};

typedef struct af_transfer {
    CURL *easy;
    struct curl_slist *headers;
    af_response *resp;
    af_buf *sink;            /* where body bytes go: &resp->body, or a stream buffer */
    size_t max_body;         /* cap on what the sink holds: the whole body, or for a
                                stream what arrives between two reads; 0 = none */
    int too_large;
    int headers_too_large;
    size_t head_bytes;       /* header bytes received so far (see AF_MAX_HEAD_BYTES) */
    int body_started;        /* a body byte arrived */
    int bad_head;            /* the head broke HTTP's rules: `bad_head_why` says how */
    const char *bad_head_why;
    long long content_length; /* of the current header block; -1 = none yet */
    int transfer_encoding;   /* the current header block has a Transfer-Encoding */
    char errbuf[CURL_ERROR_SIZE];
} af_transfer;

/* Fills *h with a new easy handle attached to the session's share, not yet
 * configured. Returns 0, or -1 (h->easy is then NULL). */
int af_handle_init(af_session *s, af_handle *h);
/* Frees the handle's easy handle. Idempotent. */
void af_handle_free(af_handle *h);

/* Configures the handle for `req`, writing into `resp` (which must be initialised).
 * The request's strings must outlive the transfer. Returns 0, or -1 with err set
 * (the transfer is then cleaned up). */
int af_transfer_setup(af_transfer *t, af_session *s, af_handle *h, const af_request *req,
                      af_response *resp, af_error *err);
/* Reads status and timings after libcurl finished with result `rc`; cleans up.
 * Returns 0 on an HTTP response, -1 with err set on a transport failure. */
int af_transfer_finish(af_transfer *t, CURLcode rc, af_error *err);
/* Frees what the transfer owns. Idempotent. */
void af_transfer_cleanup(af_transfer *t);

/* Ends every open stream's transfer and frees its handle, leaving the streams
 * themselves to their owners (af_stream_next then fails, af_stream_close frees
 * them). Called by af_session_free before the share goes. */
void af_streams_detach(af_session *s);

#endif
