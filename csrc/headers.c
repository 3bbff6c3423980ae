/* headers.c - parse a raw header block into name/value spans. */
#include "headers.h"

#include <string.h>

void af_header_iter_init(af_header_iter *it, const char *data, size_t len)
{
    it->p = data;
    it->end = data ? data + len : data;
}

int af_header_next(af_header_iter *it, const char **name, size_t *name_len,
                   const char **value, size_t *value_len)
{
    while (it->p && it->p < it->end) {
        const char *line = it->p;
        const char *eol = memchr(line, '\n', (size_t)(it->end - line));
        const char *line_end = eol ? eol : it->end;
        const char *colon = memchr(line, ':', (size_t)(line_end - line));
        const char *v;

        it->p = eol ? eol + 1 : it->end;
        if (!colon || colon == line || (size_t)(colon - line) > AF_HEADER_NAME_MAX)
            continue;
        v = colon + 1;
        while (v < line_end && (*v == ' ' || *v == '\t'))
            v++;
        while (line_end > v && (line_end[-1] == '\r' || line_end[-1] == ' ' || line_end[-1] == '\t'))
            line_end--;
        *name = line;
        *name_len = (size_t)(colon - line);
        *value = v;
        *value_len = (size_t)(line_end - v);
        return 1;
    }
    return 0;
}

int af_header_text_ok(const char *s, size_t n)
{
    return !memchr(s, '\r', n) && !memchr(s, '\n', n) && !memchr(s, '\0', n);
}
