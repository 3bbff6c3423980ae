/* util.c - plain functions of airflow.core: dates, clocks, sleep, Ctrl-C, integers. */
#include <math.h>
#include <time.h>

#include "binding.h"
#include "builder.h"
#include "interrupt.h"

#define AF_INTEGERS_MAX_DEPTH 1000 /* as deep as the JSON decoder goes */

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
        afl_push_number_text(L, s);
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

/* core.integers(value) -> value: under Lua 5.3+, the integral floats in a decoded
 * JSON value become integers (lua-cjson 2.1 decodes every number as a float), in
 * place; nesting deeper than AF_INTEGERS_MAX_DEPTH is left as is. Returns the
 * value, converted when it is a number itself. Under Lua 5.1 it changes nothing. */
static int l_integers(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    if (!AF_LUA_HAS_INTEGERS)
        return 1;
    if (lua_type(L, 1) == LUA_TTABLE) {
        integers_in(L, 1, 0);
    } else if (lua_type(L, 1) == LUA_TNUMBER && !lua_isinteger(L, 1)) {
        lua_Number n = lua_tonumber(L, 1);
        lua_Integer i;
        if (n == l_mathop(floor)(n) && lua_numbertointeger(n, &i))
            lua_pushinteger(L, i);
    }
    return 1;
}

static int l_curl_version(lua_State *L)
{
    lua_pushstring(L, curl_version());
    return 1;
}

void afl_open_util(lua_State *L)
{
    static const luaL_Reg functions[] = {
        {"format_datetime", l_format_datetime},
        {"curl_version", l_curl_version},
        {"sleep", l_sleep},
        {"trap_interrupt", l_trap_interrupt},
        {"interrupted", l_interrupted},
        {"now", l_now},
        {"integers", l_integers},
        {NULL, NULL}};
    luaL_setfuncs(L, functions, 0);
}
