/*
 * lua_core.c - the `airflow.core` Lua module: sessions, the operation registry and
 * the request builder, bound to Lua.
 *
 * The only C file that talks to Lua (with compat.h). Rules kept here:
 *  - every Lua value is read and checked before libcurl runs, and no Lua function is
 *    called while a transfer is in progress, so no Lua error can cross libcurl;
 *  - C-owned results (responses, built requests) live in userdata with __gc, so a
 *    Lua error (even out of memory) while converting them leaks nothing;
 *  - programming mistakes raise; transport failures return nil, err.
 * The module keeps no mutable global state: two Lua states never share anything
 * but libcurl's once-only global init.
 */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "builder.h"
#include "compat.h"
#include "headers.h"
#include "interrupt.h"
#include "registry.h"
#include "session.h"

#define SESSION_MT "airflow.core.session"
#define STREAM_MT "airflow.core.stream"
#define EACH_MT "airflow.core.batch_iterator"
#define BUILT_MT "airflow.core.built"
#define AF_INTEGERS_MAX_DEPTH 1000 /* as deep as the JSON decoder goes */

/* ---------------------------------------------------------------- helpers */

#ifdef AF_COMPAT_AUX
void af_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup, "too many upvalues");
    for (; l->name; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}

void *af_compat_testudata(lua_State *L, int i, const char *tname)
{
    void *p = lua_touserdata(L, i);
    if (p && lua_getmetatable(L, i)) {
        luaL_getmetatable(L, tname);
        if (!lua_rawequal(L, -1, -2))
            p = NULL;
        lua_pop(L, 2);
        return p;
    }
    return NULL;
}
#endif

/* Pushes an error table {code=, message=, curl_code=}. */
static void push_error(lua_State *L, const af_error *e)
{
    lua_createtable(L, 0, 3);
    lua_pushstring(L, af_error_name(e->code));
    lua_setfield(L, -2, "code");
    lua_pushstring(L, e->message);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, e->curl_code);
    lua_setfield(L, -2, "curl_code");
}

static int return_error(lua_State *L, const af_error *e)
{
    lua_pushnil(L);
    push_error(L, e);
    return 2;
}

/* Reads an optional string field of the table at idx. */
static const char *opt_string_field(lua_State *L, int idx, const char *key, const char *what)
{
    const char *s = NULL;
    lua_getfield(L, idx, key);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: '%s' must be a string, got %s", what, key, luaL_typename(L, -1));
        s = lua_tostring(L, -1);
    }
    lua_pop(L, 1); /* the string stays alive: the table holds it */
    return s;
}

/* How a number option's value reads in an error: non-finite values by name. */
static void push_number_text(lua_State *L, double v)
{
    char text[64];
    if (v != v)
        lua_pushliteral(L, "nan");
    else if (v > 1e308 || v < -1e308)
        lua_pushstring(L, v > 0 ? "inf" : "-inf");
    else {
        snprintf(text, sizeof text, v == floor(v) && fabs(v) < 1e16 ? "%.0f" : "%.15g", v);
        lua_pushstring(L, text);
    }
}

/* Reads an optional number field of the table at idx, which must lie in [0, max]
 * (and be integral when `integral`): NaN, infinities and out-of-range values raise
 * an error naming the option, since casting them to an integer type is undefined
 * behaviour and clamping them would hide the mistake. */
static double opt_number_field(lua_State *L, int idx, const char *key, double dflt, double max,
                               int integral, const char *what)
{
    double v = dflt;
    lua_getfield(L, idx, key);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "%s: '%s' must be a number, got %s", what, key, luaL_typename(L, -1));
        v = (double)lua_tonumber(L, -1);
        if (!(v >= 0 && v <= max) || (integral && v != floor(v))) {
            push_number_text(L, max);
            push_number_text(L, v);
            luaL_error(L, "%s: '%s' must be a%s number from 0 to %s, got %s", what, key,
                       integral ? " whole" : " finite", lua_tostring(L, -2), lua_tostring(L, -1));
        }
    }
    lua_pop(L, 1);
    return v;
}

static int opt_bool_field(lua_State *L, int idx, const char *key, int dflt, const char *what)
{
    int v = dflt;
    lua_getfield(L, idx, key);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TBOOLEAN)
            luaL_error(L, "%s: '%s' must be a boolean, got %s", what, key, luaL_typename(L, -1));
        v = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

/* Raises when the table at idx has a string key not in `known`. */
static void check_keys(lua_State *L, int idx, const char *const *known, const char *what)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        const char *const *k;
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: option names must be strings", what);
        for (k = known; *k; k++)
            if (strcmp(*k, lua_tostring(L, -1)) == 0)
                break;
        if (!*k)
            luaL_error(L, "%s: unknown option '%s'", what, lua_tostring(L, -1));
    }
}

/* The longest timeout accepted, in seconds: its milliseconds fit libcurl's long on
 * every platform (a 32-bit long holds 2147483647 ms, about 24.8 days). */
#define AF_MAX_SECONDS 2147483.0
#define AF_MAX_REDIRECTS 1000.0
/* 2^53 (every integer up to it is a double), or less where size_t is narrower */
#define AF_MAX_BODY_LIMIT ((double)SIZE_MAX < 9007199254740992.0 ? (double)SIZE_MAX : 9007199254740992.0)

/* Seconds already checked to lie in [0, AF_MAX_SECONDS] -> milliseconds. */
static long seconds_to_ms(double s)
{
    return (long)(s * 1000.0 + 0.5);
}

/* A timeout field in seconds -> milliseconds. */
static long opt_timeout_field(lua_State *L, int idx, const char *key, long dflt_ms, const char *what)
{
    return seconds_to_ms(opt_number_field(L, idx, key, dflt_ms / 1000.0, AF_MAX_SECONDS, 0, what));
}

/* ---------------------------------------------------------------- session */

/* A session and the scratch space of its :request calls, reused from one call to
 * the next so that a request makes no garbage of its own: the response buffers,
 * and the request's header lines. Owned here, so a Lua error in between leaks
 * nothing; freed by close/__gc. */
struct leach;

typedef struct lsession {
    af_session *s;
    struct leach *active;  /* the running request_each batch, if any */
    af_response resp;
    af_buf lines;          /* header lines, each NUL-terminated */
    const char **hdrs;     /* pointers into `lines` */
    size_t hdrs_cap;
} lsession;

/* Buffers larger than this are given back after a request rather than kept. */
#define AF_SCRATCH_KEEP (256 * 1024)

static lsession *check_session(lua_State *L, int idx)
{
    lsession *ls = luaL_checkudata(L, idx, SESSION_MT);
    if (!ls->s)
        luaL_error(L, "airflow.core: session is closed");
    return ls;
}

static const char *const session_options[] = {
    "timeout", "connect_timeout", "verify_tls", "ca_file", "ca_path", "cert_file",
    "key_file", "key_password", "proxy", "user_agent", "http_version",
    "max_body_bytes", "max_redirects", "compressed", NULL};

/* core.session([opts]) -> session | nil, err */
static int l_session(lua_State *L)
{
    const char *what = "airflow.core.session";
    af_session_opts o;
    af_error err;
    lsession *ls;
    const char *hv;

    af_session_opts_default(&o);
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        check_keys(L, 1, session_options, what);
        o.timeout_ms = opt_timeout_field(L, 1, "timeout", o.timeout_ms, what);
        o.connect_timeout_ms = opt_timeout_field(L, 1, "connect_timeout", o.connect_timeout_ms, what);
        o.verify_tls = opt_bool_field(L, 1, "verify_tls", 1, what);
        o.ca_file = opt_string_field(L, 1, "ca_file", what);
        o.ca_path = opt_string_field(L, 1, "ca_path", what);
        o.cert_file = opt_string_field(L, 1, "cert_file", what);
        o.key_file = opt_string_field(L, 1, "key_file", what);
        o.key_password = opt_string_field(L, 1, "key_password", what);
        o.proxy = opt_string_field(L, 1, "proxy", what);
        o.user_agent = opt_string_field(L, 1, "user_agent", what);
        hv = opt_string_field(L, 1, "http_version", what);
        if (hv) {
            if (strcmp(hv, "1.1") == 0)
                o.http_version = 11;
            else if (strcmp(hv, "2") == 0)
                o.http_version = 2;
            else if (strcmp(hv, "auto") != 0)
                luaL_error(L, "%s: 'http_version' must be \"1.1\", \"2\" or \"auto\"", what);
        }
        lua_getfield(L, 1, "max_body_bytes");
        if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
            o.max_body_bytes = 0; /* false: explicitly unlimited */
        else
            o.max_body_bytes = (size_t)opt_number_field(L, 1, "max_body_bytes", (double)o.max_body_bytes,
                                                        AF_MAX_BODY_LIMIT, 1, what);
        lua_pop(L, 1);
        o.max_redirects = (long)opt_number_field(L, 1, "max_redirects", (double)o.max_redirects,
                                                 AF_MAX_REDIRECTS, 1, what);
        o.compressed = opt_bool_field(L, 1, "compressed", 1, what);
    }
    /* The userdata exists before the session, so __gc frees it whatever happens. */
    ls = lua_newuserdatauv(L, sizeof *ls, 0);
    memset(ls, 0, sizeof *ls);
    af_response_init(&ls->resp);
    af_buf_init(&ls->lines, 0);
    luaL_setmetatable(L, SESSION_MT);
    af_error_clear(&err);
    ls->s = af_session_new(&o, &err);
    if (!ls->s)
        return return_error(L, &err);
    return 1;
}

static void each_release(lua_State *L, struct leach *e);

static int l_session_close(lua_State *L)
{
    lsession *ls = luaL_checkudata(L, 1, SESSION_MT);
    af_session *s = ls->s;
    if (ls->active)
        each_release(L, ls->active); /* its transfers use this session's handles */
    ls->s = NULL; /* cleared first: a second close, or __gc after close, is a no-op */
    af_session_free(s);
    af_response_free(&ls->resp);
    af_buf_free(&ls->lines);
    free((void *)ls->hdrs);
    ls->hdrs = NULL;
    ls->hdrs_cap = 0;
    return 0;
}

static int l_session_tostring(lua_State *L)
{
    lsession *ls = luaL_checkudata(L, 1, SESSION_MT);
    static const char *const kinds[] = {"none", "basic", "bearer", "negotiate"};
    if (!ls->s)
        lua_pushfstring(L, "airflow.core.session (closed): %p", (void *)ls);
    else
        lua_pushfstring(L, "airflow.core.session (auth: %s): %p",
                        kinds[af_session_auth_kind(ls->s)], (void *)ls);
    return 1;
}

/* session:set_auth(kind [, user, secret]) */
static int l_session_set_auth(lua_State *L)
{
    static const char *const kinds[] = {"none", "basic", "bearer", "negotiate", NULL};
    lsession *ls = check_session(L, 1);
    int kind = luaL_checkoption(L, 2, NULL, kinds);
    const char *user = luaL_optstring(L, 3, NULL);
    const char *secret = luaL_optstring(L, 4, NULL);
    af_error err;

    af_error_clear(&err);
    if (af_session_set_auth(ls->s, (af_auth_kind)kind, user, secret, &err) != 0)
        return luaL_error(L, "airflow.core: set_auth: %s", err.message);
    return 0;
}

/* Requests parsed from Lua. Header line pointers live in a userdata; the strings
 * they point at are anchored in a Lua table, so nothing here needs freeing. */
static const char *const request_fields[] = {"method", "url", "headers", "body", "timeout",
                                             "no_auth", NULL};

static void check_header_text(lua_State *L, const char *p, size_t len)
{
    if (memchr(p, '\r', len) || memchr(p, '\n', len) || memchr(p, '\0', len))
        luaL_error(L, "airflow.core: request header contains a line break or NUL");
}

/* Where a request's header lines go: Lua strings anchored in a table (requests that
 * outlive the call: batches, streams), or the session's scratch buffer. */
typedef struct header_sink {
    int anchor;      /* the anchor table's index, or 0 for the buffer */
    size_t first;    /* anchor: its length before this request */
    lsession *ls;    /* buffer: the session whose scratch it is */
    size_t n;        /* lines added */
} header_sink;

/* Adds "name: value" (name non-NULL) or a whole line. */
static void sink_add(lua_State *L, header_sink *k, const char *name, size_t nlen,
                     const char *value, size_t vlen)
{
    if (name)
        check_header_text(L, name, nlen);
    check_header_text(L, value, vlen);
    if (k->anchor) {
        if (name)
            lua_pushfstring(L, "%s: %s", name, value);
        else
            lua_pushlstring(L, value, vlen);
        lua_rawseti(L, k->anchor, (int)lua_rawlen(L, k->anchor) + 1);
    } else {
        af_buf *b = &k->ls->lines;
        if (name) {
            af_buf_add(b, name, nlen);
            af_buf_add(b, ": ", 2);
        }
        af_buf_add(b, value, vlen);
        af_buf_addc(b, '\0');
        if (!af_buf_ok(b))
            luaL_error(L, "airflow.core: out of memory building request headers");
    }
    k->n++;
}

/* Points r->headers at the sink's lines. */
static void sink_finish(lua_State *L, header_sink *k, af_request *r)
{
    size_t i;
    const char **lines;

    if (!k->n)
        return;
    if (k->anchor) {
        lines = lua_newuserdatauv(L, k->n * sizeof *lines, 0);
        for (i = 0; i < k->n; i++) {
            lua_rawgeti(L, k->anchor, (int)(k->first + i + 1));
            lines[i] = lua_tostring(L, -1);
            lua_pop(L, 1);
        }
        /* anchor the pointer array too (string keys never clash with the lines) */
        lua_pushfstring(L, "lines%d", (int)k->first);
        lua_insert(L, -2);
        lua_rawset(L, k->anchor);
    } else {
        lsession *ls = k->ls;
        const char *p = ls->lines.data;
        if (k->n > ls->hdrs_cap) {
            const char **grown = realloc((void *)ls->hdrs, k->n * sizeof *grown);
            if (!grown)
                luaL_error(L, "airflow.core: out of memory building request headers");
            ls->hdrs = grown;
            ls->hdrs_cap = k->n;
        }
        lines = ls->hdrs;
        for (i = 0; i < k->n; i++) { /* the buffer no longer moves: take the pointers */
            lines[i] = p;
            p += strlen(p) + 1;
        }
    }
    r->headers = lines;
    r->nheaders = k->n;
}

/* Parses the request table at idx into *r. Header lines go to the anchor table at
 * `anchor` when it is non-zero, else to the session's scratch (ls). The body, url
 * and method strings stay anchored by the request table itself. */
static void parse_request(lua_State *L, int idx, int anchor, lsession *ls, af_request *r)
{
    const char *what = "airflow.core: request";
    header_sink k;

    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    luaL_checktype(L, idx, LUA_TTABLE);
    check_keys(L, idx, request_fields, what);
    memset(r, 0, sizeof *r);
    r->method = opt_string_field(L, idx, "method", what);
    r->url = opt_string_field(L, idx, "url", what);
    if (!r->url)
        luaL_error(L, "%s: 'url' is required", what);
    lua_getfield(L, idx, "body");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: 'body' must be a string, got %s", what, luaL_typename(L, -1));
        r->body = lua_tolstring(L, -1, &r->body_len);
    }
    lua_pop(L, 1);
    r->timeout_ms = opt_timeout_field(L, idx, "timeout", 0, what);
    r->no_auth = opt_bool_field(L, idx, "no_auth", 0, what);

    memset(&k, 0, sizeof k);
    k.anchor = anchor;
    k.ls = ls;
    if (anchor) {
        /* The strings libcurl will read are kept alive by the anchor, not by the
         * request table, which the caller may change while the transfer runs. */
        static const char *const kept[] = {"method", "url", "body"};
        size_t i;
        for (i = 0; i < sizeof kept / sizeof kept[0]; i++) {
            lua_getfield(L, idx, kept[i]);
            lua_rawseti(L, anchor, (int)lua_rawlen(L, anchor) + 1);
        }
        k.first = lua_rawlen(L, anchor);
    } else {
        af_buf_reset(&ls->lines);
    }
    lua_getfield(L, idx, "headers");
    if (!lua_isnil(L, -1)) {
        int h = lua_gettop(L);
        if (!lua_istable(L, h))
            luaL_error(L, "%s: 'headers' must be a table", what);
        lua_pushnil(L);
        while (lua_next(L, h)) {
            size_t nlen, vlen;
            const char *name, *v;
            if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
                luaL_error(L, "%s: header values must be strings", what);
            v = lua_tolstring(L, -1, &vlen); /* a number value becomes a string in place */
            if (lua_type(L, -2) == LUA_TSTRING) {
                name = lua_tolstring(L, -2, &nlen);
                sink_add(L, &k, name, nlen, v, vlen);
            } else {
                sink_add(L, &k, NULL, 0, v, vlen);
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    sink_finish(L, &k, r);
}

/* Pushes a table of lower-cased header names -> values (repeats joined by ", "). */
static void push_headers(lua_State *L, const af_buf *raw)
{
    af_header_iter it;
    const char *name, *value;
    size_t nlen, vlen, i;
    char lower[AF_HEADER_NAME_MAX + 1];
    int count = 0;

    /* sized up front: growing a table rehashes it at every power of two */
    af_header_iter_init(&it, raw->data, raw->len);
    while (af_header_next(&it, &name, &nlen, &value, &vlen))
        count++;
    lua_createtable(L, 0, count);
    af_header_iter_init(&it, raw->data, raw->len);
    while (af_header_next(&it, &name, &nlen, &value, &vlen)) {
        for (i = 0; i < nlen; i++)
            lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
        lua_pushlstring(L, lower, nlen);
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            lua_pushlstring(L, value, vlen);
        } else {
            lua_pushliteral(L, ", ");
            lua_pushlstring(L, value, vlen);
            lua_concat(L, 3);
        }
        lua_rawset(L, -3);
    }
}

static void push_response(lua_State *L, const af_response *r, int with_body)
{
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, r->status);
    lua_setfield(L, -2, "status");
    push_headers(L, &r->headers);
    lua_setfield(L, -2, "headers");
    if (with_body) {
        lua_pushlstring(L, r->body.data ? r->body.data : "", r->body.len);
        lua_setfield(L, -2, "body");
    }
    lua_pushinteger(L, r->http_version);
    lua_setfield(L, -2, "http_version");
    lua_pushnumber(L, r->total_seconds);
    lua_setfield(L, -2, "time");
    lua_pushboolean(L, r->new_connections == 0);
    lua_setfield(L, -2, "reused");
}

/* Empties the scratch response for the next request; storage past
 * AF_SCRATCH_KEEP is given back, so one huge page is not held for the session's life. */
static void scratch_reset(lsession *ls)
{
    af_response *r = &ls->resp;
    if (r->body.cap > AF_SCRATCH_KEEP)
        af_buf_free(&r->body);
    if (r->headers.cap > AF_SCRATCH_KEEP)
        af_buf_free(&r->headers);
    af_buf_reset(&r->body);
    af_buf_reset(&r->headers);
    r->status = r->http_version = r->new_connections = 0;
    r->total_seconds = 0;
}

/* session:request(req) -> response | nil, err */
static int l_session_request(lua_State *L)
{
    lsession *ls = check_session(L, 1);
    af_request req;
    af_error err;
    int rc;

    luaL_checktype(L, 2, LUA_TTABLE);
    parse_request(L, 2, 0, ls, &req);
    af_error_clear(&err);
    rc = af_session_perform(ls->s, &req, &ls->resp, &err);
    if (ls->lines.cap > AF_SCRATCH_KEEP)
        af_buf_free(&ls->lines);
    if (rc != 0) {
        scratch_reset(ls);
        return return_error(L, &err);
    }
    push_response(L, &ls->resp, 1);
    scratch_reset(ls);
    return 1;
}

/* A batch of requests run by af_batch: their strings anchored, their responses
 * and errors owned here until handed over. Freed by each_release (close, __gc, or
 * the end of the batch). */
typedef struct leach {
    af_batch *run;        /* NULL once released */
    lsession *ls;         /* the session, kept alive by the anchor */
    af_request *reqs;
    af_response *resps;
    af_error *errs;
    size_t n;
    int anchor_ref;       /* {session, request strings, header lines} */
} leach;

static void each_release(lua_State *L, leach *e)
{
    size_t i;
    int ref = e->anchor_ref;
    af_batch_free(e->run); /* first: in-flight transfers point into the anchored strings */
    e->run = NULL;
    if (e->ls && e->ls->active == e)
        e->ls->active = NULL;
    e->ls = NULL;
    if (e->resps)
        for (i = 0; i < e->n; i++)
            af_response_free(&e->resps[i]);
    free(e->resps);
    free(e->errs);
    free(e->reqs);
    e->resps = NULL;
    e->errs = NULL;
    e->reqs = NULL;
    e->anchor_ref = LUA_NOREF;
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

static int l_each_close(lua_State *L)
{
    each_release(L, luaL_checkudata(L, 1, EACH_MT));
    return 0;
}

/* Reads session:<what>(reqs [, concurrency]) and starts the batch. Pushes the batch
 * userdata and returns it, or returns NULL with err set (the batch pushed anyway). */
static leach *each_start(lua_State *L, const char *what, af_error *err)
{
    lsession *ls = check_session(L, 1);
    lua_Integer conc = luaL_optinteger(L, 3, 8);
    size_t n, i;
    int anchor;
    leach *e;

    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_argcheck(L, conc >= 1 && conc <= 1024, 3, "concurrency must be 1..1024");
    if (ls->active)
        luaL_error(L, "airflow.core: %s: the session is already running a batch "
                      "(finish or close it first)", what);
    n = lua_rawlen(L, 2);
    e = lua_newuserdatauv(L, sizeof *e, 0);
    memset(e, 0, sizeof *e);
    e->anchor_ref = LUA_NOREF;
    luaL_setmetatable(L, EACH_MT);
    e->resps = calloc(n ? n : 1, sizeof *e->resps);
    e->errs = calloc(n ? n : 1, sizeof *e->errs);
    e->reqs = calloc(n ? n : 1, sizeof *e->reqs);
    if (!e->resps || !e->errs || !e->reqs)
        luaL_error(L, "airflow.core: out of memory for %d requests", (int)n);
    e->n = n;
    for (i = 0; i < n; i++)
        af_response_init(&e->resps[i]);
    lua_newtable(L);
    anchor = lua_gettop(L);
    lua_pushvalue(L, 1);
    lua_setfield(L, anchor, "session");
    for (i = 0; i < n; i++) {
        lua_rawgeti(L, 2, (int)i + 1);
        if (!lua_istable(L, -1))
            luaL_error(L, "airflow.core: %s: request %d is not a table", what, (int)i + 1);
        parse_request(L, -1, anchor, NULL, &e->reqs[i]);
        lua_pop(L, 1);
    }
    e->anchor_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the anchor */
    e->run = af_batch_start(ls->s, e->reqs, e->resps, e->errs, n, (int)conc, err);
    if (!e->run) {
        each_release(L, e);
        return NULL;
    }
    e->ls = ls;
    ls->active = e;
    return e;
}

/* session:request_many(reqs [, concurrency]) -> responses, errors
 * responses[i] is a response or false; errors[i] is an error table or nil. */
static int l_session_request_many(lua_State *L)
{
    af_error err;
    leach *e = each_start(L, "request_many", &err);
    long i;

    if (!e)
        return return_error(L, &err);
    lua_createtable(L, (int)e->n, 0);
    lua_createtable(L, (int)e->n, 0);
    while ((i = af_batch_next(e->run)) >= 0) {
        if (e->errs[i].code == AF_OK) {
            push_response(L, &e->resps[i], 1);
            lua_rawseti(L, -3, (int)i + 1);
        } else {
            lua_pushboolean(L, 0);
            lua_rawseti(L, -3, (int)i + 1);
            push_error(L, &e->errs[i]);
            lua_rawseti(L, -2, (int)i + 1);
        }
        /* free as we go: a big batch is not held twice */
        af_response_free(&e->resps[i]);
    }
    each_release(L, e);
    return 2;
}

/* The iterator: -> index, response | index, false, err | nil at the end */
static int l_each_step(lua_State *L)
{
    leach *e = luaL_checkudata(L, 1, EACH_MT);
    long i;

    if (!e->run)
        return 0;
    i = af_batch_next(e->run);
    if (i < 0) {
        each_release(L, e);
        return 0;
    }
    lua_pushinteger(L, (lua_Integer)i + 1);
    if (e->errs[i].code != AF_OK) {
        lua_pushboolean(L, 0);
        push_error(L, &e->errs[i]);
        return 3;
    }
    push_response(L, &e->resps[i], 1);
    af_response_free(&e->resps[i]); /* handed over: not held twice */
    return 2;
}

/* session:request_each(reqs [, concurrency]) -> iterator, batch, nil, batch
 * For `for i, res, err in s:request_each(reqs, 8) do ... end`: each response as
 * soon as it is complete (in the order they finish), while the others are still in
 * flight. Breaking out of the loop (Lua 5.4) or batch:close() abandons the rest. */
static int l_session_request_each(lua_State *L)
{
    af_error err;
    if (!each_start(L, "request_each", &err))
        return return_error(L, &err);
    lua_pushcfunction(L, l_each_step); /* stack: batch, step */
    lua_pushvalue(L, -2);              /* the state */
    lua_pushnil(L);                    /* the first control value */
    lua_pushvalue(L, -4);              /* closed when a for loop ends (Lua 5.4) */
    return 4;
}

/* ---------------------------------------------------------------- streams */

typedef struct lstream {
    af_stream *st;
    int anchor_ref; /* keeps the request's strings alive while libcurl uses them */
    int done;
} lstream;

/* session:stream(req) -> stream | nil, err */
static int l_session_stream(lua_State *L)
{
    lsession *ls = check_session(L, 1);
    int anchor;
    af_request req;
    af_error err;
    lstream *lst;

    luaL_checktype(L, 2, LUA_TTABLE);
    lst = lua_newuserdatauv(L, sizeof *lst, 0);
    lst->st = NULL;
    lst->anchor_ref = LUA_NOREF;
    lst->done = 0;
    luaL_setmetatable(L, STREAM_MT);
    lua_newtable(L);
    anchor = lua_gettop(L);
    parse_request(L, 2, anchor, NULL, &req);
    lua_pushvalue(L, 2);
    lua_rawseti(L, anchor, 0); /* the request table: its body and url strings */
    lua_pushvalue(L, anchor);
    lst->anchor_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lst->st = af_stream_open(ls->s, &req, &err);
    if (!lst->st)
        return return_error(L, &err);
    lua_pop(L, 1); /* anchor; the stream userdata is on top */
    return 1;
}

static void stream_release(lua_State *L, lstream *lst)
{
    af_stream *st = lst->st;
    int ref = lst->anchor_ref;
    lst->st = NULL;
    lst->anchor_ref = LUA_NOREF;
    af_stream_close(st);
    luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

/* stream:next() -> chunk | false (complete) | nil, err */
static int l_stream_next(lua_State *L)
{
    lstream *lst = luaL_checkudata(L, 1, STREAM_MT);
    const char *data;
    size_t len;
    af_error err;
    int rc;

    if (!lst->st || lst->done) {
        lua_pushboolean(L, 0);
        return 1;
    }
    rc = af_stream_next(lst->st, &data, &len, &err);
    if (rc < 0) {
        lst->done = 1;
        return return_error(L, &err);
    }
    if (rc == 0) {
        lst->done = 1;
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushlstring(L, data, len);
    return 1;
}

/* stream:response() -> {status=, headers=} (the head, once it arrived) */
static int l_stream_response(lua_State *L)
{
    lstream *lst = luaL_checkudata(L, 1, STREAM_MT);
    if (!lst->st)
        return luaL_error(L, "airflow.core: stream is closed");
    push_response(L, af_stream_response(lst->st), 0);
    return 1;
}

static int l_stream_close(lua_State *L)
{
    stream_release(L, luaL_checkudata(L, 1, STREAM_MT));
    return 0;
}

/* ---------------------------------------------------------------- registry */

static const af_registry *check_registry(lua_State *L, int idx)
{
    const char *api = luaL_checkstring(L, idx);
    const af_registry *reg = af_registry_find(api);
    if (!reg)
        luaL_error(L, "airflow.core: unknown API version '%s' (expected \"v1\" or \"v2\")", api);
    return reg;
}

static const char *const type_names[] = {"string", "integer", "number", "boolean",
                                         "date-time", "any"};
static const char *const in_names[] = {"path", "query", "header"};
static const char *const body_names[] = {"none", "optional", "required"};

static void set_string(lua_State *L, const char *key, const char *value)
{
    if (value) {
        lua_pushstring(L, value);
        lua_setfield(L, -2, key);
    }
}

static void set_bool(lua_State *L, const char *key, int value)
{
    lua_pushboolean(L, value);
    lua_setfield(L, -2, key);
}

static void push_param(lua_State *L, const af_param *p)
{
    lua_createtable(L, 0, 8);
    set_string(L, "name", p->name);
    set_string(L, "in", in_names[p->in]);
    set_string(L, "type", type_names[p->type]);
    set_bool(L, "required", (p->flags & AF_PARAM_REQUIRED) != 0);
    set_bool(L, "array", (p->flags & AF_PARAM_ARRAY) != 0);
    set_bool(L, "csv", (p->flags & AF_PARAM_CSV) != 0);
    set_bool(L, "nullable", (p->flags & AF_PARAM_NULLABLE) != 0);
    if (p->enum_values) {
        const char *const *e;
        int i = 0;
        lua_newtable(L);
        for (e = p->enum_values; *e; e++) {
            lua_pushstring(L, *e);
            lua_rawseti(L, -2, ++i);
        }
        lua_setfield(L, -2, "enum");
    }
}

/* core.operations(api) -> array of operation descriptions; op.index is for build() */
static int l_operations(lua_State *L)
{
    const af_registry *reg = check_registry(L, 1);
    size_t i;
    unsigned k;

    lua_createtable(L, (int)reg->nops, 0);
    for (i = 0; i < reg->nops; i++) {
        const af_operation *op = &reg->ops[i];
        lua_createtable(L, 0, 14);
        lua_pushinteger(L, (lua_Integer)i + 1);
        lua_setfield(L, -2, "index");
        set_string(L, "resource", op->resource);
        set_string(L, "name", op->name);
        set_string(L, "method", op->method);
        set_string(L, "path", op->path);
        set_string(L, "body", body_names[op->body]);
        set_string(L, "body_media", op->body_media);
        set_string(L, "body_schema", op->body_schema);
        lua_pushinteger(L, op->success);
        lua_setfield(L, -2, "success");
        set_string(L, "response_media", op->response_media);
        set_string(L, "list_field", op->list_field);
        set_bool(L, "total_entries", op->total_entries);
        lua_createtable(L, op->nparams, 0);
        for (k = 0; k < op->nparams; k++) {
            push_param(L, &op->params[k]);
            lua_rawseti(L, -2, (int)k + 1);
        }
        lua_setfield(L, -2, "params");
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* core.schemas(api) -> compact JSON of the API's component schemas */
static int l_schemas(lua_State *L)
{
    const af_registry *reg = check_registry(L, 1);
    lua_pushstring(L, reg->schemas ? reg->schemas : "{}");
    return 1;
}

static int l_built_gc(lua_State *L)
{
    af_built_free(luaL_checkudata(L, 1, BUILT_MT));
    return 0;
}

/* core.build's output buffers, one per Lua state (an upvalue of build). */
typedef struct build_scratch {
    af_built built;  /* first: freed by l_built_gc through the BUILT_MT metatable */
    int busy;        /* a call is filling or reading `built` */
} build_scratch;

/* Reads one scalar argument value at stack top into v; returns 0, or -1 if not a scalar. */
static int read_scalar(lua_State *L, int idx, af_value *v)
{
    memset(v, 0, sizeof *v);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        v->kind = AF_V_STRING;
        v->str = lua_tolstring(L, idx, &v->len);
        return 0;
    case LUA_TNUMBER:
        v->kind = AF_V_NUMBER;
        v->num = af_tonumber(L, idx);
        return 0;
    case LUA_TBOOLEAN:
        v->kind = AF_V_BOOLEAN;
        v->boolean = lua_toboolean(L, idx);
        return 0;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) { /* cjson.null / airflow.null */
            v->kind = AF_V_NULL;
            return 0;
        }
        return -1;
    default:
        return -1;
    }
}

/* core.build(api, index, base_url, args [, has_body]) -> method, url, headers
 * or nil, message for a bad argument (the caller raises at the user's level). */
static int l_build(lua_State *L)
{
    const af_registry *reg = check_registry(L, 1);
    lua_Integer index = luaL_checkinteger(L, 2);
    const char *base = luaL_checkstring(L, 3);
    int has_body = lua_toboolean(L, 5);
    const af_operation *op;
    size_t nargs = 0, nitems = 0, ai = 0, ii = 0, i;
    af_arg *args;
    af_value *items;
    af_built *out;
    build_scratch *scratch;
    af_error err;
    const char *h;

    luaL_argcheck(L, index >= 1 && (size_t)index <= reg->nops, 2, "no such operation");
    luaL_checktype(L, 4, LUA_TTABLE);
    op = &reg->ops[index - 1];

    /* pass 1: count arguments and array items */
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            const char *kt = luaL_typename(L, -2);
            lua_pushnil(L);
            lua_pushfstring(L, "%s.%s: argument names must be strings (got a %s key)",
                            op->resource, op->name, kt);
            return 2;
        }
        nargs++;
        if (lua_istable(L, -1))
            nitems += lua_rawlen(L, -1);
        lua_pop(L, 1);
    }
    args = lua_newuserdatauv(L, (nargs ? nargs : 1) * sizeof *args, 0);
    items = lua_newuserdatauv(L, (nitems ? nitems : 1) * sizeof *items, 0);

    /* pass 2: convert (strings stay owned by the args table) */
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        af_arg *a = &args[ai++];
        int vi = lua_gettop(L);
        a->name = lua_tolstring(L, -2, &a->name_len);
        if (lua_istable(L, vi)) {
            size_t n = lua_rawlen(L, vi), count = 0;
            lua_pushnil(L);
            while (lua_next(L, vi)) {
                count++;
                lua_pop(L, 1);
            }
            if (count != n) {
                lua_pushnil(L);
                lua_pushfstring(L, "%s.%s: parameter '%s' expects a list (array table), got a table with other keys",
                                op->resource, op->name, a->name);
                return 2;
            }
            a->value.kind = AF_V_ARRAY;
            a->value.items = &items[ii];
            a->value.nitems = n;
            for (i = 1; i <= n; i++) {
                lua_rawgeti(L, vi, (int)i);
                if (read_scalar(L, -1, &items[ii]) != 0 || items[ii].kind == AF_V_NULL) {
                    lua_pushnil(L);
                    lua_pushfstring(L, "%s.%s: parameter '%s' item %d must be a string, number or boolean, got %s",
                                    op->resource, op->name, a->name, (int)i, luaL_typename(L, -2));
                    return 2;
                }
                ii++;
                lua_pop(L, 1);
            }
        } else if (read_scalar(L, vi, &a->value) != 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "%s.%s: parameter '%s' must be a string, number, boolean or list, got %s",
                            op->resource, op->name, a->name, luaL_typename(L, vi));
            return 2;
        }
        lua_pop(L, 1);
    }

    /* The output goes to this Lua state's scratch, reused from call to call: a
     * userdata with a finalizer per call made every request measurably slower (the
     * collector's finalizer work; bench/). A call that finds the scratch busy (from
     * a finalizer run by the collector during the pushes below, or after such a
     * push raised) gets a userdata of its own instead. */
    scratch = lua_touserdata(L, lua_upvalueindex(1));
    if (!scratch->busy) {
        out = &scratch->built;
        af_built_reset(out);
        scratch->busy = 1;
    } else {
        out = lua_newuserdatauv(L, sizeof *out, 0);
        af_built_init(out);
        luaL_setmetatable(L, BUILT_MT);
    }
    if (af_build(op, base, args, nargs, has_body, out, &err) != 0) {
        if (out == &scratch->built)
            scratch->busy = 0;
        lua_pushnil(L);
        lua_pushstring(L, err.message);
        return 2;
    }
    lua_pushstring(L, out->method);
    lua_pushlstring(L, out->url.data, out->url.len);
    lua_createtable(L, (int)out->nheaders, 0);
    h = out->headers.data;
    for (i = 0; i < out->nheaders; i++) {
        size_t len = strlen(h);
        lua_pushlstring(L, h, len);
        lua_rawseti(L, -2, (int)i + 1);
        h += len + 1;
    }
    if (out == &scratch->built) {
        if (out->url.cap + out->headers.cap > AF_SCRATCH_KEEP)
            af_built_free(out);
        scratch->busy = 0;
    } else {
        af_built_free(out);
    }
    return 3;
}

/* core.format_datetime(seconds) -> "YYYY-MM-DDTHH:MM:SS[.ffffff]Z" */
static int l_format_datetime(lua_State *L)
{
    double t = (double)luaL_checknumber(L, 1);
    af_buf b;
    af_buf_init(&b, 0);
    if (af_format_datetime(&b, t) != 0) {
        af_buf_free(&b);
        return luaL_argerror(L, 1, "time out of range (years 1..9999)");
    }
    lua_pushlstring(L, b.data, b.len);
    af_buf_free(&b);
    return 1;
}

/* core.sleep(seconds) -> true, or false when interrupted (see trap_interrupt).
 * Blocks the thread (the nginx transport uses ngx.sleep). A negative time is no
 * sleep; NaN, infinities and more than AF_MAX_SECONDS raise. */
static int l_sleep(lua_State *L)
{
    double s = (double)luaL_checknumber(L, 1);
    if (!(s <= AF_MAX_SECONDS)) { /* NaN fails this too */
        push_number_text(L, s);
        return luaL_error(L, "airflow.core.sleep: seconds must be a finite number up to %d, got %s",
                          (int)AF_MAX_SECONDS, lua_tostring(L, -1));
    }
    lua_pushboolean(L, af_sleep(s > 0 ? s : 0) == 0);
    return 1;
}

/* core.trap_interrupt() -> true: from now on SIGINT (Ctrl-C) ends running and later
 * requests, streams and sleeps with the error code "interrupted" (for commands;
 * see interrupt.h). Returns nil, message when the handler cannot be installed. */
static int l_trap_interrupt(lua_State *L)
{
    if (af_interrupt_install() != 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "cannot install a SIGINT handler");
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.interrupted() -> true once SIGINT arrived after trap_interrupt() */
static int l_interrupted(lua_State *L)
{
    lua_pushboolean(L, af_interrupted());
    return 1;
}

/* core.now() -> seconds from a monotonic clock, for durations and deadlines */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

#if LUA_VERSION_NUM >= 503
/* Turns the integral floats of the table at idx (and of its sub-tables) into
 * integers in place. Assigning to a field that exists is allowed during lua_next. */
static void integers_in(lua_State *L, int idx, int depth)
{
    if (depth > AF_INTEGERS_MAX_DEPTH)
        return;
    luaL_checkstack(L, 4, "airflow.core.integers: nesting too deep");
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        int t = lua_type(L, -1);
        if (t == LUA_TNUMBER && !lua_isinteger(L, -1)) {
            lua_Number n = lua_tonumber(L, -1);
            lua_Integer i;
            /* integral and in range: what math.tointeger accepts (NaN fails n == floor) */
            if (n == l_mathop(floor)(n) && lua_numbertointeger(n, &i)) {
                lua_pushvalue(L, -2);
                lua_pushinteger(L, i);
                lua_rawset(L, idx);
            }
        } else if (t == LUA_TTABLE) {
            integers_in(L, lua_gettop(L), depth + 1);
        }
        lua_pop(L, 1);
    }
}
#endif

/* core.integers(value) -> value: under Lua 5.3+, the integral floats in a decoded
 * JSON value become integers (lua-cjson 2.1 decodes every number as a float), in
 * place; nesting deeper than AF_INTEGERS_MAX_DEPTH is left as is. Returns the
 * value, converted when it is a number itself. Under Lua 5.1 it changes nothing. */
static int l_integers(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 1);
#if LUA_VERSION_NUM >= 503
    if (lua_type(L, 1) == LUA_TTABLE) {
        integers_in(L, 1, 0);
    } else if (lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1)) {
        lua_Number n = lua_tonumber(L, 1);
        lua_Integer i;
        if (n == l_mathop(floor)(n) && lua_numbertointeger(n, &i))
            lua_pushinteger(L, i);
    }
#endif
    return 1;
}

static int l_curl_version(lua_State *L)
{
    lua_pushstring(L, curl_version());
    return 1;
}

/* ---------------------------------------------------------------- module */

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                      lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
#if LUA_VERSION_NUM >= 504
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__close");
#endif
    }
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}

static int l_stream_tostring(lua_State *L)
{
    lua_pushfstring(L, "airflow.core.stream: %p", lua_touserdata(L, 1));
    return 1;
}

int luaopen_airflow_core(lua_State *L)
{
    static const luaL_Reg session_methods[] = {
        {"request", l_session_request},
        {"request_many", l_session_request_many},
        {"request_each", l_session_request_each},
        {"stream", l_session_stream},
        {"set_auth", l_session_set_auth},
        {"close", l_session_close},
        {"__tostring", l_session_tostring},
        {NULL, NULL}};
    static const luaL_Reg stream_methods[] = {
        {"next", l_stream_next},
        {"response", l_stream_response},
        {"close", l_stream_close},
        {"__tostring", l_stream_tostring},
        {NULL, NULL}};
    static const luaL_Reg each_methods[] = {
        {"next", l_each_step},
        {"close", l_each_close},
        {NULL, NULL}};
    static const luaL_Reg no_methods[] = {{NULL, NULL}};
    static const luaL_Reg functions[] = {
        {"session", l_session},
        {"operations", l_operations},
        {"schemas", l_schemas},
        {"format_datetime", l_format_datetime},
        {"curl_version", l_curl_version},
        {"sleep", l_sleep},
        {"trap_interrupt", l_trap_interrupt},
        {"interrupted", l_interrupted},
        {"now", l_now},
        {"integers", l_integers},
        {NULL, NULL}};
    af_error err;

    af_error_clear(&err);
    if (af_global_init(&err) != 0)
        return luaL_error(L, "airflow.core: %s", err.message);
    new_class(L, SESSION_MT, session_methods, l_session_close);
    new_class(L, STREAM_MT, stream_methods, l_stream_close);
    new_class(L, EACH_MT, each_methods, l_each_close);
    new_class(L, BUILT_MT, no_methods, l_built_gc);
    luaL_newlib(L, functions);
    {
        build_scratch *scratch = lua_newuserdatauv(L, sizeof *scratch, 0);
        af_built_init(&scratch->built);
        scratch->busy = 0;
        luaL_setmetatable(L, BUILT_MT);
        lua_pushcclosure(L, l_build, 1);
        lua_setfield(L, -2, "build");
    }
    return 1;
}
