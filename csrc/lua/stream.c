/* stream.c - streamed responses: session:stream(req), stream:next/response/close. */
#include "binding.h"

#define STREAM_MT "airflow.core.stream"

typedef struct lstream {
    af_stream *st;
    int anchor_ref; /* keeps the request's strings alive while libcurl uses them */
    int done;
} lstream;

/* session:stream(req) -> stream | nil, err */
int afl_session_stream(lua_State *L)
{
    lsession *ls = afl_check_session(L, 1);
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
    afl_parse_request(L, 2, anchor, NULL, &req);
    lua_pushvalue(L, 2);
    lua_rawseti(L, anchor, 0); /* the request table: its body and url strings */
    lua_pushvalue(L, anchor);
    lst->anchor_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lst->st = af_stream_open(ls->s, &req, &err);
    if (!lst->st)
        return afl_return_error(L, &err);
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
        return afl_return_error(L, &err);
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
    afl_push_response(L, af_stream_response(lst->st), 0);
    return 1;
}

static int l_stream_close(lua_State *L)
{
    stream_release(L, luaL_checkudata(L, 1, STREAM_MT));
    return 0;
}

static int l_stream_tostring(lua_State *L)
{
    lua_pushfstring(L, "airflow.core.stream: %p", lua_touserdata(L, 1));
    return 1;
}

void afl_open_stream(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"next", l_stream_next},
        {"response", l_stream_response},
        {"close", l_stream_close},
        {"__tostring", l_stream_tostring},
        {NULL, NULL}};
    afl_new_class(L, STREAM_MT, methods, l_stream_close);
}
