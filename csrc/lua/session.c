/* session.c - the session object: core.session(opts), :request, :set_auth, :close. */
#include <stdlib.h>
#include <string.h>

#include "binding.h"

lsession *afl_check_session(lua_State *L, int idx)
{
    lsession *ls = luaL_checkudata(L, idx, SESSION_MT);
    if (!ls->s)
        luaL_error(L, "airflow.core: session is closed");
    return ls;
}

static const char *const session_options[] = {
    "timeout", "connect_timeout", "verify_tls", "ca_file", "ca_path", "cert_file",
    "key_file", "key_password", "proxy", "user_agent", "http_version",
    "max_body_bytes", "max_redirects", "compressed", NULL};

/* core.session([opts]) -> session | nil, err */
static int l_session_new(lua_State *L)
{
    const char *what = "airflow.core.session";
    af_session_opts o;
    af_error err;
    lsession *ls;
    const char *hv;

    af_session_opts_default(&o);
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        afl_check_keys(L, 1, session_options, what);
        o.timeout_ms = afl_opt_timeout(L, 1, "timeout", o.timeout_ms, what);
        o.connect_timeout_ms = afl_opt_timeout(L, 1, "connect_timeout", o.connect_timeout_ms, what);
        o.verify_tls = afl_opt_bool(L, 1, "verify_tls", 1, what);
        o.ca_file = afl_opt_string(L, 1, "ca_file", what);
        o.ca_path = afl_opt_string(L, 1, "ca_path", what);
        o.cert_file = afl_opt_string(L, 1, "cert_file", what);
        o.key_file = afl_opt_string(L, 1, "key_file", what);
        o.key_password = afl_opt_string(L, 1, "key_password", what);
        o.proxy = afl_opt_string(L, 1, "proxy", what);
        o.user_agent = afl_opt_string(L, 1, "user_agent", what);
        hv = afl_opt_string(L, 1, "http_version", what);
        if (hv) {
            if (strcmp(hv, "1.1") == 0)
                o.http_version = 11;
            else if (strcmp(hv, "2") == 0)
                o.http_version = 2;
            else if (strcmp(hv, "auto") != 0)
                luaL_error(L, "%s: 'http_version' must be \"1.1\", \"2\" or \"auto\"", what);
        }
        lua_getfield(L, 1, "max_body_bytes");
        if (lua_type(L, -1) == LUA_TBOOLEAN && !lua_toboolean(L, -1))
            o.max_body_bytes = 0; /* false: explicitly unlimited */
        else
            o.max_body_bytes = (size_t)afl_opt_number(L, 1, "max_body_bytes", (double)o.max_body_bytes,
                                                        AF_MAX_BODY_LIMIT, 1, what);
        lua_pop(L, 1);
        o.max_redirects = (long)afl_opt_number(L, 1, "max_redirects", (double)o.max_redirects,
                                                 AF_MAX_REDIRECTS, 1, what);
        o.compressed = afl_opt_bool(L, 1, "compressed", 1, what);
    }
    /* The userdata exists before the session, so __gc frees it whatever happens. */
    ls = lua_newuserdatauv(L, sizeof *ls, 0);
    memset(ls, 0, sizeof *ls);
    af_response_init(&ls->resp);
    af_buf_init(&ls->lines, 0);
    luaL_setmetatable(L, SESSION_MT);
    af_error_clear(&err);
    ls->s = af_session_new(&o, &err);
    if (!ls->s)
        return afl_return_error(L, &err);
    return 1;
}

static int l_session_close(lua_State *L)
{
    lsession *ls = luaL_checkudata(L, 1, SESSION_MT);
    af_session *s = ls->s;
    if (ls->active)
        afl_batch_release(L, ls->active); /* its transfers use this session's handles */
    ls->s = NULL; /* cleared first: a second close, or __gc after close, is a no-op */
    af_session_free(s);
    af_response_free(&ls->resp);
    af_buf_free(&ls->lines);
    free((void *)ls->hdrs);
    ls->hdrs = NULL;
    ls->hdrs_cap = 0;
    return 0;
}

static int l_session_tostring(lua_State *L)
{
    lsession *ls = luaL_checkudata(L, 1, SESSION_MT);
    static const char *const kinds[] = {"none", "basic", "bearer", "negotiate"};
    if (!ls->s)
        lua_pushfstring(L, "airflow.core.session (closed): %p", (void *)ls);
    else
        lua_pushfstring(L, "airflow.core.session (auth: %s): %p",
                        kinds[af_session_auth_kind(ls->s)], (void *)ls);
    return 1;
}

/* session:set_auth(kind [, user, secret]) */
static int l_session_set_auth(lua_State *L)
{
    static const char *const kinds[] = {"none", "basic", "bearer", "negotiate", NULL};
    lsession *ls = afl_check_session(L, 1);
    int kind = luaL_checkoption(L, 2, NULL, kinds);
    const char *user = luaL_optstring(L, 3, NULL);
    const char *secret = luaL_optstring(L, 4, NULL);
    af_error err;

    af_error_clear(&err);
    if (af_session_set_auth(ls->s, (af_auth_kind)kind, user, secret, &err) != 0)
        return luaL_error(L, "airflow.core: set_auth: %s", err.message);
    return 0;
}

/* Empties the scratch response for the next request; storage past
 * AF_SCRATCH_KEEP is given back, so one huge page is not held for the session's life. */
static void scratch_reset(lsession *ls)
{
    af_response *r = &ls->resp;
    if (r->body.cap > AF_SCRATCH_KEEP)
        af_buf_free(&r->body);
    if (r->headers.cap > AF_SCRATCH_KEEP)
        af_buf_free(&r->headers);
    af_buf_reset(&r->body);
    af_buf_reset(&r->headers);
    r->status = r->http_version = r->new_connections = 0;
    r->total_seconds = 0;
}

/* session:request(req) -> response | nil, err */
static int l_session_request(lua_State *L)
{
    lsession *ls = afl_check_session(L, 1);
    af_request req;
    af_error err;
    int rc;

    luaL_checktype(L, 2, LUA_TTABLE);
    afl_parse_request(L, 2, 0, ls, &req);
    af_error_clear(&err);
    rc = af_session_perform(ls->s, &req, &ls->resp, &err);
    if (ls->lines.cap > AF_SCRATCH_KEEP)
        af_buf_free(&ls->lines);
    if (rc != 0) {
        scratch_reset(ls);
        return afl_return_error(L, &err);
    }
    afl_push_response(L, &ls->resp, 1);
    scratch_reset(ls);
    return 1;
}

void afl_open_session(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"request", l_session_request},
        {"request_many", afl_session_request_many},
        {"request_each", afl_session_request_each},
        {"stream", afl_session_stream},
        {"set_auth", l_session_set_auth},
        {"close", l_session_close},
        {"__tostring", l_session_tostring},
        {NULL, NULL}};
    int i;

    afl_new_class(L, SESSION_MT, methods, l_session_close);
    lua_pushcfunction(L, l_session_new);
    lua_setfield(L, -2, "session");
    /* core.SESSION_OPTIONS: the option names core.session accepts, written once here */
    lua_newtable(L);
    for (i = 0; session_options[i]; i++) {
        lua_pushstring(L, session_options[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "SESSION_OPTIONS");
}
