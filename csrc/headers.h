/*
 * headers.h - iterates the "Name: value" lines of a raw response header block, and
 * checks text bound for a request header.
 *
 * Borrowing only: the iterator points into the caller's buffer. Lines without a
 * colon, with an empty name, or with a name longer than AF_HEADER_NAME_MAX are
 * skipped; values are trimmed of surrounding blanks and the line's CR.
 */
#ifndef AIRFLOW_HEADERS_H
#define AIRFLOW_HEADERS_H

#include <stddef.h>

#define AF_HEADER_NAME_MAX 127

typedef struct af_header_iter {
    const char *p;
    const char *end;
} af_header_iter;

void af_header_iter_init(af_header_iter *it, const char *data, size_t len);
/* Returns 1 with the next header's name and value spans, or 0 at the end. */
int af_header_next(af_header_iter *it, const char **name, size_t *name_len,
                   const char **value, size_t *value_len);

/* 1 when n bytes of s may stand in a request header or line: no CR, LF or NUL (which
 * would end the line and start one of the sender's choosing); else 0. */
int af_header_text_ok(const char *s, size_t n);

#endif
