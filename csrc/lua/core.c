/*
 * core.c - luaopen_airflow_core: wires the binding's objects and functions into the
 * `airflow.core` module (see binding.h for which file does what).
 */
#include "binding.h"

int luaopen_airflow_core(lua_State *L)
{
    af_error err;

    af_error_clear(&err);
    if (af_global_init(&err) != 0)
        return luaL_error(L, "airflow.core: %s", err.message);
    lua_newtable(L);
    afl_open_session(L);
    afl_open_batch(L);
    afl_open_stream(L);
    afl_open_registry(L);
    afl_open_http1(L);
    afl_open_util(L);
    return 1;
}
