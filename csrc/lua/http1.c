/* http1.c - HTTP/1.1 framing for transports that own the socket (the OpenResty
 * cosocket transport): core.http_request (request bytes) and core.http_parser (an
 * incremental response parser object). Pure computation, no I/O: the caller does
 * the reading and writing (and may yield in between). */
#include <string.h>

#include "binding.h"
#include "http_request.h"
#include "http_response.h"

#define PARSER_MT "airflow.core.http_parser"

/* core.http_request(req [, extra_lines [, proxy]]) -> bytes, host, port, tls
 * req is a transport request table (method, url, headers, body, ...); extra_lines
 * an array of "Name: value" lines sent before the request's own (credentials,
 * User-Agent); proxy true writes the absolute URL as the target. Raises on a
 * malformed request (a programming mistake, before any I/O). */
static int l_http_request(lua_State *L)
{
    af_request req;
    af_url_parts u;
    af_error err;
    af_buf out;
    const char **lines;
    size_t nextra = 0, i, n;
    int anchor, proxy;

    luaL_checktype(L, 1, LUA_TTABLE);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        nextra = (size_t)lua_rawlen(L, 2);
    }
    proxy = lua_toboolean(L, 3);
    lua_settop(L, 2);
    lua_newtable(L);
    anchor = lua_gettop(L);
    afl_parse_request(L, 1, anchor, NULL, &req);
    af_error_clear(&err);
    if (af_url_split(req.url, &u, &err) != 0)
        return luaL_error(L, "airflow.core.http_request: %s", err.message);
    n = nextra + req.nheaders;
    lines = lua_newuserdatauv(L, (n ? n : 1) * sizeof *lines, 0);
    for (i = 0; i < nextra; i++) {
        lua_rawgeti(L, 2, (int)i + 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            return luaL_error(L, "airflow.core.http_request: extra header lines must be strings");
        lines[i] = lua_tostring(L, -1);
        lua_rawseti(L, anchor, (int)lua_rawlen(L, anchor) + 1);
    }
    for (i = 0; i < req.nheaders; i++)
        lines[nextra + i] = req.headers[i];
    af_buf_init(&out, 0);
    if (af_http_request(&out, req.method ? req.method : "GET", req.url, &u, proxy, lines, n, req.body,
                        req.body_len, &err) != 0) {
        af_buf_free(&out);
        if (err.code == AF_ERR_NOMEM)
            return luaL_error(L, "airflow.core.http_request: %s", err.message);
        return luaL_error(L, "airflow.core.http_request: %s", err.message);
    }
    lua_pushlstring(L, out.data, out.len);
    af_buf_free(&out);
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
    static const luaL_Reg methods[] = {
        {"feed", l_parser_feed},           {"eof", l_parser_eof},
        {"response", l_parser_response}, {"keepalive", l_parser_keepalive},
        {"reset", l_parser_reset},       {"close", parser_gc},
        {NULL, NULL}};
    afl_new_class(L, PARSER_MT, methods, parser_gc);
    lua_pushcfunction(L, l_http_request);
    lua_setfield(L, -2, "http_request");
    lua_pushcfunction(L, l_http_parser);
    lua_setfield(L, -2, "http_parser");
}
