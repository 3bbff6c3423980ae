/*
 * compat.h - the few Lua 5.1 (LuaJIT) / 5.4 API differences, in one place.
 * Only the binding (csrc/lua/) includes it, through binding.h; nothing else knows
 * which Lua it is built for: every LUA_VERSION_NUM test is here, and the binding
 * branches on the plain constants below instead.
 */
#ifndef AIRFLOW_COMPAT_H
#define AIRFLOW_COMPAT_H

#include <lauxlib.h>
#include <lua.h>

#if LUA_VERSION_NUM < 502
#define lua_rawlen(L, i) lua_objlen(L, (i))
/* LuaJIT 2.1 ships the 5.2 auxiliary functions, and defines luaL_newlibtable with
 * them; plain Lua 5.1 has neither, and gets ours (compat.c). */
#ifndef luaL_newlibtable
#define AF_COMPAT_AUX 1
#define luaL_newlibtable(L, l) lua_createtable(L, 0, sizeof(l) / sizeof((l)[0]) - 1)
#define luaL_newlib(L, l) (luaL_newlibtable(L, l), luaL_setfuncs(L, l, 0))
void af_compat_setfuncs(lua_State *L, const luaL_Reg *l, int nup);
#define luaL_setfuncs af_compat_setfuncs
void *af_compat_testudata(lua_State *L, int i, const char *tname);
#define luaL_testudata af_compat_testudata
#define luaL_setmetatable(L, tname) (luaL_getmetatable(L, (tname)), lua_setmetatable(L, -2))
#endif
#endif

#if LUA_VERSION_NUM < 504
#define lua_newuserdatauv(L, size, nuv) lua_newuserdata(L, (size))
#define AF_LUA_HAS_CLOSE 0     /* no __close metamethod */
#else
#define AF_LUA_HAS_CLOSE 1
#endif

#if LUA_VERSION_NUM < 503
/* No integer subtype: numbers are doubles, and nothing is ever converted. */
#define AF_LUA_HAS_INTEGERS 0
#define lua_isinteger(L, i) ((void)(L), (void)(i), 0)
#define lua_numbertointeger(n, p) ((void)(n), (void)(p), 0)
#define l_mathop(op) op
#else
#define AF_LUA_HAS_INTEGERS 1
#endif

/* A number that is integral in the Lua sense, as a double: 5.4 integers and floats
 * alike (lua-cjson hands back JSON integers as floats under 5.4). */
#define af_tonumber(L, i) ((double)lua_tonumber(L, (i)))

#endif
