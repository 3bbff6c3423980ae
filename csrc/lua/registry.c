/* registry.c - the operation registry as Lua tables, and core.build (args -> request). */
#include <string.h>

#include "binding.h"
#include "builder.h"
#include "registry.h"

#define BUILT_MT "airflow.core.built"

static const af_registry *check_registry(lua_State *L, int idx)
{
    const char *api = luaL_checkstring(L, idx);
    const af_registry *reg = af_registry_find(api);
    if (!reg)
        luaL_error(L, "airflow.core: unknown API version '%s' (expected \"v1\" or \"v2\")", api);
    return reg;
}

static const char *const type_names[] = {"string", "integer", "number", "boolean",
                                         "date-time", "any"};
static const char *const in_names[] = {"path", "query", "header"};
static const char *const body_names[] = {"none", "optional", "required"};

static void set_string(lua_State *L, const char *key, const char *value)
{
    if (value) {
        lua_pushstring(L, value);
        lua_setfield(L, -2, key);
    }
}

static void set_bool(lua_State *L, const char *key, int value)
{
    lua_pushboolean(L, value);
    lua_setfield(L, -2, key);
}

static void push_param(lua_State *L, const af_param *p)
{
    lua_createtable(L, 0, 10);
    set_string(L, "name", p->name);
    set_string(L, "in", in_names[p->in]);
    set_string(L, "type", type_names[p->type]);
    set_bool(L, "required", (p->flags & AF_PARAM_REQUIRED) != 0);
    set_bool(L, "array", (p->flags & AF_PARAM_ARRAY) != 0);
    set_bool(L, "csv", (p->flags & AF_PARAM_CSV) != 0);
    set_bool(L, "nullable", (p->flags & AF_PARAM_NULLABLE) != 0);
    set_string(L, "since", p->since);
    set_string(L, "default", p->default_json);
    if (p->enum_values) {
        const char *const *e;
        int i = 0;
        lua_newtable(L);
        for (e = p->enum_values; *e; e++) {
            lua_pushstring(L, *e);
            lua_rawseti(L, -2, ++i);
        }
        lua_setfield(L, -2, "enum");
    }
}

/* core.operations(api) -> array of operation descriptions; op.index is for build() */
static int l_operations(lua_State *L)
{
    const af_registry *reg = check_registry(L, 1);
    size_t i;
    unsigned k;

    lua_createtable(L, (int)reg->nops, 0);
    for (i = 0; i < reg->nops; i++) {
        const af_operation *op = &reg->ops[i];
        lua_createtable(L, 0, 17);
        lua_pushinteger(L, (lua_Integer)i + 1);
        lua_setfield(L, -2, "index");
        set_string(L, "resource", op->resource);
        set_string(L, "name", op->name);
        set_string(L, "method", op->method);
        set_string(L, "path", op->path);
        set_string(L, "body", body_names[op->body]);
        set_string(L, "body_media", op->body_media);
        set_string(L, "body_schema", op->body_schema);
        lua_pushinteger(L, op->success);
        lua_setfield(L, -2, "success");
        set_string(L, "response_media", op->response_media);
        set_string(L, "list_field", op->list_field);
        set_bool(L, "total_entries", op->total_entries);
        set_string(L, "since", op->since);
        set_string(L, "response_schema", op->response_schema);
        set_string(L, "accept", op->accept);
        lua_createtable(L, op->nparams, 0);
        for (k = 0; k < op->nparams; k++) {
            push_param(L, &op->params[k]);
            lua_rawseti(L, -2, (int)k + 1);
        }
        lua_setfield(L, -2, "params");
        lua_rawseti(L, -2, (int)i + 1);
    }
    return 1;
}

/* core.schemas(api) -> compact JSON of the API's component schemas */
static int l_schemas(lua_State *L)
{
    const af_registry *reg = check_registry(L, 1);
    lua_pushstring(L, reg->schemas ? reg->schemas : "{}");
    return 1;
}

/* core.airflow_version(api) -> the Airflow version the API's registry was generated
 * from ("3.3.0" for v2, "2.10.0" for v1) */
static int l_airflow_version(lua_State *L)
{
    const af_registry *reg = check_registry(L, 1);
    lua_pushstring(L, reg->airflow_version);
    return 1;
}

/* core.documented_versions(api) -> array of the Airflow versions the API's `since`
 * facts were read from, oldest first ({"3.0.0", ..., "3.3.0"} for v2; {} for v1) */
static int l_documented_versions(lua_State *L)
{
    const af_registry *reg = check_registry(L, 1);
    const char *p = reg->documented_versions;
    lua_Integer n = 0;
    lua_newtable(L);
    while (*p) {
        size_t len = strcspn(p, " ");
        if (len > 0) {
            lua_pushlstring(L, p, len);
            lua_rawseti(L, -2, ++n);
        }
        p += len;
        if (*p == ' ') p++;
    }
    return 1;
}

static int l_built_gc(lua_State *L)
{
    af_built_free(luaL_checkudata(L, 1, BUILT_MT));
    return 0;
}

/* core.build's output buffers, one per Lua state (an upvalue of build). */
typedef struct build_scratch {
    af_built built;  /* first: freed by l_built_gc through the BUILT_MT metatable */
    int busy;        /* a call is filling or reading `built` */
} build_scratch;

/* Reads one scalar argument value at stack top into v; returns 0, or -1 if not a scalar. */
static int read_scalar(lua_State *L, int idx, af_value *v)
{
    memset(v, 0, sizeof *v);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        v->kind = AF_V_STRING;
        v->str = lua_tolstring(L, idx, &v->len);
        return 0;
    case LUA_TNUMBER:
        v->kind = AF_V_NUMBER;
        v->num = af_tonumber(L, idx);
        return 0;
    case LUA_TBOOLEAN:
        v->kind = AF_V_BOOLEAN;
        v->boolean = lua_toboolean(L, idx);
        return 0;
    case LUA_TLIGHTUSERDATA:
        if (lua_touserdata(L, idx) == NULL) { /* cjson.null / airflow.null */
            v->kind = AF_V_NULL;
            return 0;
        }
        return -1;
    default:
        return -1;
    }
}

/* core.build(api, index, base_url, args [, has_body]) -> method, url, headers
 * (name -> value) or nil, message for a bad argument (the caller raises at the user's level). */
static int l_build(lua_State *L)
{
    const af_registry *reg = check_registry(L, 1);
    lua_Integer index = luaL_checkinteger(L, 2);
    const char *base = luaL_checkstring(L, 3);
    int has_body = lua_toboolean(L, 5);
    const af_operation *op;
    size_t nargs = 0, nitems = 0, ai = 0, ii = 0, i;
    af_arg *args;
    af_value *items;
    af_built *out;
    build_scratch *scratch;
    af_error err;
    const char *h;

    luaL_argcheck(L, index >= 1 && (size_t)index <= reg->nops, 2, "no such operation");
    luaL_checktype(L, 4, LUA_TTABLE);
    op = &reg->ops[index - 1];

    /* pass 1: count arguments and array items */
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            const char *kt = luaL_typename(L, -2);
            lua_pushnil(L);
            lua_pushfstring(L, "%s.%s: argument names must be strings (got a %s key)",
                            op->resource, op->name, kt);
            return 2;
        }
        nargs++;
        if (lua_istable(L, -1))
            nitems += lua_rawlen(L, -1);
        lua_pop(L, 1);
    }
    args = lua_newuserdatauv(L, (nargs ? nargs : 1) * sizeof *args, 0);
    items = lua_newuserdatauv(L, (nitems ? nitems : 1) * sizeof *items, 0);

    /* pass 2: convert (strings stay owned by the args table) */
    lua_pushnil(L);
    while (lua_next(L, 4)) {
        af_arg *a = &args[ai++];
        int vi = lua_gettop(L);
        a->name = lua_tolstring(L, -2, &a->name_len);
        if (lua_istable(L, vi)) {
            size_t n = lua_rawlen(L, vi), count = 0;
            lua_pushnil(L);
            while (lua_next(L, vi)) {
                count++;
                lua_pop(L, 1);
            }
            if (count != n) {
                lua_pushnil(L);
                lua_pushfstring(L, "%s.%s: parameter '%s' expects a list (array table), got a table with other keys",
                                op->resource, op->name, a->name);
                return 2;
            }
            a->value.kind = AF_V_ARRAY;
            a->value.items = &items[ii];
            a->value.nitems = n;
            for (i = 1; i <= n; i++) {
                lua_rawgeti(L, vi, (int)i);
                if (read_scalar(L, -1, &items[ii]) != 0 || items[ii].kind == AF_V_NULL) {
                    lua_pushnil(L);
                    lua_pushfstring(L, "%s.%s: parameter '%s' item %d must be a string, number or boolean, got %s",
                                    op->resource, op->name, a->name, (int)i, luaL_typename(L, -2));
                    return 2;
                }
                ii++;
                lua_pop(L, 1);
            }
        } else if (read_scalar(L, vi, &a->value) != 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "%s.%s: parameter '%s' must be a string, number, boolean or list, got %s",
                            op->resource, op->name, a->name, luaL_typename(L, vi));
            return 2;
        }
        lua_pop(L, 1);
    }

    /* The output goes to this Lua state's scratch, reused from call to call: a
     * userdata with a finalizer per call made every request measurably slower (the
     * collector's finalizer work; bench/). A call that finds the scratch busy (from
     * a finalizer run by the collector during the pushes below, or after such a
     * push raised) gets a userdata of its own instead. */
    scratch = lua_touserdata(L, lua_upvalueindex(1));
    if (!scratch->busy) {
        out = &scratch->built;
        af_built_reset(out);
        scratch->busy = 1;
    } else {
        out = lua_newuserdatauv(L, sizeof *out, 0);
        af_built_init(out);
        luaL_setmetatable(L, BUILT_MT);
    }
    if (af_build(op, base, args, nargs, has_body, out, &err) != 0) {
        if (out == &scratch->built)
            scratch->busy = 0;
        lua_pushnil(L);
        lua_pushstring(L, err.message);
        return 2;
    }
    lua_pushstring(L, out->method);
    lua_pushlstring(L, out->url.data, out->url.len);
    /* headers as a map, name -> value: the builder writes each line "Name: value" */
    lua_createtable(L, 0, (int)out->nheaders + 1);
    h = out->headers.data;
    for (i = 0; i < out->nheaders; i++) {
        size_t len = strlen(h);
        const char *colon = memchr(h, ':', len);
        size_t nlen = colon ? (size_t)(colon - h) : len;
        size_t skip = colon ? nlen + 1 + (nlen + 1 < len && h[nlen + 1] == ' ') : len;
        lua_pushlstring(L, h, nlen);
        lua_pushlstring(L, h + skip, len - skip);
        lua_rawset(L, -3);
        h += len + 1;
    }
    if (out == &scratch->built) {
        if (out->url.cap + out->headers.cap > AF_SCRATCH_KEEP)
            af_built_free(out);
        scratch->busy = 0;
    } else {
        af_built_free(out);
    }
    return 3;
}

void afl_open_registry(lua_State *L)
{
    static const luaL_Reg no_methods[] = {{NULL, NULL}};
    build_scratch *scratch;

    afl_new_class(L, BUILT_MT, no_methods, l_built_gc);
    lua_pushcfunction(L, l_operations);
    lua_setfield(L, -2, "operations");
    lua_pushcfunction(L, l_schemas);
    lua_setfield(L, -2, "schemas");
    lua_pushcfunction(L, l_airflow_version);
    lua_setfield(L, -2, "airflow_version");
    lua_pushcfunction(L, l_documented_versions);
    lua_setfield(L, -2, "documented_versions");
    scratch = lua_newuserdatauv(L, sizeof *scratch, 0);
    af_built_init(&scratch->built);
    scratch->busy = 0;
    luaL_setmetatable(L, BUILT_MT);
    lua_pushcclosure(L, l_build, 1);
    lua_setfield(L, -2, "build");
}
