/* batch.c - many requests at once: session:request_many and :request_each. */
#include <stdlib.h>
#include <string.h>

#include "binding.h"

#define EACH_MT "airflow.core.batch_iterator"

void afl_batch_release(lua_State *L, leach *e)
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
    afl_batch_release(L, luaL_checkudata(L, 1, EACH_MT));
    return 0;
}

/* Reads session:<what>(reqs [, concurrency]) and starts the batch. Pushes the batch
 * userdata and returns it, or returns NULL with err set (the batch pushed anyway). */
static leach *each_start(lua_State *L, const char *what, af_error *err)
{
    lsession *ls = afl_check_session(L, 1);
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
        afl_parse_request(L, -1, anchor, NULL, &e->reqs[i]);
        lua_pop(L, 1);
    }
    e->anchor_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* pops the anchor */
    e->run = af_batch_start(ls->s, e->reqs, e->resps, e->errs, n, (int)conc, err);
    if (!e->run) {
        afl_batch_release(L, e);
        return NULL;
    }
    e->ls = ls;
    ls->active = e;
    return e;
}

/* session:request_many(reqs [, concurrency]) -> responses, errors
 * responses[i] is a response or false; errors[i] is an error table or nil. */
int afl_session_request_many(lua_State *L)
{
    af_error err;
    leach *e = each_start(L, "request_many", &err);
    long i;

    if (!e)
        return afl_return_error(L, &err);
    lua_createtable(L, (int)e->n, 0);
    lua_createtable(L, (int)e->n, 0);
    while ((i = af_batch_next(e->run)) >= 0) {
        if (e->errs[i].code == AF_OK) {
            afl_push_response(L, &e->resps[i], 1);
            lua_rawseti(L, -3, (int)i + 1);
        } else {
            lua_pushboolean(L, 0);
            lua_rawseti(L, -3, (int)i + 1);
            afl_push_error(L, &e->errs[i]);
            lua_rawseti(L, -2, (int)i + 1);
        }
        /* free as we go: a big batch is not held twice */
        af_response_free(&e->resps[i]);
    }
    afl_batch_release(L, e);
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
        afl_batch_release(L, e);
        return 0;
    }
    lua_pushinteger(L, (lua_Integer)i + 1);
    if (e->errs[i].code != AF_OK) {
        lua_pushboolean(L, 0);
        afl_push_error(L, &e->errs[i]);
        return 3;
    }
    afl_push_response(L, &e->resps[i], 1);
    af_response_free(&e->resps[i]); /* handed over: not held twice */
    return 2;
}

/* session:request_each(reqs [, concurrency]) -> iterator, batch, nil, batch
 * For `for i, res, err in s:request_each(reqs, 8) do ... end`: each response as
 * soon as it is complete (in the order they finish), while the others are still in
 * flight. Breaking out of the loop (Lua 5.4) or batch:close() abandons the rest. */
int afl_session_request_each(lua_State *L)
{
    af_error err;
    if (!each_start(L, "request_each", &err))
        return afl_return_error(L, &err);
    lua_pushcfunction(L, l_each_step); /* stack: batch, step */
    lua_pushvalue(L, -2);              /* the state */
    lua_pushnil(L);                    /* the first control value */
    lua_pushvalue(L, -4);              /* closed when a for loop ends (Lua 5.4) */
    return 4;
}

void afl_open_batch(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"next", l_each_step},
        {"close", l_each_close},
        {NULL, NULL}};
    afl_new_class(L, EACH_MT, methods, l_each_close);
}
