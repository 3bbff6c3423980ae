/*
 * test_core.c - tests of the Lua-free C core (session, transfers, multi, streams,
 * builder) against the real local test server started by tools/with-servers.
 *
 * Environment: TEST_SERVER_URL (http), TEST_TLS_URL and TEST_TLS_CA (https with a
 * self-signed CA). Prints one line per failure and a closing "N passed, N failed".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "builder.h"
#include "http_request.h"
#include "http_response.h"
#include "registry.h"
#include "session.h"

static int passed, failed;
static const char *base;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            passed++;                                                           \
        } else {                                                                \
            failed++;                                                           \
            printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);              \
            printf(__VA_ARGS__);                                                \
            printf("\n");                                                       \
        }                                                                       \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *url(const char *path)
{
    static char buf[8][1024];
    static int i;
    char *b = buf[i++ % 8];
    snprintf(b, 1024, "%s%s", base, path);
    return b;
}

static af_session *new_session(long timeout_ms, size_t max_body)
{
    af_session_opts o;
    af_error err;
    af_session *s;
    af_session_opts_default(&o);
    o.timeout_ms = timeout_ms;
    o.max_body_bytes = max_body;
    s = af_session_new(&o, &err);
    if (!s) {
        printf("cannot create session: %s\n", err.message);
        exit(2);
    }
    return s;
}

/* One GET; returns the status, or -1 with err filled. The body is left in resp. */
static long get(af_session *s, const char *u, af_response *resp, af_error *err)
{
    af_request req;
    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.url = u;
    af_response_free(resp);
    af_response_init(resp);
    if (af_session_perform(s, &req, resp, err) != 0)
        return -1;
    return resp->status;
}

static long stats_connections(af_session *s)
{
    af_response r;
    af_error e;
    long n = -1;
    af_response_init(&r);
    if (get(s, url("/_stats"), &r, &e) == 200) {
        const char *p = strstr(af_buf_cstr(&r.body), "\"connections\":");
        if (p)
            n = strtol(p + 14, NULL, 10);
    }
    af_response_free(&r);
    return n;
}

static void reset_stats(void)
{
    af_session *s = new_session(5000, 0);
    af_request req;
    af_response r;
    af_error e;
    memset(&req, 0, sizeof req);
    req.method = "POST";
    req.url = url("/_stats/reset");
    af_response_init(&r);
    af_session_perform(s, &req, &r, &e);
    af_response_free(&r);
    af_session_free(s);
}

static void test_keepalive(void)
{
    af_session *s;
    af_response r;
    af_error e;
    int i, ok = 0, reused = 0;
    long conns;

    reset_stats();
    s = new_session(5000, 0);
    af_response_init(&r);
    for (i = 0; i < 100; i++) {
        if (get(s, url("/echo/keepalive"), &r, &e) == 200)
            ok++;
        if (i > 0 && r.new_connections == 0)
            reused++;
    }
    conns = stats_connections(s);
    CHECK(ok == 100, "%d of 100 requests succeeded", ok);
    CHECK(reused == 99, "%d of 99 requests reused the connection", reused);
    CHECK(conns == 1, "server saw %ld TCP connections for 100 requests", conns);
    af_response_free(&r);
    af_session_free(s);
}

static void test_post_body_no_expect(void)
{
    af_session *s = new_session(5000, 0);
    af_request req;
    af_response r;
    af_error e;
    static char big[200000];
    const char *hdrs[] = {"Content-Type: application/json", "X-Custom: yes"};

    memset(big, 'x', sizeof big);
    memset(&req, 0, sizeof req);
    req.method = "POST";
    req.url = url("/echo/post");
    req.headers = hdrs;
    req.nheaders = 2;
    req.body = big;
    req.body_len = sizeof big;
    af_response_init(&r);
    CHECK(af_session_perform(s, &req, &r, &e) == 0, "POST failed: %s", e.message);
    CHECK(r.status == 200, "status %ld", r.status);
    CHECK(strstr(af_buf_cstr(&r.body), "\"body_length\": 200000") != NULL, "body: %.200s",
          af_buf_cstr(&r.body));
    CHECK(strstr(af_buf_cstr(&r.body), "100-continue") == NULL, "client sent Expect: 100-continue");
    CHECK(strstr(af_buf_cstr(&r.body), "\"x-custom\": \"yes\"") != NULL, "custom header missing");

    req.method = "DELETE";
    req.body = NULL;
    req.body_len = 0;
    req.headers = NULL;
    req.nheaders = 0;
    af_response_free(&r);
    af_response_init(&r);
    CHECK(af_session_perform(s, &req, &r, &e) == 0, "DELETE failed: %s", e.message);
    CHECK(strstr(af_buf_cstr(&r.body), "\"method\": \"DELETE\"") != NULL, "body: %.200s",
          af_buf_cstr(&r.body));
    af_response_free(&r);
    af_session_free(s);
}

static int closed_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    port = ntohs(a.sin_port);
    close(fd); /* nothing listens there now */
    return port;
}

static void test_failures(void)
{
    af_session *s = new_session(500, 1000000);
    af_response r;
    af_error e;
    char u[128];
    double t0;
    long st;

    af_response_init(&r);
    snprintf(u, sizeof u, "http://127.0.0.1:%d/", closed_port());
    CHECK(get(s, u, &r, &e) == -1 && e.code == AF_ERR_CONNECT, "refused: code %s (%s)",
          af_error_name(e.code), e.message);

    t0 = now();
    CHECK(get(s, url("/delay/3000"), &r, &e) == -1 && e.code == AF_ERR_TIMEOUT,
          "slow response: code %s", af_error_name(e.code));
    CHECK(now() - t0 < 2.0, "timeout took %.2f s", now() - t0);

    t0 = now();
    CHECK(get(s, url("/hang-body"), &r, &e) == -1 && e.code == AF_ERR_TIMEOUT,
          "hang mid-body: code %s", af_error_name(e.code));
    CHECK(now() - t0 < 2.0, "hang timeout took %.2f s", now() - t0);

    CHECK(get(s, url("/reset-mid-body"), &r, &e) == -1 &&
              (e.code == AF_ERR_RECV || e.code == AF_ERR_TOO_LARGE),
          "reset mid-body: code %s (%s)", af_error_name(e.code), e.message);

    CHECK(get(s, url("/truncated-chunked"), &r, &e) == -1, "truncated chunked accepted");

    CHECK(get(s, url("/big?bytes=2000000"), &r, &e) == -1 && e.code == AF_ERR_TOO_LARGE,
          "body cap: code %s", af_error_name(e.code));
    CHECK(get(s, url("/chunked?n=300&size=5000"), &r, &e) == -1 && e.code == AF_ERR_TOO_LARGE,
          "chunked body cap: code %s", af_error_name(e.code));

    st = get(s, url("/huge-header?bytes=10000000"), &r, &e);
    CHECK(st == -1, "10 MB header accepted (status %ld)", st);

    st = get(s, url("/status/503"), &r, &e);
    CHECK(st == 503, "503 is a response, not an error: %ld", st);

    /* the session is still usable after all of that */
    st = get(s, url("/echo/after"), &r, &e);
    CHECK(st == 200, "session unusable after failures: %ld %s", st, e.message);
    af_response_free(&r);
    af_session_free(s);
}

static void test_protocol(void)
{
    af_session *s = new_session(5000, 0);
    af_response r;
    af_error e;
    long st;

    af_response_init(&r);
    st = get(s, url("/chunked?n=100&size=1000"), &r, &e);
    CHECK(st == 200 && r.body.len == 100000, "chunked: status %ld, %zu bytes", st, r.body.len);
    st = get(s, url("/redirect/3"), &r, &e);
    CHECK(st == 200 && strstr(af_buf_cstr(&r.body), "\"method\""), "redirects: %ld", st);
    st = get(s, url("/gzip"), &r, &e);
    CHECK(st == 200 && strstr(af_buf_cstr(&r.body), "gzipped"), "gzip: %ld %.80s", st,
          af_buf_cstr(&r.body));
    st = get(s, url("/many-headers?n=200"), &r, &e);
    CHECK(st == 200 && strstr(af_buf_cstr(&r.headers), "X-H-199: 199"), "many headers: %ld", st);
    CHECK(strstr(af_buf_cstr(&r.headers), "HTTP/") == NULL, "status line kept in headers");
    af_response_free(&r);
    af_session_free(s);
}

static void test_auth(void)
{
    af_session *s = new_session(5000, 0);
    af_response r;
    af_error e;
    long st;

    af_response_init(&r);
    CHECK(af_session_set_auth(s, AF_AUTH_BASIC, "alice", "s3cret", &e) == 0, "%s", e.message);
    st = get(s, url("/auth/basic?user=alice&pass=s3cret"), &r, &e);
    CHECK(st == 200, "basic auth: %ld", st);
    CHECK(af_session_set_auth(s, AF_AUTH_BEARER, NULL, "tok-123", &e) == 0, "%s", e.message);
    st = get(s, url("/auth/bearer?token=tok-123"), &r, &e);
    CHECK(st == 200, "bearer auth: %ld", st);
    st = get(s, url("/auth/bearer?token=other"), &r, &e);
    CHECK(st == 401, "wrong bearer accepted: %ld", st);
    CHECK(af_session_set_auth(s, AF_AUTH_BASIC, NULL, NULL, &e) == -1 && e.code == AF_ERR_INVALID,
          "basic auth without credentials accepted");
    /* a credential byte that could end the header line is refused, and the message
     * names no byte of the secret */
    CHECK(af_session_set_auth(s, AF_AUTH_BEARER, NULL, "abc\r\nX-Evil: 1", &e) == -1 &&
              e.code == AF_ERR_INVALID && strstr(e.message, "position 4") && !strstr(e.message, "Evil"),
          "bearer token with CR/LF: %s", e.message);
    CHECK(af_session_set_auth(s, AF_AUTH_BEARER, NULL, "a b", &e) == -1, "bearer token with a space");
    CHECK(af_session_set_auth(s, AF_AUTH_BEARER, NULL, "caf\xc3\xa9", &e) == -1, "bearer token not ASCII");
    CHECK(af_session_set_auth(s, AF_AUTH_BASIC, "a:b", "pw", &e) == -1, "basic user with ':'");
    CHECK(af_session_set_auth(s, AF_AUTH_BASIC, "alice", "p\nw", &e) == -1, "basic password with LF");
    CHECK(af_session_set_auth(s, AF_AUTH_BASIC, "alice", "p w \xc3\xa9", &e) == 0, "%s", e.message);
    /* the refused ones left the last good credentials in place */
    st = get(s, url("/auth/basic?user=alice&pass=p%20w%20%C3%A9"), &r, &e);
    CHECK(st == 200, "basic auth after refusals: %ld", st);
    af_response_free(&r);
    af_session_free(s);
}

/* One request on the session's handle; returns the /echo body (owned by resp). */
static const char *echo(af_session *s, const char *method, const char *body, int no_auth,
                        af_response *resp)
{
    static af_error e; /* its message may be returned */
    af_request req;
    memset(&req, 0, sizeof req);
    req.method = method;
    req.url = url("/echo/seq");
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    req.no_auth = no_auth;
    af_response_free(resp);
    af_response_init(resp);
    if (af_session_perform(s, &req, resp, &e) != 0)
        return e.message;
    return af_buf_cstr(&resp->body);
}

/* The handle is configured once and each request sets only its own options: no
 * method, body or credential of one request may leak into the next. */
static void test_handle_reuse(void)
{
    static const struct { const char *method, *body, *want_method, *want_len; } seq[] = {
        {"POST", "{\"a\": 1}", "\"method\": \"POST\"", "\"body_length\": 8"},
        {"GET", NULL, "\"method\": \"GET\"", "\"body_length\": 0"},
        {"HEAD", NULL, NULL, NULL},
        {"PATCH", "{}", "\"method\": \"PATCH\"", "\"body_length\": 2"},
        {"DELETE", NULL, "\"method\": \"DELETE\"", "\"body_length\": 0"},
        {"POST", NULL, "\"method\": \"POST\"", "\"body_length\": 0"},
        {"HEAD", NULL, NULL, NULL},
        {"PUT", "[1,2]", "\"method\": \"PUT\"", "\"body_length\": 5"},
        {"GET", NULL, "\"method\": \"GET\"", "\"body_length\": 0"},
    };
    af_session *s = new_session(5000, 0);
    af_response r;
    af_error e;
    size_t i;
    const char *b;

    af_response_init(&r);
    for (i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        b = echo(s, seq[i].method, seq[i].body, 0, &r);
        if (!seq[i].want_method) {
            CHECK(r.status == 200 && r.body.len == 0, "step %zu HEAD: status %ld, %zu body bytes",
                  i, r.status, r.body.len);
            continue;
        }
        CHECK(strstr(b, seq[i].want_method) && strstr(b, seq[i].want_len),
              "step %zu %s: %.300s", i, seq[i].method, b);
    }
    b = echo(s, "GET", NULL, 0, &r);
    CHECK(strstr(b, "\"authorization\"") == NULL, "credentials sent before any set_auth: %.300s", b);
    af_session_set_auth(s, AF_AUTH_BEARER, NULL, "tok-1", &e);
    b = echo(s, "GET", NULL, 0, &r);
    CHECK(strstr(b, "Bearer tok-1") != NULL, "bearer not sent: %.300s", b);
    b = echo(s, "POST", "{}", 1, &r);
    CHECK(strstr(b, "\"authorization\"") == NULL, "no_auth request sent credentials: %.300s", b);
    b = echo(s, "GET", NULL, 0, &r);
    CHECK(strstr(b, "Bearer tok-1") != NULL, "bearer not restored after no_auth: %.300s", b);
    af_session_set_auth(s, AF_AUTH_BASIC, "alice", "pw", &e);
    b = echo(s, "GET", NULL, 0, &r);
    CHECK(strstr(b, "Basic YWxpY2U6cHc=") != NULL && strstr(b, "Bearer") == NULL,
          "basic after bearer: %.300s", b);
    af_session_set_auth(s, AF_AUTH_NONE, NULL, NULL, &e);
    b = echo(s, "GET", NULL, 0, &r);
    CHECK(strstr(b, "\"authorization\"") == NULL, "credentials sent after auth none: %.300s", b);
    af_response_free(&r);
    af_session_free(s);
}

static void test_many(void)
{
    enum { N = 32 };
    af_session *s = new_session(5000, 0);
    af_request reqs[N];
    af_response resps[N];
    af_error errs[N], err;
    char urls[N][256];
    int i, ok = 0, ordered = 0;
    double t0, dt;

    for (i = 0; i < N; i++) {
        memset(&reqs[i], 0, sizeof reqs[i]);
        snprintf(urls[i], sizeof urls[i], "%s/delay/100?i=%d", base, i);
        reqs[i].method = "GET";
        reqs[i].url = urls[i];
        af_response_init(&resps[i]);
    }
    t0 = now();
    CHECK(af_session_perform_many(s, reqs, resps, errs, N, 8, &err) == 0, "%s", err.message);
    dt = now() - t0;
    for (i = 0; i < N; i++) {
        if (errs[i].code == AF_OK && resps[i].status == 200)
            ok++;
        af_response_free(&resps[i]);
    }
    CHECK(ok == N, "%d of %d concurrent requests succeeded", ok, N);
    /* 32 x 100 ms is 3.2 s one at a time; 8 at once is about 0.4 s */
    CHECK(dt < 1.0, "32 requests at concurrency 8 took %.2f s", dt);

    /* results come back in input order, whatever order they finish in */
    for (i = 0; i < 6; i++) {
        snprintf(urls[i], sizeof urls[i], "%s/delay/%d", base, (6 - i) * 30);
        af_response_init(&resps[i]);
    }
    CHECK(af_session_perform_many(s, reqs, resps, errs, 6, 6, &err) == 0, "%s", err.message);
    for (i = 0; i < 6; i++) {
        char want[64];
        snprintf(want, sizeof want, "%d", (6 - i) * 30);
        if (strstr(af_buf_cstr(&resps[i].body), want))
            ordered++;
        af_response_free(&resps[i]);
    }
    CHECK(ordered == 6, "%d of 6 responses in input order", ordered);

    /* one failure does not spoil the batch */
    snprintf(urls[0], sizeof urls[0], "http://127.0.0.1:%d/", closed_port());
    snprintf(urls[1], sizeof urls[1], "%s/echo/fine", base);
    af_response_init(&resps[0]);
    af_response_init(&resps[1]);
    CHECK(af_session_perform_many(s, reqs, resps, errs, 2, 2, &err) == 0, "%s", err.message);
    CHECK(errs[0].code == AF_ERR_CONNECT, "failed member: %s", af_error_name(errs[0].code));
    CHECK(errs[1].code == AF_OK && resps[1].status == 200, "good member: %s",
          af_error_name(errs[1].code));
    af_response_free(&resps[0]);
    af_response_free(&resps[1]);
    af_session_free(s);
}

static void test_stream(void)
{
    af_session *s = new_session(5000, 0);
    af_request req;
    af_stream *st;
    af_error e;
    const char *data;
    size_t len, total = 0;
    int rc, chunks = 0;

    memset(&req, 0, sizeof req);
    req.method = "GET";
    req.url = url("/slow-body?chunks=5&ms=50");
    st = af_stream_open(s, &req, &e);
    CHECK(st != NULL, "stream open: %s", e.message);
    if (st) {
        while ((rc = af_stream_next(st, &data, &len, &e)) == 1) {
            chunks++;
            total += len;
        }
        CHECK(rc == 0, "stream ended with %d: %s", rc, e.message);
        CHECK(total == 50, "streamed %zu bytes", total);
        CHECK(chunks >= 3, "only %d chunks: data was not handed over as it came", chunks);
        CHECK(af_stream_response(st)->status == 200, "stream status %ld",
              af_stream_response(st)->status);
        af_stream_close(st);
    }
    /* closing a stream early is fine */
    req.url = url("/hang-body");
    st = af_stream_open(s, &req, &e);
    CHECK(st != NULL && af_stream_next(st, &data, &len, &e) == 1, "first chunk of hang-body");
    af_stream_close(st);
    /* freeing the session first ends its open streams' transfers, so the share it
     * owns is freed (valgrind: nothing lost); the stream is then only closable */
    st = af_stream_open(s, &req, &e);
    CHECK(st != NULL && af_stream_next(st, &data, &len, &e) == 1, "first chunk of hang-body");
    af_session_free(s);
    CHECK(af_stream_next(st, &data, &len, &e) == -1 && e.code == AF_ERR_INVALID,
          "a stream of a freed session still ran: %s", e.message);
    af_stream_close(st);
}

static void test_tls(void)
{
    const char *tls = getenv("TEST_TLS_URL"), *ca = getenv("TEST_TLS_CA");
    af_session_opts o;
    af_session *s;
    af_request req;
    af_response r;
    af_error e;
    char u[512];

    if (!tls || !ca) {
        failed++;
        printf("FAIL: TEST_TLS_URL/TEST_TLS_CA not set (run through tools/with-servers)\n");
        return;
    }
    snprintf(u, sizeof u, "%s/echo/tls", tls);
    memset(&req, 0, sizeof req);
    req.url = u;
    af_response_init(&r);

    af_session_opts_default(&o);
    s = af_session_new(&o, &e);
    CHECK(af_session_perform(s, &req, &r, &e) == -1 && e.code == AF_ERR_TLS,
          "self-signed accepted by default: %s", af_error_name(e.code));
    af_session_free(s);

    o.ca_file = ca;
    s = af_session_new(&o, &e);
    CHECK(af_session_perform(s, &req, &r, &e) == 0 && r.status == 200, "with ca_file: %s",
          e.message);
    af_session_free(s);

    af_session_opts_default(&o);
    o.verify_tls = 0;
    s = af_session_new(&o, &e);
    af_response_free(&r);
    af_response_init(&r);
    CHECK(af_session_perform(s, &req, &r, &e) == 0 && r.status == 200, "verify off: %s",
          e.message);
    af_session_free(s);
    af_response_free(&r);
}

static const af_operation *op(const char *api, const char *res, const char *name)
{
    const af_operation *o = af_registry_lookup(af_registry_find(api), res, name);
    if (!o) {
        printf("no operation %s %s.%s\n", api, res, name);
        exit(2);
    }
    return o;
}

static af_arg str_arg(const char *name, const char *value)
{
    af_arg a;
    memset(&a, 0, sizeof a);
    a.name = name;
    a.name_len = strlen(name);
    a.value.kind = AF_V_STRING;
    a.value.str = value;
    a.value.len = strlen(value);
    return a;
}

static void test_builder(void)
{
    af_built b;
    af_error e;
    af_arg args[4];
    af_value states[2];
    const af_operation *runs = op("v2", "dag_run", "get_dag_runs");

    args[0] = str_arg("dag_id", "a/b c?&#ü");
    args[1] = str_arg("state", "");
    memset(states, 0, sizeof states);
    states[0].kind = states[1].kind = AF_V_STRING;
    states[0].str = "failed";
    states[0].len = 6;
    states[1].str = "queued";
    states[1].len = 6;
    args[1].value.kind = AF_V_ARRAY;
    args[1].value.items = states;
    args[1].value.nitems = 2;
    memset(&args[2], 0, sizeof args[2]);
    args[2].name = "limit";
    args[2].name_len = 5;
    args[2].value.kind = AF_V_NUMBER;
    args[2].value.num = 100.0;
    af_built_init(&b);
    CHECK(af_build(runs, "http://h", args, 3, 0, &b, &e) == 0, "%s", e.message);
    CHECK(strcmp(af_buf_cstr(&b.url),
                 "http://h/api/v2/dags/a%2Fb%20c%3F%26%23%C3%BC/dagRuns?limit=100&state=failed&state=queued") == 0 ||
              strstr(af_buf_cstr(&b.url), "state=failed&state=queued") != NULL,
          "url %s", af_buf_cstr(&b.url));
    CHECK(strstr(af_buf_cstr(&b.url), "/dags/a%2Fb%20c%3F%26%23%C3%BC/dagRuns?") != NULL,
          "path encoding: %s", af_buf_cstr(&b.url));
    CHECK(strstr(af_buf_cstr(&b.url), "limit=100&") || strstr(af_buf_cstr(&b.url), "limit=100"),
          "integral float written without a point: %s", af_buf_cstr(&b.url));
    af_built_free(&b);

    args[0] = str_arg("dag_idd", "x");
    af_built_init(&b);
    CHECK(af_build(runs, "http://h", args, 1, 0, &b, &e) == -1 &&
              strstr(e.message, "did you mean 'dag_id'"),
          "typo message: %s", e.message);
    af_built_free(&b);

    af_built_init(&b);
    CHECK(af_build(runs, "http://h", args, 0, 0, &b, &e) == -1 &&
              strstr(e.message, "missing required path parameter 'dag_id'"),
          "missing message: %s", e.message);
    af_built_free(&b);
}


/* Feeds `raw` to a fresh parser in pieces of `step` bytes (0 = all at once); returns
 * the last rc, with the body collected in *body. */
static af_hresp_rc parse_in_steps(af_hresp *p, const char *raw, size_t len, size_t step, size_t max_head,
                                  size_t max_body, af_buf *body, af_error *e)
{
    size_t i = 0;
    af_hresp_rc rc = AF_HRESP_MORE;
    af_hresp_init(p, max_head, max_body, 0);
    af_buf_reset(body);
    af_error_clear(e);
    if (!step)
        step = len ? len : 1;
    while (i < len && rc == AF_HRESP_MORE) {
        size_t n = len - i < step ? len - i : step;
        rc = af_hresp_feed(p, raw + i, n, body, e);
        i += n;
    }
    return rc;
}

/* The cosocket transport's HTTP/1.1 framing: request bytes, and the response parser
 * fed in every split (one byte at a time, 7 bytes, all at once). */
static void test_http1(void)
{
    static const struct {
        const char *raw;
        af_hresp_rc rc;      /* after all bytes */
        af_errcode code;     /* when rc is ERROR */
        int status;
        const char *body;
        int keep_alive;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhello", AF_HRESP_DONE, AF_OK, 200, "hello", 1},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n",
         AF_HRESP_DONE, AF_OK, 200, "abcde", 1},
        {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\nContent-Length: 2\n\nok", AF_HRESP_DONE, AF_OK, 201, "ok", 1},
        {"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", AF_HRESP_DONE, AF_OK, 204, "", 1},
        {"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", AF_HRESP_DONE, AF_OK, 200, "x", 0},
        {"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n", AF_HRESP_DONE, AF_OK, 200, "", 0},
        {"HTTP/1.1 200 OK\r\n\r\nuntil close", AF_HRESP_MORE, AF_OK, 200, "until close", 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", AF_HRESP_MORE, AF_OK, 200, "ab", 1},
        {"HTTP/2 200\r\n\r\n", AF_HRESP_ERROR, AF_ERR_PROTOCOL, 0, "", 0},
        {"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", AF_HRESP_ERROR, AF_ERR_PROTOCOL, 0, "", 0},
        {"HTTP/1.1 200 OK\r\n folded\r\n\r\n", AF_HRESP_ERROR, AF_ERR_PROTOCOL, 0, "", 0},
        {"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", AF_HRESP_ERROR, AF_ERR_PROTOCOL, 0, "", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", AF_HRESP_ERROR, AF_ERR_PROTOCOL, 0, "", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", AF_HRESP_ERROR, AF_ERR_PROTOCOL, 0, "", 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", AF_HRESP_ERROR, AF_ERR_PROTOCOL, 0, "", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         AF_HRESP_ERROR, AF_ERR_PROTOCOL, 0, "", 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", AF_HRESP_ERROR, AF_ERR_PROTOCOL, 0, "", 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n", AF_HRESP_ERROR, AF_ERR_PROTOCOL, 0, "", 0},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", AF_HRESP_ERROR, AF_ERR_PROTOCOL, 0, "", 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", AF_HRESP_ERROR, AF_ERR_TOO_LARGE, 0, "", 0},
        {"HTTP/1.1 200 OK\r\nX-Big: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
         AF_HRESP_ERROR, AF_ERR_TOO_LARGE, 0, "", 0},
    };
    static const size_t steps[] = {1, 7, 0};
    size_t c, k;
    af_hresp p;
    af_buf body;
    af_error e;
    af_url_parts u;
    af_buf out;
    const char *hdrs[] = {"Authorization: Bearer t", "Content-Length: 99", "Accept: application/json"};
    const char *bad[] = {"X: a\r\nInjected: 1"};

    af_buf_init(&body, 0);
    for (c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (k = 0; k < sizeof steps / sizeof steps[0]; k++) {
            af_hresp_rc rc = parse_in_steps(&p, cases[c].raw, strlen(cases[c].raw), steps[k], 80, 50, &body, &e);
            CHECK(rc == cases[c].rc, "case %zu step %zu: rc %d (%s)", c, steps[k], (int)rc, e.message);
            if (rc == AF_HRESP_ERROR) {
                CHECK(e.code == cases[c].code, "case %zu: code %s (%s)", c, af_error_name(e.code), e.message);
            } else {
                CHECK(p.status == cases[c].status, "case %zu: status %d", c, p.status);
                CHECK(body.len == strlen(cases[c].body) && !memcmp(af_buf_cstr(&body), cases[c].body, body.len),
                      "case %zu step %zu: body '%s'", c, steps[k], af_buf_cstr(&body));
                if (rc == AF_HRESP_DONE)
                    CHECK(p.keep_alive == cases[c].keep_alive, "case %zu: keep_alive %d", c, p.keep_alive);
            }
            af_hresp_free(&p);
        }
    }
    /* bytes past the end of the response: not a connection to reuse */
    CHECK(parse_in_steps(&p, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 45, 0, 0, 0, &body, &e) ==
              AF_HRESP_DONE && !p.keep_alive && body.len == 2, "bytes after the response");
    CHECK(af_hresp_feed(&p, "x", 1, &body, &e) == AF_HRESP_ERROR, "feeding after the end must fail");
    af_hresp_free(&p);
    /* the end of the connection ends a close-delimited body, and truncates the others */
    parse_in_steps(&p, "HTTP/1.1 200 OK\r\n\r\nab", 21, 0, 0, 0, &body, &e);
    CHECK(af_hresp_eof(&p, &e) == AF_HRESP_DONE && body.len == 2, "close-delimited body: %s", e.message);
    af_hresp_free(&p);
    parse_in_steps(&p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", 52, 0, 0, 0, &body, &e);
    CHECK(af_hresp_eof(&p, &e) == AF_HRESP_ERROR && e.code == AF_ERR_RECV, "truncated chunked: %s",
          af_error_name(e.code));
    af_hresp_free(&p);
    af_hresp_init(&p, 0, 0, 0);
    CHECK(af_hresp_eof(&p, &e) == AF_HRESP_ERROR && e.code == AF_ERR_RECV && strstr(e.message, "without"),
          "no response at all: %s", e.message);
    af_hresp_free(&p);
    af_buf_free(&body);

    /* request bytes: framing headers are ours, the rest in order, no line break through */
    af_buf_init(&out, 0);
    CHECK(af_url_split("https://[::1]:8443/api/v2/dags?x=1#frag", &u, &e) == 0, "split: %s", e.message);
    CHECK(u.tls && u.ipv6 && u.port == 8443 && !strcmp(u.host, "::1"), "parts: %s %d", u.host, u.port);
    CHECK(af_http_request(&out, "POST", "https://[::1]:8443/api/v2/dags?x=1#frag", &u, 0, hdrs, 3, "{}", 2, &e) == 0,
          "request: %s", e.message);
    CHECK(!strcmp(af_buf_cstr(&out), "POST /api/v2/dags?x=1 HTTP/1.1\r\nHost: [::1]:8443\r\n"
                                      "Authorization: Bearer t\r\nAccept: application/json\r\n"
                                      "Content-Length: 2\r\nConnection: keep-alive\r\n\r\n{}"),
          "bytes: %s", af_buf_cstr(&out));
    af_buf_reset(&out);
    CHECK(af_url_split("http://h", &u, &e) == 0 && u.port == 80 && u.default_port, "default port");
    CHECK(af_http_request(&out, "GET", "http://h", &u, 0, bad, 1, NULL, 0, &e) == -1 && e.code == AF_ERR_INVALID,
          "a line break in a header must be refused");
    CHECK(af_url_split("http://user:pw@h/", &u, &e) == -1, "user info must be refused");
    CHECK(af_url_split("ftp://h/", &u, &e) == -1, "other schemes must be refused");
    CHECK(af_url_split("http://h:99999/", &u, &e) == -1, "port out of range must be refused");
    af_buf_free(&out);
}

int main(void)
{
    base = getenv("TEST_SERVER_URL");
    if (!base) {
        printf("TEST_SERVER_URL is not set: run this through tools/with-servers\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    test_builder();
    test_http1();
    test_keepalive();
    test_post_body_no_expect();
    test_protocol();
    test_auth();
    test_handle_reuse();
    test_failures();
    test_many();
    test_stream();
    test_tls();
    printf("test_core: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
