/* check.c - reading and checking Lua arguments, and pushing errors (binding.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "binding.h"

/* Pushes an error table {code=, message=, curl_code=}. */
void afl_push_error(lua_State *L, const af_error *e)
{
    lua_createtable(L, 0, 3);
    lua_pushstring(L, af_error_name(e->code));
    lua_setfield(L, -2, "code");
    lua_pushstring(L, e->message);
    lua_setfield(L, -2, "message");
    lua_pushinteger(L, e->curl_code);
    lua_setfield(L, -2, "curl_code");
}

int afl_return_error(lua_State *L, const af_error *e)
{
    lua_pushnil(L);
    afl_push_error(L, e);
    return 2;
}

/* Reads an optional string field of the table at idx. */
const char *afl_opt_string(lua_State *L, int idx, const char *key, const char *what)
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
void afl_push_number_text(lua_State *L, double v)
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
double afl_opt_number(lua_State *L, int idx, const char *key, double dflt, double max,
                               int integral, const char *what)
{
    double v = dflt;
    lua_getfield(L, idx, key);
    if (!lua_isnil(L, -1)) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_error(L, "%s: '%s' must be a number, got %s", what, key, luaL_typename(L, -1));
        v = (double)lua_tonumber(L, -1);
        if (!(v >= 0 && v <= max) || (integral && v != floor(v))) {
            afl_push_number_text(L, max);
            afl_push_number_text(L, v);
            luaL_error(L, "%s: '%s' must be a%s number from 0 to %s, got %s", what, key,
                       integral ? " whole" : " finite", lua_tostring(L, -2), lua_tostring(L, -1));
        }
    }
    lua_pop(L, 1);
    return v;
}

int afl_opt_bool(lua_State *L, int idx, const char *key, int dflt, const char *what)
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
void afl_check_keys(lua_State *L, int idx, const char *const *known, const char *what)
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

/* Seconds already checked to lie in [0, AF_MAX_SECONDS] -> milliseconds. */
static long seconds_to_ms(double s)
{
    return (long)(s * 1000.0 + 0.5);
}

/* A timeout field in seconds -> milliseconds. */
long afl_opt_timeout(lua_State *L, int idx, const char *key, long dflt_ms, const char *what)
{
    return seconds_to_ms(afl_opt_number(L, idx, key, dflt_ms / 1000.0, AF_MAX_SECONDS, 0, what));
}

void afl_new_class(lua_State *L, const char *name, const luaL_Reg *methods,
                      lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -2, "__index");
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
        if (AF_LUA_HAS_CLOSE) {
            lua_pushcfunction(L, gc);
            lua_setfield(L, -2, "__close");
        }
    }
    lua_pushstring(L, name);
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
}
