/*
 * core/core.h - the internals every part of libramjet uses: allocation that aborts
 * on exhaustion, growable buffers, ids and clocks, and always-on assertions.
 *
 * Out of memory aborts (rj_xmalloc and friends, also installed into jansson by
 * rj_core_init), so a NULL from any constructor in Ramjet means bad input, never
 * exhaustion. Depends on nothing but libc and jansson.
 */
#ifndef RJ_CORE_H
#define RJ_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rj/status.h"

/** Installs the aborting allocators into jansson. Call once, first thing in main(). */
void rj_core_init(void);

void *rj_xmalloc(size_t n);
void *rj_xcalloc(size_t count, size_t n);
void *rj_xrealloc(void *p, size_t n);
char *rj_xstrdup(const char *s);
char *rj_xstrndup(const char *s, size_t n);
char *rj_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * True when @p status blames the data an operation was given (a value PostgreSQL refused,
 * a constraint, a limit, a decode failure, a handler's refusal), so repeating the same
 * operation can only fail the same way; false for the infrastructure (a dependency
 * unreachable, a lost connection, a serialization failure, a timeout) and for RJ_OK.
 * Consumers use it to decide between retrying a batch and dead-lettering one message.
 */
bool rj_status_is_data(rj_status_t status);

/* Always-on assertion: a broken invariant logs file and line, then aborts. */
#define RJ_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                          \
            rj__assert_fail(#cond, __FILE__, __LINE__);                                            \
    } while (0)
_Noreturn void rj__assert_fail(const char *expr, const char *file, int line);

/** A growable byte buffer, always NUL-terminated. Caller-owned storage: _init/_deinit. */
typedef struct rj_buf {
    char *data; /* NUL-terminated contents; NULL until the first append */
    size_t len; /* bytes used, excluding the terminator */
    size_t cap; /* bytes allocated */
} rj_buf_t;

void rj_buf_init(rj_buf_t *b);
void rj_buf_deinit(rj_buf_t *b);
void rj_buf_reset(rj_buf_t *b);
void rj_buf_append(rj_buf_t *b, const void *p, size_t n);
void rj_buf_puts(rj_buf_t *b, const char *s);
void rj_buf_putc(rj_buf_t *b, char c);
void rj_buf_printf(rj_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Gives the buffer's string to the caller (free() it) and resets @p b. Never NULL. */
char *rj_buf_steal(rj_buf_t *b);

/** The value of the hexadecimal digit @p c (either case), or -1 when it is not one. */
static inline int
rj_hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/**
 * Decodes one UTF-8 sequence at @p p (at most @p n bytes). Returns its length and sets
 * *cp, or 0 for an invalid sequence (overlong forms, surrogates, beyond U+10FFFF), which
 * are also what jansson refuses.
 */
size_t rj_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp);

/** Appends the UTF-8 encoding of the code point @p c (at most U+10FFFF) to @p b. */
void rj_utf8_encode(rj_buf_t *b, uint32_t c);

/** Unpadded base64url (RFC 4648 section 5) of @p n bytes, as a new string. */
char *rj_b64url_encode(const void *in, size_t n);

/** True when each of the @p n bytes of @p s is a base64url digit. */
bool rj_b64url_valid(const char *s, size_t n);

/**
 * Decodes unpadded base64url. Returns a new buffer (free() it; NUL-terminated, for parsing
 * as text) with its length in @p out_len, or NULL when the text is not base64url or its
 * length cannot be the encoding of whole bytes (a remainder of 1). Any thread.
 */
unsigned char *rj_b64url_decode(const char *s, size_t n, size_t *out_len);

/* UUIDs as 36-char lowercase strings plus NUL. */
#define RJ_UUID_STRLEN 37
/** A random (v4) UUID from the kernel's CSPRNG. */
void rj_uuid_v4(char out[RJ_UUID_STRLEN]);
/**
 * A deterministic (v5-style, SHA-1) UUID of @p name within @p ns. Event ids are
 * derived from (request id, index) this way, so a replayed command yields the same ids.
 */
void rj_uuid_derive(char out[RJ_UUID_STRLEN], const char *ns, const char *name);

/** Wall clock in milliseconds since the epoch. */
int64_t rj_now_ms(void);
/** Monotonic clock in microseconds. */
int64_t rj_mono_us(void);
/** ISO-8601 UTC with milliseconds, "2021-05-12T08:41:13.792Z", into @p out (>= 25 bytes). */
void rj_iso8601_ms(int64_t ms, char out[32]);

/** FNV-1a 64-bit hash of @p n bytes. */
uint64_t rj_hash(const void *p, size_t n);

#endif
