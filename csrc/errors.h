/*
 * errors.h - the C core's error type: a machine-readable code plus a message.
 *
 * Codes are stable strings for Lua (af_error_name): "timeout", "connect",
 * "resolve", "tls", "too_large", ... Messages never contain credentials: the
 * session composes them from libcurl's error buffer and the request's verb and
 * redacted URL only.
 */
#ifndef AIRFLOW_ERRORS_H
#define AIRFLOW_ERRORS_H

#include <curl/curl.h>

typedef enum af_errcode {
    AF_OK = 0,
    AF_ERR_TIMEOUT,    /* total or connect timeout */
    AF_ERR_CONNECT,    /* refused, unreachable, proxy failure */
    AF_ERR_RESOLVE,    /* DNS failure */
    AF_ERR_TLS,        /* handshake, certificate, client key */
    AF_ERR_TOO_LARGE,  /* response body above the configured cap, or header too large */
    AF_ERR_SEND,       /* failure while sending the request */
    AF_ERR_RECV,       /* connection reset or closed mid-response */
    AF_ERR_PROTOCOL,   /* malformed response, bad chunked encoding, too many redirects */
    AF_ERR_NOMEM,      /* out of memory */
    AF_ERR_INVALID,    /* bad request description or option (caller's mistake) */
    AF_ERR_ABORTED,    /* stopped by the caller (a streaming callback asked to stop) */
    AF_ERR_INTERRUPTED, /* SIGINT arrived (only once af_interrupt_install() ran) */
    AF_ERR_OTHER
} af_errcode;

typedef struct af_error {
    af_errcode code;
    int curl_code;      /* CURLcode or CURLMcode that caused it, 0 if none */
    char message[512];  /* human-readable, NUL-terminated */
} af_error;

/* Clears an error to AF_OK with an empty message. */
void af_error_clear(af_error *e);
/* Sets code and a printf-style message (truncated to fit). Returns -1 for tail calls. */
int af_error_set(af_error *e, af_errcode code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Maps a libcurl transfer result to an error code. */
af_errcode af_error_from_curl(CURLcode rc);
/* The stable name of a code, e.g. "timeout". */
const char *af_error_name(af_errcode code);

#endif
