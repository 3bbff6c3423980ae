/* errors.c - error codes, their names, and the libcurl mapping. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>

void af_error_clear(af_error *e)
{
    e->code = AF_OK;
    e->curl_code = 0;
    e->message[0] = '\0';
}

int af_error_set(af_error *e, af_errcode code, const char *fmt, ...)
{
    va_list ap;
    e->code = code;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

af_errcode af_error_from_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return AF_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return AF_ERR_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return AF_ERR_RESOLVE;
    case CURLE_COULDNT_CONNECT:
    case CURLE_INTERFACE_FAILED:
        return AF_ERR_CONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
        return AF_ERR_TLS;
    case CURLE_FILESIZE_EXCEEDED:
        return AF_ERR_TOO_LARGE;
    case CURLE_SEND_ERROR:
    case CURLE_READ_ERROR:
        return AF_ERR_SEND;
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
        return AF_ERR_RECV;
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_BAD_CONTENT_ENCODING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_UNSUPPORTED_PROTOCOL:
        return AF_ERR_PROTOCOL;
    case CURLE_OUT_OF_MEMORY:
        return AF_ERR_NOMEM;
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return AF_ERR_INVALID;
    case CURLE_ABORTED_BY_CALLBACK:
        return AF_ERR_ABORTED;
    default:
        return AF_ERR_OTHER;
    }
}

const char *af_error_name(af_errcode code)
{
    switch (code) {
    case AF_OK: return "ok";
    case AF_ERR_TIMEOUT: return "timeout";
    case AF_ERR_CONNECT: return "connect";
    case AF_ERR_RESOLVE: return "resolve";
    case AF_ERR_TLS: return "tls";
    case AF_ERR_TOO_LARGE: return "too_large";
    case AF_ERR_SEND: return "send";
    case AF_ERR_RECV: return "recv";
    case AF_ERR_PROTOCOL: return "protocol";
    case AF_ERR_NOMEM: return "nomem";
    case AF_ERR_INVALID: return "invalid";
    case AF_ERR_ABORTED: return "aborted";
    case AF_ERR_INTERRUPTED: return "interrupted";
    case AF_ERR_OTHER: break;
    }
    return "other";
}
