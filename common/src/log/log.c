/*
 * log.c - the line logger described in log.h: text lines, or JSON objects (json_line),
 * each formatted into one stack buffer and written with one write(2).
 */
#include "log/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/core.h"

static char log_prefix[64] = "ramjet";
static char log_bracket[160] = "ramjet"; /* "<app prefix>:<prefix>", or the prefix alone */
static char log_app_prefix[64];
static rj_log_level_t log_level = RJ_LOG_INFO;
static char log_debug_modules[256]; /* ",kafka,pg," or ",all," */
static bool log_level_env;          /* RAMJET_LOG_LEVEL set the threshold */
static rj_log_sink_fn log_sink;     /* the application's logger, or NULL for stderr */
static rj_log_format_t log_format;  /* text or json */

#define LOG_LINE_MAX 4096 /* a line longer than this is cut */

bool
rj_log_parse_level(const char *s, rj_log_level_t *out)
{
    static const char *names[] = {"debug", "info", "warn", "error", "fatal"};
    for (int i = 0; i < 5; i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (rj_log_level_t)i;
            return true;
        }
    }
    return false;
}

static void
bracket_update(void)
{
    if (log_app_prefix[0] != '\0')
        snprintf(log_bracket, sizeof log_bracket, "%s:%s", log_app_prefix, log_prefix);
    else
        snprintf(log_bracket, sizeof log_bracket, "%s", log_prefix);
}

void
rj_log_init(const char *prefix)
{
    snprintf(log_prefix, sizeof log_prefix, "%s", prefix);
    bracket_update();
    const char *lvl = getenv("RAMJET_LOG_LEVEL");
    if (lvl != NULL && *lvl != '\0')
        log_level_env = rj_log_parse_level(lvl, &log_level);
    const char *fmt = getenv("RAMJET_LOG_FORMAT");
    if (fmt != NULL && *fmt != '\0')
        rj_log_parse_format(fmt, &log_format);
    const char *dbg = getenv("RAMJET_LOG_DEBUG");
    if (dbg != NULL && *dbg != '\0')
        snprintf(log_debug_modules, sizeof log_debug_modules, ",%s,", dbg);
}

bool
rj_log_parse_format(const char *s, rj_log_format_t *out)
{
    if (strcasecmp(s, "text") == 0)
        *out = RJ_LOG_FORMAT_TEXT;
    else if (strcasecmp(s, "json") == 0)
        *out = RJ_LOG_FORMAT_JSON;
    else
        return false;
    return true;
}

void
rj_log_set_format(rj_log_format_t format)
{
    log_format = format;
}

void
rj_log_set_level(rj_log_level_t level)
{
    log_level = level;
}

void
rj_log_set_app_prefix(const char *prefix)
{
    snprintf(log_app_prefix, sizeof log_app_prefix, "%s", prefix != NULL ? prefix : "");
    bracket_update();
}

bool
rj_log_level_from_env(void)
{
    return log_level_env;
}

void
rj_log_set_sink(rj_log_sink_fn fn)
{
    log_sink = fn;
}

bool
rj_log_enabled(rj_log_level_t level, const char *module)
{
    if (level != RJ_LOG_DEBUG)
        return level >= log_level;
    if (log_level == RJ_LOG_DEBUG)
        return true;
    if (log_debug_modules[0] == '\0')
        return false;
    if (strstr(log_debug_modules, ",all,") != NULL)
        return true;
    char needle[80];
    snprintf(needle, sizeof needle, ",%s,", module);
    return strstr(log_debug_modules, needle) != NULL;
}

/* ---- JSON lines ---------------------------------------------------------------------- */

/* A bounded output buffer: what does not fit is dropped, and the line ends cut. */
typedef struct out {
    char *p;
    size_t len, cap;
} out_t;

static void
out_put(out_t *o, const char *s, size_t n)
{
    if (n > o->cap - o->len)
        n = o->cap - o->len;
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

/* Length of the valid UTF-8 sequence at @p s (at most @p n bytes), or 0 when invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
    size_t len = s[0] < 0x80             ? 1
                 : (s[0] & 0xE0) == 0xC0 ? 2
                 : (s[0] & 0xF0) == 0xE0 ? 3
                 : (s[0] & 0xF8) == 0xF0 ? 4
                                         : 0;
    if (len == 0 || len > n || (len == 2 && s[0] < 0xC2))
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((len == 3 && s[0] == 0xE0 && s[1] < 0xA0) || (len == 3 && s[0] == 0xED && s[1] >= 0xA0) ||
        (len == 4 && s[0] == 0xF0 && s[1] < 0x90) ||
        (len == 4 && (s[0] > 0xF4 || (s[0] == 0xF4 && s[1] >= 0x90))))
        return 0;
    return len;
}

/*
 * Appends @p n bytes of @p s as a JSON string, quotes included; with @p unescape, a
 * backslash takes the next byte literally (a "quoted" value of a message).
 */
static void
out_string(out_t *o, const char *s, size_t n, bool unescape)
{
    out_put(o, "\"", 1);
    for (size_t i = 0; i < n;) {
        if (unescape && s[i] == '\\' && i + 1 < n)
            i++;
        unsigned char c = (unsigned char)s[i];
        size_t len = utf8_len((const unsigned char *)s + i, n - i);
        char esc[8];
        if (len == 0) {
            out_put(o, "\\ufffd", 6); /* not UTF-8: replaced, so the line parses */
            len = 1;
        } else if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            out_put(o, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            out_put(o, esc, 6);
        } else {
            out_put(o, s + i, len);
        }
        i += len;
    }
    out_put(o, "\"", 1);
}

static bool
is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
}

/* One word of a message: a key=value pair when klen > 0, else a plain word. */
typedef struct word {
    const char *key, *val;
    size_t klen, vlen;
    bool quoted; /* val was "quoted" (backslash escapes inside) */
} word_t;

/*
 * Reads the word at @p s into @p w: `key=value` with the value bare up to the next space
 * or "quoted" with backslash escapes, or a plain word. Returns where the next one starts.
 */
static const char *
word(const char *s, word_t *w)
{
    const char *k = s;
    while (is_key_char(*s))
        s++;
    *w = (word_t){0};
    if (s > k && *s == '=') {
        size_t klen = (size_t)(s - k);
        bool quoted = *++s == '"';
        const char *v = s + quoted;
        s = v;
        if (quoted) {
            while (*s != '\0' && *s != '"')
                s += s[0] == '\\' && s[1] != '\0' ? 2 : 1;
        } else {
            while (*s != '\0' && *s != ' ')
                s++;
        }
        const char *vend = s;
        if (quoted && *s == '"')
            s++;
        if (*s == '\0' || *s == ' ')
            *w = (word_t){.key = k, .klen = klen, .val = v, .vlen = (size_t)(vend - v),
                          .quoted = quoted};
    }
    while (*s != '\0' && *s != ' ')
        s++;
    while (*s == ' ')
        s++;
    return s;
}

/* Appends the key of pair @p w: "req" as "request_id"; a key the line itself uses gets a
   leading "_". */
static void
out_key(out_t *o, const word_t *w)
{
    static const char *reserved[] = {"time", "level", "daemon", "app", "module", "msg"};
    if (w->klen == 3 && memcmp(w->key, "req", 3) == 0) {
        out_string(o, "request_id", 10, false);
        return;
    }
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        if (strlen(reserved[i]) == w->klen && memcmp(w->key, reserved[i], w->klen) == 0) {
            char k[16];
            int n = snprintf(k, sizeof k, "_%s", reserved[i]);
            out_string(o, k, (size_t)n, false);
            return;
        }
    }
    out_string(o, w->key, w->klen, false);
}

/* Appends "msg" (the text before the message's trailing key=value pairs), then each pair. */
static void
out_message(out_t *o, const char *msg)
{
    const char *tail = msg; /* where the trailing pairs start: after the last plain word */
    word_t w;
    for (const char *s = msg; *s != '\0';) {
        s = word(s, &w);
        if (w.klen == 0)
            tail = s;
    }
    size_t mlen = (size_t)(tail - msg);
    while (mlen > 0 && msg[mlen - 1] == ' ')
        mlen--;
    out_put(o, ",\"msg\":", 7);
    out_string(o, msg, mlen, false);
    for (const char *s = tail; *s != '\0';) {
        s = word(s, &w);
        out_put(o, ",", 1);
        out_key(o, &w);
        out_put(o, ":", 1);
        out_string(o, w.val, w.vlen, w.quoted);
    }
}

/* Appends a field "name":"value". */
static void
out_field(out_t *o, const char *name, const char *value)
{
    out_put(o, ",", 1);
    out_string(o, name, strlen(name), false);
    out_put(o, ":", 1);
    out_string(o, value, strlen(value), false);
}

/*
 * Writes @p msg as one JSON line into @p line (capacity @p cap, at least 128) and returns
 * its length. A line that does not fit is cut at a character boundary, its last string
 * closed, and marked "cut":true, so it still parses.
 */
static size_t
json_line(char *line, size_t cap, rj_log_level_t level, const char *module, const char *msg)
{
    static const char *names[] = {"debug", "info", "warn", "error", "fatal"};
    char ts[32];
    rj_iso8601_ms(rj_now_ms(), ts);
    out_t o = {.p = line, .cap = cap - 2}; /* "}\n" always fits */
    out_put(&o, "{\"time\":", 8);
    out_string(&o, ts, strlen(ts), false);
    out_field(&o, "level", names[level]);
    out_field(&o, "daemon", log_prefix);
    if (log_app_prefix[0] != '\0')
        out_field(&o, "app", log_app_prefix);
    out_field(&o, "module", module);
    out_message(&o, msg);
    if (o.len == o.cap) {
        o.len = o.cap - 16;
        while (o.len > 0 && ((unsigned char)line[o.len] & 0xC0) == 0x80)
            o.len--; /* back to the start of a UTF-8 sequence */
        while (o.len > 0 && line[o.len - 1] == '\\')
            o.len--; /* not in the middle of an escape */
        out_put(&o, "\",\"cut\":true", 12);
    }
    line[o.len++] = '}';
    line[o.len++] = '\n';
    return o.len;
}

void
rj__logv(rj_log_level_t level, const char *module, const char *fmt, va_list ap)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR", "FATAL"};
    char line[LOG_LINE_MAX];
    if (log_sink != NULL || log_format == RJ_LOG_FORMAT_JSON) {
        char msg[LOG_LINE_MAX];
        if (vsnprintf(msg, sizeof msg, fmt, ap) < 0)
            return;
        if (log_sink != NULL) {
            log_sink(level, log_bracket, module, msg);
            return;
        }
        size_t len = json_line(line, sizeof line, level, module, msg);
        ssize_t w = write(STDERR_FILENO, line, len);
        (void)w;
        return;
    }
    char ts[32];
    rj_iso8601_ms(rj_now_ms(), ts);
    int n = snprintf(line, sizeof line, "%s %s [%s]|%s: ", ts, names[level], log_bracket, module);
    if (n < 0)
        return;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    /* one write(2) per line keeps lines whole across threads and processes */
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void
rj__log(rj_log_level_t level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rj__logv(level, module, fmt, ap);
    va_end(ap);
}
