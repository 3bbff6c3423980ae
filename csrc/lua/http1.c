/* http1.c - HTTP/1.1 framing for transports that own the socket (the OpenResty
 * cosocket transport): core.http_request (request bytes) and core.http_parser (an
 * incremental response parser object). Pure computation, no I/O: the caller does
 * the reading and writing (and may yield in between). */
#include <string.h>

#include "binding.h"
#include "http_request.h"
#include "http_response.h"

#define PARSER_MT "airflow.core.http_parser"

#define BYTES_MT "airflow.core.http_bytes"

static const char *const request_fields[] = {"method", "url", "headers", "body", "timeout",
                                             "no_auth", NULL};

/* The buffer the request bytes are written in: one userdata per Lua state, the
 * upvalue of core.http_request, emptied and reused by each call (a C function runs
 * to its end without yielding, so calls never overlap), so a request allocates
 * nothing but its result string; a Lua error in between (out of memory) leaks
 * nothing. */
static int bytes_gc(lua_State *L)
{
    af_buf *b = luaL_checkudata(L, 1, BYTES_MT);
    af_buf_free(b);
    return 0;
}

/* Adds the headers of the table at idx: name = value pairs or "Name: value" lines. */
static int add_headers(lua_State *L, int idx, af_buf *out, af_error *err)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t nlen = 0, vlen;
        const char *name = NULL, *v;
        int t = lua_type(L, -1);
        if (t != LUA_TSTRING && t != LUA_TNUMBER) {
            lua_pop(L, 2);
            return af_error_set(err, AF_ERR_INVALID, "header values must be strings");
        }
        v = lua_tolstring(L, -1, &vlen); /* a number value becomes a string in place */
        if (lua_type(L, -2) == LUA_TSTRING)
            name = lua_tolstring(L, -2, &nlen);
        if (af_http_request_header(out, name, nlen, v, vlen, err) != 0) {
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* core.http_request(req [, extra_lines [, proxy]]) -> bytes, host, port, tls
 * req is a transport request table (method, url, headers, body, ...); extra_lines
 * an array of "Name: value" lines sent before the request's own (credentials,
 * User-Agent); proxy true writes the absolute URL as the target. Raises on a
 * malformed request (a programming mistake, before any I/O). */
static int l_http_request(lua_State *L)
{
    const char *what = "airflow.core.http_request";
    const char *method, *url, *body = NULL;
    size_t body_len = 0;
    af_url_parts u;
    af_error err;
    af_buf *out;
    int proxy;

    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    proxy = lua_toboolean(L, 3);
    lua_settop(L, 2);
    afl_check_keys(L, 1, request_fields, what);
    method = afl_opt_string(L, 1, "method", what);
    if (!method)
        method = "GET";
    url = afl_opt_string(L, 1, "url", what);
    if (!url)
        return luaL_error(L, "%s: 'url' is required", what);
    lua_getfield(L, 1, "body"); /* 3 */
    if (!lua_isnil(L, 3)) {
        if (lua_type(L, 3) != LUA_TSTRING)
            return luaL_error(L, "%s: 'body' must be a string, got %s", what, luaL_typename(L, 3));
        body = lua_tolstring(L, 3, &body_len);
    }
    lua_getfield(L, 1, "headers"); /* 4 */
    if (!lua_isnil(L, 4) && !lua_istable(L, 4))
        return luaL_error(L, "%s: 'headers' must be a table", what);
    af_error_clear(&err);
    if (af_url_split(url, &u, &err) != 0)
        return luaL_error(L, "%s: %s", what, err.message);
    out = lua_touserdata(L, lua_upvalueindex(1));
    af_buf_reset(out);
    if (af_http_request_head(out, method, url, &u, proxy, &err) != 0 ||
        (!lua_isnil(L, 2) && add_headers(L, 2, out, &err) != 0) ||
        (!lua_isnil(L, 4) && add_headers(L, 4, out, &err) != 0) ||
        af_http_request_end(out, method, body, body_len, &err) != 0) {
        af_buf_free(out);
        return luaL_error(L, "%s: %s", what, err.message);
    }
    lua_pushlstring(L, out->data, out->len);
    if (out->cap > AF_SCRATCH_KEEP) /* a large body: give its storage back */
        af_buf_free(out);
    lua_pushstring(L, u.host);
    lua_pushinteger(L, u.port);
    lua_pushboolean(L, u.tls);
    return 4;
}

/* The parser object: the C parser, and the body it collects (or hands out). */
typedef struct lparser {
    af_hresp p;
    af_buf body;
    int stream;  /* hand the body out from each feed instead of collecting it */
    int live;    /* p and body hold storage */
} lparser;

static lparser *check_parser(lua_State *L)
{
    lparser *lp = luaL_checkudata(L, 1, PARSER_MT);
    if (!lp->live)
        luaL_error(L, "airflow.core: the HTTP parser is closed");
    return lp;
}

static int parser_gc(lua_State *L)
{
    lparser *lp = luaL_checkudata(L, 1, PARSER_MT);
    if (lp->live) {
        lp->live = 0;
        af_hresp_free(&lp->p);
        af_buf_free(&lp->body);
    }
    return 0;
}

/* Reads the options table at idx ({max_head =, max_body =, head =, stream =}) and
 * (re)starts the parser with them; its buffers' storage is kept. */
static void parser_start(lua_State *L, lparser *lp, int idx, const char *what)
{
    static const char *const keys[] = {"max_head", "max_body", "head", "stream", NULL};
    double max_head = 0, max_body = 0;
    int head = 0, stream = 0;
    af_buf line, headers;

    if (!lua_isnoneornil(L, idx)) {
        luaL_checktype(L, idx, LUA_TTABLE);
        afl_check_keys(L, idx, keys, what);
        max_head = afl_opt_number(L, idx, "max_head", 0, AF_MAX_BODY_LIMIT, 1, what);
        max_body = afl_opt_number(L, idx, "max_body", 0, AF_MAX_BODY_LIMIT, 1, what);
        head = afl_opt_bool(L, idx, "head", 0, what);
        stream = afl_opt_bool(L, idx, "stream", 0, what);
    }
    line = lp->p.line;
    headers = lp->p.headers;
    af_hresp_init(&lp->p, (size_t)max_head, (size_t)max_body, head);
    if (lp->live) { /* a reset: reuse the storage, give large buffers back */
        lp->p.line = line;
        lp->p.headers = headers;
        af_buf_reset(&lp->p.line);
        af_buf_reset(&lp->p.headers);
        if (lp->body.cap > AF_SCRATCH_KEEP)
            af_buf_free(&lp->body);
        af_buf_reset(&lp->body);
    }
    lp->stream = stream;
    lp->live = 1;
}

/* core.http_parser{max_head =, max_body =, head = bool, stream = bool} -> parser */
static int l_http_parser(lua_State *L)
{
    lparser *lp;

    lua_settop(L, 1);
    lp = lua_newuserdatauv(L, sizeof *lp, 0);
    memset(lp, 0, sizeof *lp);
    af_buf_init(&lp->body, 0);
    af_hresp_init(&lp->p, 0, 0, 0);
    luaL_setmetatable(L, PARSER_MT);
    parser_start(L, lp, 1, "airflow.core.http_parser");
    return 1;
}

/* parser:reset{...} -> parser: starts a new response (the options as for
 * core.http_parser), keeping the buffers' storage, so a transport can reuse it. */
static int l_parser_reset(lua_State *L)
{
    lparser *lp = check_parser(L);
    parser_start(L, lp, 2, "airflow.core.http_parser:reset");
    lua_settop(L, 1);
    return 1;
}

/* parser:feed(data) -> chunk, done | nil, err
 * chunk: the body bytes this data completed ("" when collecting, or none yet);
 * done: true once the response is complete. */
static int l_parser_feed(lua_State *L)
{
    lparser *lp = check_parser(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    af_error err;
    af_hresp_rc rc;

    af_error_clear(&err);
    if (lp->stream)
        af_buf_reset(&lp->body);
    rc = af_hresp_feed(&lp->p, data, len, &lp->body, &err);
    if (rc == AF_HRESP_ERROR)
        return afl_return_error(L, &err);
    if (lp->stream)
        lua_pushlstring(L, lp->body.data ? lp->body.data : "", lp->body.len);
    else
        lua_pushliteral(L, "");
    lua_pushboolean(L, rc == AF_HRESP_DONE);
    return 2;
}

/* parser:eof() -> true (the close ended the response) | nil, err */
static int l_parser_eof(lua_State *L)
{
    lparser *lp = check_parser(L);
    af_error err;

    af_error_clear(&err);
    if (af_hresp_eof(&lp->p, &err) == AF_HRESP_ERROR)
        return afl_return_error(L, &err);
    lua_pushboolean(L, 1);
    return 1;
}

/* parser:response() -> {status, headers, http_version[, body]} once the head is in,
 * else nil. The body (collected mode) is included once the response is done. */
static int l_parser_response(lua_State *L)
{
    lparser *lp = check_parser(L);
    af_response r;

    if (!lp->p.head_done) {
        lua_pushnil(L);
        return 1;
    }
    memset(&r, 0, sizeof r);
    r.status = lp->p.status;
    r.http_version = 10 + lp->p.http_minor;
    r.headers = lp->p.headers;
    r.body = lp->body;
    afl_push_response(L, &r, !lp->stream);
    return 1;
}

/* parser:keepalive() -> whether the connection may carry another request. */
static int l_parser_keepalive(lua_State *L)
{
    lparser *lp = check_parser(L);
    lua_pushboolean(L, lp->p.keep_alive);
    return 1;
}

void afl_open_http1(lua_State *L)
{
    af_buf *out;
    static const luaL_Reg methods[] = {
        {"feed", l_parser_feed},           {"eof", l_parser_eof},
        {"response", l_parser_response}, {"keepalive", l_parser_keepalive},
        {"reset", l_parser_reset},       {"close", parser_gc},
        {NULL, NULL}};
    static const luaL_Reg no_methods[] = {{NULL, NULL}};
    afl_new_class(L, PARSER_MT, methods, parser_gc);
    afl_new_class(L, BYTES_MT, no_methods, bytes_gc);
    out = lua_newuserdatauv(L, sizeof *out, 0);
    af_buf_init(out, 0);
    luaL_setmetatable(L, BYTES_MT);
    lua_pushcclosure(L, l_http_request, 1);
    lua_setfield(L, -2, "http_request");
    lua_pushcfunction(L, l_http_parser);
    lua_setfield(L, -2, "http_parser");
}
