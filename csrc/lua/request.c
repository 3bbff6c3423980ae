/* request.c - Lua request tables to af_request, af_response to Lua tables. */
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "headers.h"

/* Requests parsed from Lua. Header line pointers live in a userdata; the strings
 * they point at are anchored in a Lua table, so nothing here needs freeing. */
static const char *const request_fields[] = {"method", "url", "headers", "body", "timeout",
                                             "no_auth", NULL};

static void check_header_text(lua_State *L, const char *p, size_t len)
{
    if (!af_header_text_ok(p, len))
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
void afl_parse_request(lua_State *L, int idx, int anchor, lsession *ls, af_request *r)
{
    const char *what = "airflow.core: request";
    header_sink k;

    idx = idx < 0 ? lua_gettop(L) + idx + 1 : idx;
    luaL_checktype(L, idx, LUA_TTABLE);
    afl_check_keys(L, idx, request_fields, what);
    memset(r, 0, sizeof *r);
    r->method = afl_opt_string(L, idx, "method", what);
    r->url = afl_opt_string(L, idx, "url", what);
    if (!r->url)
        luaL_error(L, "%s: 'url' is required", what);
    lua_getfield(L, idx, "body");
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_error(L, "%s: 'body' must be a string, got %s", what, luaL_typename(L, -1));
        r->body = lua_tolstring(L, -1, &r->body_len);
    }
    lua_pop(L, 1);
    r->timeout_ms = afl_opt_timeout(L, idx, "timeout", 0, what);
    r->no_auth = afl_opt_bool(L, idx, "no_auth", 0, what);

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

void afl_push_response(lua_State *L, const af_response *r, int with_body)
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
