/* multi.c - many requests at once, and streamed responses, over curl multi. */
#include "transfer.h"

#include "interrupt.h"

#include <stdlib.h>
#include <string.h>

/* Grows the session's pool of easy handles to at least n. */
static int ensure_pool(af_session *s, size_t n, af_error *err)
{
    af_handle *pool;
    if (s->npool >= n)
        return 0;
    pool = realloc(s->pool, n * sizeof *pool);
    if (!pool)
        return af_error_set(err, AF_ERR_NOMEM, "out of memory growing the handle pool");
    s->pool = pool;
    while (s->npool < n) {
        if (af_handle_init(s, &s->pool[s->npool]) != 0)
            return af_error_set(err, AF_ERR_NOMEM, "cannot create a libcurl easy handle");
        s->npool++;
    }
    return 0;
}

static int ensure_multi(af_session *s, af_error *err)
{
    if (!s->multi) {
        s->multi = curl_multi_init();
        if (!s->multi)
            return af_error_set(err, AF_ERR_NOMEM, "cannot create a libcurl multi handle");
    }
    return 0;
}

/* One in-flight slot of a batch. */
typedef struct slot {
    af_transfer t;
    size_t index;  /* which request it carries */
    int busy;
} slot;

struct af_batch {
    af_session *s;
    const af_request *reqs;
    af_response *resps;
    af_error *errs;
    size_t n, width;
    size_t next;          /* the next request to start */
    size_t running;       /* transfers in flight */
    size_t *finished;     /* indexes finished and not yet returned, oldest first */
    size_t head, tail;    /* the queue is finished[head..tail) */
    slot *slots;
};

static void batch_finished(af_batch *b, size_t index)
{
    b->finished[b->tail++] = index; /* each index once: n entries suffice */
}

/* Starts requests in free slots, in input order. */
static void batch_fill(af_batch *b)
{
    af_session *s = b->s;
    size_t i;
    CURLMcode mc;

    for (i = 0; i < b->width && b->next < b->n; i++) {
        slot *sl = &b->slots[i];
        if (sl->busy)
            continue;
        sl->index = b->next++;
        if (af_transfer_setup(&sl->t, s, &s->pool[i], &b->reqs[sl->index], &b->resps[sl->index],
                              &b->errs[sl->index]) != 0) {
            batch_finished(b, sl->index);
            continue;
        }
        mc = curl_multi_add_handle(s->multi, s->pool[i].easy);
        if (mc != CURLM_OK) {
            af_transfer_cleanup(&sl->t);
            b->errs[sl->index].curl_code = (int)mc;
            af_error_set(&b->errs[sl->index], AF_ERR_OTHER, "%s", curl_multi_strerror(mc));
            batch_finished(b, sl->index);
            continue;
        }
        sl->busy = 1;
        b->running++;
    }
}

/* The multi handle itself failed: fail what is in flight and what is left. */
static void batch_fail_all(af_batch *b, CURLMcode mc)
{
    size_t i;
    for (i = 0; i < b->width; i++) {
        if (!b->slots[i].busy)
            continue;
        curl_multi_remove_handle(b->s->multi, b->s->pool[i].easy);
        af_transfer_cleanup(&b->slots[i].t);
        af_error_set(&b->errs[b->slots[i].index], AF_ERR_OTHER, "%s", curl_multi_strerror(mc));
        b->slots[i].busy = 0;
        batch_finished(b, b->slots[i].index);
    }
    b->running = 0;
    for (; b->next < b->n; b->next++) {
        af_error_set(&b->errs[b->next], AF_ERR_OTHER, "%s", curl_multi_strerror(mc));
        batch_finished(b, b->next);
    }
}

af_batch *af_batch_start(af_session *s, const af_request *reqs, af_response *resps,
                         af_error *errs, size_t n, int concurrency, af_error *err)
{
    af_batch *b;
    size_t i;

    af_error_clear(err);
    if (s->batch_running) {
        af_error_set(err, AF_ERR_INVALID, "the session is already running a batch");
        return NULL;
    }
    for (i = 0; i < n; i++)
        af_error_clear(&errs[i]);
    if (concurrency < 1)
        concurrency = 1;
    b = calloc(1, sizeof *b);
    if (!b) {
        af_error_set(err, AF_ERR_NOMEM, "out of memory starting a batch");
        return NULL;
    }
    b->s = s;
    b->reqs = reqs;
    b->resps = resps;
    b->errs = errs;
    b->n = n;
    b->width = (size_t)concurrency < n ? (size_t)concurrency : n;
    b->finished = calloc(n ? n : 1, sizeof *b->finished);
    b->slots = calloc(b->width ? b->width : 1, sizeof *b->slots);
    if (!b->finished || !b->slots) {
        af_error_set(err, AF_ERR_NOMEM, "out of memory for %zu transfers", n);
        goto fail;
    }
    if (n > 0 && (ensure_multi(s, err) != 0 || ensure_pool(s, b->width, err) != 0))
        goto fail;
    s->batch_running = 1;
    return b;
fail:
    free(b->finished);
    free(b->slots);
    free(b);
    return NULL;
}

long af_batch_next(af_batch *b)
{
    af_session *s = b->s;

    while (b->head == b->tail) {
        CURLMsg *msg;
        int left, still = 0, finished = 0;
        CURLMcode mc;

        if (b->next >= b->n && b->running == 0)
            return -1; /* every request was started and returned */
        batch_fill(b);
        if (b->head != b->tail || b->running == 0)
            continue; /* a request failed to start: hand it back first */

        mc = curl_multi_perform(s->multi, &still);
        while ((msg = curl_multi_info_read(s->multi, &left)) != NULL) {
            af_transfer *t = NULL;
            slot *sl;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
            sl = (slot *)t; /* af_transfer is the first member of slot */
            curl_multi_remove_handle(s->multi, msg->easy_handle);
            af_transfer_finish(&sl->t, msg->data.result, &b->errs[sl->index]);
            sl->busy = 0;
            b->running--;
            batch_finished(b, sl->index);
            finished++;
        }
        /* Start the next requests at once, before the caller gets the finished
         * ones: the server works on them while the caller reads its response. */
        if (finished > 0 && b->next < b->n && mc == CURLM_OK) {
            batch_fill(b);
            mc = curl_multi_perform(s->multi, &still);
        }
        /* Wait for sockets only when nothing finished: a finished transfer frees a
         * slot to refill at once, and polling with nothing in flight would sleep
         * the whole timeout. */
        if (mc == CURLM_OK && finished == 0 && still > 0)
            mc = curl_multi_poll(s->multi, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK)
            batch_fail_all(b, mc);
    }
    return (long)b->finished[b->head++];
}

void af_batch_free(af_batch *b)
{
    size_t i;
    if (!b)
        return;
    /* Transfers still in flight are abandoned: their connections are closed by
     * libcurl, not reused half-read. */
    for (i = 0; i < b->width; i++) {
        if (!b->slots[i].busy)
            continue;
        curl_multi_remove_handle(b->s->multi, b->s->pool[i].easy);
        af_transfer_cleanup(&b->slots[i].t);
    }
    b->s->batch_running = 0;
    free(b->finished);
    free(b->slots);
    free(b);
}

int af_session_perform_many(af_session *s, const af_request *reqs, af_response *resps,
                            af_error *errs, size_t n, int concurrency, af_error *err)
{
    af_batch *b = af_batch_start(s, reqs, resps, errs, n, concurrency, err);
    if (!b)
        return -1;
    while (af_batch_next(b) >= 0)
        ;
    af_batch_free(b);
    return 0;
}

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
    st->t.max_body = 0; /* chunks are consumed as they come */
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
        /* The status is known once headers arrived, before the body ends. */
        curl_easy_getinfo(st->h.easy, CURLINFO_RESPONSE_CODE, &r->status);
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
