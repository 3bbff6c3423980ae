/*
 * fuzz_response.c - libFuzzer target: response handling, C and Lua.
 *
 * The input is a status byte, a raw header block and a body (split at the first
 * blank line). Headers go through the C parser (headers.c), then the Lua layer
 * decodes the response and builds its error exactly as for a real response
 * (fuzz/response_harness.lua). A crash, a sanitizer report, or a Lua error
 * escaping the harness (bad input must never raise) aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "headers.h"

int luaopen_airflow_core(lua_State *L);

static lua_State *L;
static int harness_ref;

static void init(void)
{
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "airflow.core", luaopen_airflow_core, 0);
    lua_pop(L, 1);
    if (luaL_dostring(L, "package.path = 'lua/?.lua;lua/?/init.lua;fuzz/?.lua;' .. package.path "
                         "return (require('response_harness'))") != LUA_OK) {
        fprintf(stderr, "fuzz_response: cannot load the harness: %s\n"
                        "(run from the repository root)\n", lua_tostring(L, -1));
        abort();
    }
    harness_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[] = {200, 201, 204, 400, 401, 403, 404, 409, 422, 429, 500, 502, 503};
    const char *text = (const char *)data, *split, *name, *value;
    size_t head_len;
    af_header_iter it;
    size_t nlen, vlen;

    if (!L)
        init();
    if (size < 1)
        return 0;
    split = NULL;
    if (size > 1) {
        const char *p = text + 1;
        for (; p + 1 < text + size; p++)
            if (p[0] == '\n' && p[1] == '\n') {
                split = p;
                break;
            }
    }
    head_len = split ? (size_t)(split - text - 1) : 0;

    lua_rawgeti(L, LUA_REGISTRYINDEX, harness_ref);
    lua_pushinteger(L, statuses[data[0] % (sizeof statuses / sizeof statuses[0])]);
    lua_newtable(L);
    af_header_iter_init(&it, text + 1, head_len);
    while (af_header_next(&it, &name, &nlen, &value, &vlen)) {
        lua_pushlstring(L, name, nlen);
        lua_pushlstring(L, value, vlen);
        lua_rawset(L, -3);
    }
    if (split)
        lua_pushlstring(L, split + 2, size - (size_t)(split + 2 - text));
    else
        lua_pushlstring(L, text + 1, size - 1);
    if (lua_pcall(L, 3, 0, 0) != LUA_OK) {
        fprintf(stderr, "Lua error on fuzz input: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, 0);
    return 0;
}
