/*
 * registry.c - lookups over the generated operation tables (registry_v1.c,
 * registry_v2.c).
 */
#include "registry.h"

#include <string.h>

const af_registry *af_registry_find(const char *api)
{
    if (api == NULL)
        return NULL;
    if (strcmp(api, "v2") == 0)
        return &af_registry_v2;
    if (strcmp(api, "v1") == 0)
        return &af_registry_v1;
    return NULL;
}

const af_operation *af_registry_lookup(const af_registry *reg, const char *resource,
                                       const char *name)
{
    size_t i;

    if (reg == NULL || resource == NULL || name == NULL)
        return NULL;
    for (i = 0; i < reg->nops; i++) {
        const af_operation *op = &reg->ops[i];
        if (strcmp(op->name, name) == 0 && strcmp(op->resource, resource) == 0)
            return op;
    }
    return NULL;
}
