/* stream.c - one request whose body is handed over as it arrives (af_stream_*). */
#include "transfer.h"

#include <stdlib.h>

#include "interrupt.h"

struct af_stream {
    af_session *session;  /* NULL once the session was freed (af_streams_detach) */
    af_stream *next_open; /* the session's list of open streams */
    af_stream **prev_link;
    CURLM *multi;
    af_handle h;      /* a handle of its own: the stream may outlive other requests */
    af_transfer t;
    af_response resp;
    af_buf chunk;     /* bytes received since the last af_stream_next */
    int attached;
    int finished;
    CURLcode result;
};

af_stream *af_stream_open(af_session *s, const af_request *req, af_error *err)
{
    af_stream *st;

    af_error_clear(err);
    st = calloc(1, sizeof *st);
    if (!st) {
        af_error_set(err, AF_ERR_NOMEM, "out of memory opening a stream");
        return NULL;
    }
    st->session = s;
    st->next_open = s->streams; /* linked first: af_stream_close unlinks it */
    if (s->streams)
        s->streams->prev_link = &st->next_open;
    st->prev_link = &s->streams;
    s->streams = st;
    af_response_init(&st->resp);
    af_buf_init(&st->chunk, 0);
    st->multi = curl_multi_init();
    if (!st->multi || af_handle_init(s, &st->h) != 0) {
        af_error_set(err, AF_ERR_NOMEM, "cannot create libcurl handles for a stream");
        goto fail;
    }
    if (af_transfer_setup(&st->t, s, &st->h, req, &st->resp, err) != 0)
        goto fail;
    st->t.sink = &st->chunk;
    /* A stream's whole body has no limit (a log may run for hours), but what arrives
     * between two reads does: the session's max_body_bytes, so a gzip bomb cannot
     * inflate into memory faster than it is read. (Pausing the transfer instead
     * loses the body's tail in libcurl 7.88 when the transfer ends while paused.) */
    st->t.max_body = s->opts.max_body_bytes;
    if (curl_multi_add_handle(st->multi, st->h.easy) != CURLM_OK) {
        af_transfer_cleanup(&st->t);
        af_error_set(err, AF_ERR_OTHER, "cannot start the stream");
        goto fail;
    }
    st->attached = 1;
    return st;
fail:
    af_stream_close(st);
    return NULL;
}

int af_stream_next(af_stream *st, const char **data, size_t *len, af_error *err)
{
    af_error_clear(err);
    af_buf_reset(&st->chunk);
    if (!st->session)
        return af_error_set(err, AF_ERR_INVALID, "the stream's session was closed");
    while (!st->finished) {
        int still = 0, left;
        CURLMsg *msg;
        CURLMcode mc = curl_multi_perform(st->multi, &still);
        if (mc != CURLM_OK) {
            err->curl_code = (int)mc;
            return af_error_set(err, AF_ERR_OTHER, "%s", curl_multi_strerror(mc));
        }
        while ((msg = curl_multi_info_read(st->multi, &left)) != NULL) {
            if (msg->msg == CURLMSG_DONE) {
                st->finished = 1;
                st->result = msg->data.result;
            }
        }
        if (!af_buf_ok(&st->chunk))
            return af_error_set(err, AF_ERR_NOMEM, "out of memory reading the stream");
        if (st->chunk.len > 0) {
            *data = st->chunk.data;
            *len = st->chunk.len;
            return 1;
        }
        if (!st->finished && af_interrupted())
            return af_error_set(err, AF_ERR_INTERRUPTED, "interrupted");
        if (!st->finished) {
            mc = curl_multi_poll(st->multi, NULL, 0, 1000, NULL);
            if (mc != CURLM_OK) {
                err->curl_code = (int)mc;
                return af_error_set(err, AF_ERR_OTHER, "%s", curl_multi_strerror(mc));
            }
        }
    }
    if (st->attached) {
        curl_multi_remove_handle(st->multi, st->h.easy);
        st->attached = 0;
        if (af_transfer_finish(&st->t, st->result, err) != 0)
            return -1;
    }
    *data = NULL;
    *len = 0;
    return 0;
}

const af_response *af_stream_response(const af_stream *st)
{
    af_response *r = (af_response *)&st->resp;
    if (!st->finished && st->h.easy) {
        /* The status is known once headers arrived, before the body ends: the
         * header callback read it from the status line; libcurl may not say yet. */
        long code = 0;
        curl_easy_getinfo(st->h.easy, CURLINFO_RESPONSE_CODE, &code);
        if (code)
            r->status = code;
    }
    return r;
}

/* Ends the stream's transfer and frees its libcurl handles; the stream stays. */
static void stream_end_transfer(af_stream *st)
{
    if (st->attached) {
        curl_multi_remove_handle(st->multi, st->h.easy);
        af_transfer_cleanup(&st->t);
        st->attached = 0;
    }
    af_handle_free(&st->h);
    if (st->multi)
        curl_multi_cleanup(st->multi);
    st->multi = NULL;
}

static void stream_unlink(af_stream *st)
{
    if (!st->session)
        return;
    *st->prev_link = st->next_open;
    if (st->next_open)
        st->next_open->prev_link = st->prev_link;
    st->session = NULL;
}

void af_streams_detach(af_session *s)
{
    while (s->streams) {
        af_stream *st = s->streams;
        stream_end_transfer(st);
        stream_unlink(st);
    }
}

void af_stream_close(af_stream *st)
{
    if (!st)
        return;
    stream_end_transfer(st);
    stream_unlink(st);
    af_response_free(&st->resp);
    af_buf_free(&st->chunk);
    free(st);
}
