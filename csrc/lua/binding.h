/*
 * binding.h - what the files of the `airflow.core` Lua binding share.
 *
 * csrc/lua/ is the only C that talks to Lua, one file per job: session.c (the
 * session object), batch.c (request_many/request_each), stream.c (streamed
 * responses), registry.c (the operation registry and the request builder), util.c
 * (plain functions: dates, clocks, sleep, integers), http1.c (HTTP/1.1 request
 * bytes and the response parser, for transports that own their socket), check.c (reading and checking
 * Lua arguments, pushing errors), request.c (Lua request tables -> af_request,
 * af_response -> Lua tables) and core.c, which only wires them into the module.
 * compat.h holds every Lua-version difference. Rules kept in every file:
 *  - every Lua value is read and checked before libcurl runs, and no Lua function is
 *    called while a transfer is in progress, so no Lua error can cross libcurl;
 *  - C-owned results (responses, built requests) live in userdata with __gc, so a
 *    Lua error (even out of memory) while converting them leaks nothing;
 *  - programming mistakes raise; transport failures return nil, err.
 * The module keeps no mutable global state: two Lua states share nothing but
 * libcurl's once-only global init (and, for commands, the SIGINT flag).
 */
#ifndef AIRFLOW_LUA_BINDING_H
#define AIRFLOW_LUA_BINDING_H

#include <stddef.h>
#include <stdint.h>

#include "compat.h"
#include "errors.h"
#include "session.h"
#include "strbuf.h"

#define SESSION_MT "airflow.core.session"

/* The longest timeout accepted, in seconds: its milliseconds fit libcurl's long on
 * every platform (a 32-bit long holds 2147483647 ms, about 24.8 days). */
#define AF_MAX_SECONDS 2147483.0
#define AF_MAX_REDIRECTS 1000.0
/* 2^53 (every integer up to it is a double), or less where size_t is narrower */
#define AF_MAX_BODY_LIMIT ((double)SIZE_MAX < 9007199254740992.0 ? (double)SIZE_MAX : 9007199254740992.0)

/* Buffers larger than this are given back after a request rather than kept. */
#define AF_SCRATCH_KEEP (256 * 1024)

/* A session and the scratch space of its :request calls, reused from one call to
 * the next so that a request makes no garbage of its own: the response buffers,
 * and the request's header lines. Owned here, so a Lua error in between leaks
 * nothing; freed by close/__gc. */
typedef struct lsession {
    af_session *s;
    struct leach *active;  /* the running request_each batch, if any */
    af_response resp;
    af_buf lines;          /* header lines, each NUL-terminated */
    const char **hdrs;     /* pointers into `lines` */
    size_t hdrs_cap;
} lsession;

/* A batch of requests run by af_batch: their strings anchored, their responses
 * and errors owned here until handed over. Freed by afl_batch_release (close, __gc, or
 * the end of the batch). */
typedef struct leach {
    af_batch *run;        /* NULL once released */
    lsession *ls;         /* the session, kept alive by the anchor */
    af_request *reqs;
    af_response *resps;
    af_error *errs;
    size_t n;
    int anchor_ref;       /* {session, request strings, header lines} */
} leach;

/* ---- check.c: arguments and errors. The opt_* readers raise a Lua error naming
 * `what` and the key for a value of the wrong type or range; nil gives the default. */

/* Pushes an error table {code=, message=, curl_code=}. */
void afl_push_error(lua_State *L, const af_error *e);
/* Pushes nil and the error table; returns 2 (for `return afl_return_error(...)`). */
int afl_return_error(lua_State *L, const af_error *e);
/* An optional string field; the string stays owned by the table. */
const char *afl_opt_string(lua_State *L, int idx, const char *key, const char *what);
/* Pushes how a number reads in an error ("nan", "inf", "12", "1.5"). */
void afl_push_number_text(lua_State *L, double v);
/* An optional number field in [0, max], whole when `integral`. */
double afl_opt_number(lua_State *L, int idx, const char *key, double dflt, double max,
                      int integral, const char *what);
int afl_opt_bool(lua_State *L, int idx, const char *key, int dflt, const char *what);
/* An optional timeout in seconds, returned in milliseconds. */
long afl_opt_timeout(lua_State *L, int idx, const char *key, long dflt_ms, const char *what);
/* Raises when the table at idx has a key not in the NULL-terminated `known`. */
void afl_check_keys(lua_State *L, int idx, const char *const *known, const char *what);
/* Registers a metatable `name` with `methods` as __index, and `gc` (if any) as
 * __gc and, where the Lua version has it, __close. */
void afl_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc);

/* ---- request.c: requests from Lua, responses to Lua. */

/* Parses the request table at idx into *r (raises on a bad field). Header lines go to
 * the anchor table at `anchor` when non-zero (requests that outlive the call), else
 * to the session's scratch (ls). Strings stay owned by the request table or anchor. */
void afl_parse_request(lua_State *L, int idx, int anchor, lsession *ls, af_request *r);
/* Pushes {status, headers (lower-case names), body (when with_body), http_version,
 * time, reused}. */
void afl_push_response(lua_State *L, const af_response *r, int with_body);

/* ---- the objects. Each afl_open_* registers its metatable, and its functions
 * into the module table at the top of the stack. */

/* session.c: the session at idx, raising when it is not one or is closed. */
lsession *afl_check_session(lua_State *L, int idx);
void afl_open_session(lua_State *L);
/* batch.c: the session methods request_many and request_each, and the release of a
 * batch (its transfers abandoned, its memory and anchors freed; idempotent). */
int afl_session_request_many(lua_State *L);
int afl_session_request_each(lua_State *L);
void afl_batch_release(lua_State *L, leach *e);
void afl_open_batch(lua_State *L);
/* stream.c: the session method stream. */
int afl_session_stream(lua_State *L);
void afl_open_stream(lua_State *L);
/* registry.c: operations, schemas, build. */
void afl_open_registry(lua_State *L);
/* http1.c: HTTP/1.1 framing for the cosocket transport: http_request (request bytes)
 * and http_parser (the incremental response parser object). */
void afl_open_http1(lua_State *L);
/* util.c: format_datetime, sleep, now, integers, curl_version, trap_interrupt,
 * interrupted. */
void afl_open_util(lua_State *L);

#endif
