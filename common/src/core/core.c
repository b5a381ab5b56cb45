/*
 * core.c - aborting allocators, buffers, ids, clocks.
 */
#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

_Noreturn void
rj__assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "[ramjet]|core: FATAL assertion failed: %s file=%s line=%d\n", expr, file,
            line);
    fflush(stderr);
    abort();
}

static _Noreturn void
oom(size_t n)
{
    fprintf(stderr, "[ramjet]|core: FATAL out of memory allocating %zu bytes\n", n);
    abort();
}

void *
rj_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *
rj_xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL)
        oom(count * n);
    return p;
}

void *
rj_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *
rj_xstrdup(const char *s)
{
    return rj_xstrndup(s, strlen(s));
}

char *
rj_xstrndup(const char *s, size_t n)
{
    char *p = rj_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
rj_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    return s;
}

void
rj_core_init(void)
{
    /* jansson's own allocations abort on exhaustion too, so a NULL from json_*
     * means invalid input everywhere in Ramjet. */
    json_set_alloc_funcs(rj_xmalloc, free);
    /* Object key order is the insertion order (jansson >= 2.8 keeps it); seed
     * the hash so adversarial keys cannot degrade objects to lists. */
    json_object_seed(0);
}

void
rj_buf_init(rj_buf_t *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void
rj_buf_deinit(rj_buf_t *b)
{
    free(b->data);
    rj_buf_init(b);
}

void
rj_buf_reset(rj_buf_t *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

static void
buf_reserve(rj_buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = rj_xrealloc(b->data, cap);
    b->cap = cap;
}

void
rj_buf_append(rj_buf_t *b, const void *p, size_t n)
{
    buf_reserve(b, n);
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
rj_buf_puts(rj_buf_t *b, const char *s)
{
    rj_buf_append(b, s, strlen(s));
}

void
rj_buf_putc(rj_buf_t *b, char c)
{
    rj_buf_append(b, &c, 1);
}

void
rj_buf_printf(rj_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof small) {
        rj_buf_append(b, small, (size_t)n);
    } else {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

char *
rj_buf_steal(rj_buf_t *b)
{
    if (b->data == NULL)
        return rj_xstrdup("");
    char *s = b->data;
    rj_buf_init(b);
    return s;
}

static void
uuid_format(char out[RJ_UUID_STRLEN], const unsigned char u[16])
{
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[u[i] >> 4];
        out[o++] = hex[u[i] & 15];
    }
    out[o] = '\0';
}

void
rj_uuid_v4(char out[RJ_UUID_STRLEN])
{
    unsigned char u[16];
    size_t got = 0;
    while (got < sizeof u) {
        ssize_t n = getrandom(u + got, sizeof u - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            RJ_ASSERT(!"getrandom failed");
        }
        got += (size_t)n;
    }
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    uuid_format(out, u);
}

void
rj_uuid_derive(char out[RJ_UUID_STRLEN], const char *ns, const char *name)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    RJ_ASSERT(c != NULL);
    EVP_DigestInit_ex(c, EVP_sha1(), NULL);
    EVP_DigestUpdate(c, ns, strlen(ns));
    EVP_DigestUpdate(c, "", 1);
    EVP_DigestUpdate(c, name, strlen(name));
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    md[6] = (md[6] & 0x0f) | 0x50;
    md[8] = (md[8] & 0x3f) | 0x80;
    uuid_format(out, md);
}

int64_t
rj_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
rj_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
rj_iso8601_ms(int64_t ms, char out[32])
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* the widths are bounded by struct tm's ranges; the cast keeps gcc's truncation check quiet */
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, (int)(ms % 1000));
}

uint64_t
rj_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* ---- UTF-8 ---- */

size_t
rj_utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    size_t len;
    uint32_t c, min;
    if ((p[0] & 0xe0) == 0xc0) {
        len = 2, c = p[0] & 0x1f, min = 0x80;
    } else if ((p[0] & 0xf0) == 0xe0) {
        len = 3, c = p[0] & 0x0f, min = 0x800;
    } else if ((p[0] & 0xf8) == 0xf0) {
        len = 4, c = p[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

void
rj_utf8_encode(rj_buf_t *b, uint32_t c)
{
    char s[4];
    size_t n;
    if (c < 0x80) {
        s[0] = (char)c, n = 1;
    } else if (c < 0x800) {
        s[0] = (char)(0xc0 | (c >> 6)), s[1] = (char)(0x80 | (c & 0x3f)), n = 2;
    } else if (c < 0x10000) {
        s[0] = (char)(0xe0 | (c >> 12)), s[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        s[2] = (char)(0x80 | (c & 0x3f)), n = 3;
    } else {
        s[0] = (char)(0xf0 | (c >> 18)), s[1] = (char)(0x80 | ((c >> 12) & 0x3f));
        s[2] = (char)(0x80 | ((c >> 6) & 0x3f)), s[3] = (char)(0x80 | (c & 0x3f)), n = 4;
    }
    rj_buf_append(b, s, n);
}

/* ---- base64url ----------------------------------------------------------------------- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The value of base64url digit @p c, or -1. */
static int
b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

char *
rj_b64url_encode(const void *in, size_t n)
{
    const unsigned char *p = in;
    char *out = rj_xmalloc((n + 2) / 3 * 4 + 1);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url_alphabet[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = b64url_alphabet[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return out;
}

bool
rj_b64url_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b64url_value((unsigned char)s[i]) < 0)
            return false;
    return true;
}

unsigned char *
rj_b64url_decode(const char *s, size_t n, size_t *out_len)
{
    if (n % 4 == 1 || !rj_b64url_valid(s, n))
        return NULL;
    unsigned char *out = rj_xmalloc(n / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 6) | (uint32_t)b64url_value((unsigned char)s[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}
