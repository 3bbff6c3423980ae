/*
 * ceiling.c - the benchmark's C ceiling: one libcurl easy handle, configured once and
 * reused for every request (one keep-alive connection), the body appended to a
 * growable buffer and otherwise ignored. Nothing is decoded.
 *
 *   ceiling URL MAX_REQUESTS MAX_SECONDS [CA_FILE|-] [like-lib]
 *
 * With "like-lib", the handle is set up the way airflow.core's transfer.c does it (once:
 * share handle, User-Agent, Accept-Encoding, redirects, protocol lists, 64 KiB reads;
 * per request: its own header list with "Expect:", the method in full, URL, timeout),
 * to tell the cost of those libcurl features apart from the cost of the Lua binding
 * and the Lua layer.
 *
 * Prints "n=<requests> secs=<elapsed> bytes=<last body size> connects=<new connections>".
 * One untimed warm-up request opens the connection first.
 * Built by bench/run: cc -O2 -o ceiling bench/ceiling.c -lcurl
 */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct buf {
    char *data;
    size_t len, cap;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct buf *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->data, cap);
        if (!p)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fetch(CURL *easy, struct buf *b)
{
    long status = 0;
    CURLcode rc;
    b->len = 0;
    rc = curl_easy_perform(easy);
    if (rc != CURLE_OK) {
        fprintf(stderr, "ceiling: %s\n", curl_easy_strerror(rc));
        return -1;
    }
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        fprintf(stderr, "ceiling: HTTP %ld\n", status);
        return -1;
    }
    return 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr;
    (void)userdata;
    return size * nmemb;
}

static const char *url, *ca_file;
static struct curl_slist *headers;
static struct curl_slist *request_headers; /* like-lib: rebuilt per request */
static CURLSH *share;
static char errbuf[CURL_ERROR_SIZE];

/* The plain ceiling's options, set once. */
static void setup_plain(CURL *easy, struct buf *b)
{
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, b);
    if (ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file);
}

/* What airflow.core sets once on a handle (transfer.c, apply_session_options). */
static void configure_like_lib(CURL *easy, struct buf *b)
{
    curl_easy_setopt(easy, CURLOPT_SHARE, share);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file)
        curl_easy_setopt(easy, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "lua-airflow/0.1.0");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 5L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, 65536L);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, b);
}

/* What airflow.core sets before every request (af_transfer_setup): a header list
 * of its own, the method in full, URL, timeout, error buffer. */
static void setup_like_lib(CURL *easy)
{
    struct curl_slist *l = NULL;
    const struct curl_slist *h;
    for (h = headers; h; h = h->next)
        l = curl_slist_append(l, h->data);
    l = curl_slist_append(l, "Expect:");
    curl_slist_free_all(request_headers);
    request_headers = l;
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, request_headers);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
}

int main(int argc, char **argv)
{
    CURL *easy;
    struct buf b = {0};
    long max_n, n = 0, connects = 0, total_connects = 0;
    double max_secs, t0, t;
    int like_lib;

    if (argc < 4) {
        fprintf(stderr, "usage: ceiling URL MAX_REQUESTS MAX_SECONDS [CA_FILE|-] [like-lib]\n");
        return 2;
    }
    url = argv[1];
    max_n = atol(argv[2]);
    max_secs = atof(argv[3]);
    ca_file = argc > 4 && strcmp(argv[4], "-") != 0 && argv[4][0] ? argv[4] : NULL;
    like_lib = argc > 5 && strcmp(argv[5], "like-lib") == 0;
    curl_global_init(CURL_GLOBAL_ALL);
    easy = curl_easy_init();
    headers = curl_slist_append(headers, "Authorization: Bearer x");
    headers = curl_slist_append(headers, "Accept: application/json");
    if (like_lib) {
        share = curl_share_init();
        curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
        curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
        configure_like_lib(easy, &b);
        setup_like_lib(easy);
    } else {
        setup_plain(easy, &b);
    }

    if (fetch(easy, &b) != 0) /* warm-up: opens the connection */
        return 1;
    t0 = now();
    t = t0;
    while (n < max_n && t - t0 < max_secs) {
        if (like_lib)
            setup_like_lib(easy);
        if (fetch(easy, &b) != 0)
            return 1;
        curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
        total_connects += connects;
        n++;
        t = now();
    }
    printf("n=%ld secs=%.6f bytes=%zu connects=%ld\n", n, t - t0, b.len, total_connects);
    curl_easy_cleanup(easy);
    if (share)
        curl_share_cleanup(share);
    curl_slist_free_all(headers);
    curl_slist_free_all(request_headers);
    curl_global_cleanup();
    free(b.data);
    return 0;
}
