/*
 * json/json_int.h - what the files of common/src/json share and nobody else uses.
 */
#ifndef RJ_JSON_INT_H
#define RJ_JSON_INT_H

#include <stddef.h>

/**
 * The length of the UTF-8 sequence at @p s (at most @p n bytes, n > 0), or 0 when it is
 * not one jansson accepts: no overlong forms, no surrogates, nothing above U+10FFFF.
 * Defined in dump.c; parse.c checks strings with it too.
 */
size_t rj__json_utf8_len(const unsigned char *s, size_t n);

#endif
