/* batch.c - many requests at once over curl multi (af_batch_*, af_session_perform_many). */
#include "transfer.h"

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
