/*
 * array.c - PostgreSQL array literals of text, for bulk statements that bind a
 * whole batch as one parameter ($1::text[] with unnest).
 *
 * Every element is double-quoted, so no element content (commas, braces,
 * whitespace, the word NULL) can change the array's shape; inside quotes only
 * backslash and double quote need escaping (PostgreSQL's array_in rules).
 * Deliberately text only: other element types are cast in SQL (`$1::int[]`)
 * from literals whose elements need no quoting.
 */
#include <stdlib.h>

#include "core/core.h"
#include "pg/pg.h"

void
rj_pg_array_append(rj_buf_t *out, const char *const *items, size_t n)
{
    rj_buf_putc(out, '{');
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            rj_buf_putc(out, ',');
        if (items[i] == NULL) {
            rj_buf_puts(out, "NULL");
            continue;
        }
        rj_buf_putc(out, '"');
        for (const char *s = items[i]; *s != '\0'; s++) {
            if (*s == '"' || *s == '\\')
                rj_buf_putc(out, '\\');
            rj_buf_putc(out, *s);
        }
        rj_buf_putc(out, '"');
    }
    rj_buf_putc(out, '}');
}

char *
rj_pg_array_literal(const char *const *items, size_t n)
{
    rj_buf_t b;
    rj_buf_init(&b);
    rj_pg_array_append(&b, items, n);
    return rj_buf_steal(&b);
}
