/*
 * graphql/lexer.c - the GraphQL lexer (spec 2.1, October 2021) and the small pieces every
 * other file of the engine needs first: the arena and GraphQL error objects.
 *
 * The lexer follows graphql-js 16 closely, messages included ("Unexpected character: ...",
 * "Invalid number, expected digit but got: ...", "Unterminated string."), because clients
 * and our tests compare them. Strings are decoded here, escapes and block-string
 * indentation included, so the parser only ever sees final values.
 *
 * Columns are counted in UTF-16 code units, as graphql-js counts them (JavaScript string
 * indices) and as GraphiQL and other editors expect when they highlight an error: a byte
 * count would drift right after every non-ASCII character on the line. Counting is
 * incremental per line, so long single-line documents stay linear.
 *
 * Source text is taken to be UTF-8; invalid sequences inside strings are rejected, and
 * comments are skipped without looking at their bytes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_int.h"

/* ---- arena ------------------------------------------------------------------------------ */

#define RJ__GQL_CHUNK_MIN 8192

struct rj__gql_chunk {
    rj__gql_chunk_t *next; /* older chunk */
    size_t used;           /* bytes handed out */
    size_t cap;            /* bytes available in data */
    _Alignas(16) unsigned char data[];
};

void
rj__gql_arena_init(rj__gql_arena_t *a)
{
    a->head = NULL;
}

void
rj__gql_arena_deinit(rj__gql_arena_t *a)
{
    rj__gql_chunk_t *c = a->head;
    while (c != NULL) {
        rj__gql_chunk_t *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}

void *
rj__gql_arena_alloc(rj__gql_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    rj__gql_chunk_t *c = a->head;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > RJ__GQL_CHUNK_MIN ? n : RJ__GQL_CHUNK_MIN;
        c = rj_xmalloc(sizeof(*c) + cap);
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *
rj__gql_arena_strndup(rj__gql_arena_t *a, const char *s, size_t n)
{
    char *p = rj__gql_arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ---- error objects ---------------------------------------------------------------------- */

void
rj__gql_error_add_loc(json_t *error, rj_gql_loc_t loc)
{
    json_t *locs = json_object_get(error, "locations");
    if (locs == NULL) {
        locs = json_array();
        json_object_set_new(error, "locations", locs);
    }
    json_array_append_new(locs, json_pack("{s:i,s:i}", "line", (json_int_t)loc.line, "column",
                                          (json_int_t)loc.column));
}

json_t *
rj__gql_error_new(const rj_gql_loc_t *loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = NULL;
    if (vasprintf(&msg, fmt, ap) < 0)
        RJ_ASSERT(!"out of memory");
    va_end(ap);
    json_t *e = json_object();
    json_t *m = json_string(msg);
    if (m == NULL) {
        /*
         * Messages quote the source ("Invalid character escape sequence: ..."), which need
         * not be valid UTF-8; a JSON string must be. Each invalid byte becomes U+FFFD, as
         * a JavaScript decoder would have done to the request body before graphql-js saw it.
         */
        rj_buf_t b;
        rj_buf_init(&b);
        size_t n = strlen(msg);
        for (size_t i = 0; i < n;) {
            uint32_t cp;
            size_t k = rj_utf8_decode((const unsigned char *)msg + i, n - i, &cp);
            if (k == 0) {
                rj_buf_puts(&b, "\xEF\xBF\xBD");
                i++;
            } else {
                rj_buf_append(&b, msg + i, k);
                i += k;
            }
        }
        m = json_string(b.data);
        rj_buf_deinit(&b);
        RJ_ASSERT(m != NULL);
    }
    json_object_set_new(e, "message", m);
    free(msg);
    if (loc != NULL)
        rj__gql_error_add_loc(e, *loc);
    return e;
}

/* ---- lexer ------------------------------------------------------------------------------ */

void
rj__gql_lexer_init(rj__gql_lexer_t *lx, const char *src, size_t len, rj__gql_arena_t *a)
{
    memset(lx, 0, sizeof(*lx));
    lx->src = src;
    lx->len = len;
    lx->line = 1;
    lx->arena = a;
    lx->tok.kind = RJ__TOK_SOF;
    lx->tok.loc = (rj_gql_loc_t){1, 1};
}

static const char *const tok_kind_desc[] = {
    [RJ__TOK_SOF] = "<SOF>",        [RJ__TOK_EOF] = "<EOF>",       [RJ__TOK_BANG] = "\"!\"",
    [RJ__TOK_DOLLAR] = "\"$\"",     [RJ__TOK_AMP] = "\"&\"",       [RJ__TOK_PAREN_L] = "\"(\"",
    [RJ__TOK_PAREN_R] = "\")\"",    [RJ__TOK_SPREAD] = "\"...\"",  [RJ__TOK_COLON] = "\":\"",
    [RJ__TOK_EQUALS] = "\"=\"",     [RJ__TOK_AT] = "\"@\"",        [RJ__TOK_BRACKET_L] = "\"[\"",
    [RJ__TOK_BRACKET_R] = "\"]\"",  [RJ__TOK_BRACE_L] = "\"{\"",   [RJ__TOK_PIPE] = "\"|\"",
    [RJ__TOK_BRACE_R] = "\"}\"",    [RJ__TOK_NAME] = "Name",       [RJ__TOK_INT] = "Int",
    [RJ__TOK_FLOAT] = "Float",      [RJ__TOK_STRING] = "String",
    [RJ__TOK_BLOCK_STRING] = "BlockString",
};

const char *
rj__gql_tok_kind_desc(rj__gql_tok_kind_t k)
{
    return tok_kind_desc[k];
}

void
rj__gql_token_desc(const rj__gql_token_t *t, char *out, size_t n)
{
    if (t->kind >= RJ__TOK_NAME)
        snprintf(out, n, "%s \"%.*s\"", tok_kind_desc[t->kind], (int)(t->len > 64 ? 64 : t->len),
                 t->value);
    else
        snprintf(out, n, "%s", tok_kind_desc[t->kind]);
}

/* graphql-js printCodePointAt: `"x"` for printable ASCII, U+XXXX otherwise, <EOF> at the end. */
static void
print_code_point_at(const rj__gql_lexer_t *lx, size_t pos, char *out, size_t n)
{
    if (pos >= lx->len) {
        snprintf(out, n, "<EOF>");
        return;
    }
    unsigned char c = (unsigned char)lx->src[pos];
    if (c >= 0x20 && c <= 0x7e) {
        if (c == '"' || c == '\\')
            snprintf(out, n, "\"\\%c\"", c);
        else
            snprintf(out, n, "\"%c\"", c);
        return;
    }
    uint32_t cp;
    if (rj_utf8_decode((const unsigned char *)lx->src + pos, lx->len - pos, &cp) == 0)
        cp = c;
    snprintf(out, n, "U+%04X", (unsigned)cp);
}

/*
 * The 1-based column of byte @p pos on the current line in UTF-16 code units: one per
 * UTF-8 lead byte, two for four-byte sequences (a surrogate pair in JavaScript).
 * Continues from the last position counted when it can, since tokens only move forward.
 */
static uint32_t
column_at(rj__gql_lexer_t *lx, size_t pos)
{
    if (lx->col_line_start != lx->line_start || lx->col_pos > pos || lx->col_pos < lx->line_start) {
        lx->col_line_start = lx->line_start;
        lx->col_pos = lx->line_start;
        lx->col_units = 0;
    }
    for (size_t i = lx->col_pos; i < pos && i < lx->len; i++) {
        unsigned char b = (unsigned char)lx->src[i];
        if ((b & 0xC0) != 0x80)
            lx->col_units += b >= 0xF0 ? 2 : 1;
    }
    lx->col_pos = pos;
    return (uint32_t)(lx->col_units + 1);
}

static bool
fail_at(rj__gql_lexer_t *lx, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool
fail_at(rj__gql_lexer_t *lx, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lx->msg, sizeof(lx->msg), fmt, ap);
    va_end(ap);
    lx->err_loc.line = lx->line;
    lx->err_loc.column = column_at(lx, pos);
    return false;
}

static bool
fail_code_point(rj__gql_lexer_t *lx, size_t pos, const char *prefix)
{
    char cp[32];
    print_code_point_at(lx, pos, cp, sizeof(cp));
    return fail_at(lx, pos, "%s%s.", prefix, cp);
}

static bool
is_name_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_name_continue(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int
peek_at(const rj__gql_lexer_t *lx, size_t pos)
{
    return pos < lx->len ? (unsigned char)lx->src[pos] : -1;
}

static void
set_token(rj__gql_lexer_t *lx, rj__gql_tok_kind_t kind, size_t start, size_t end)
{
    lx->tok.kind = kind;
    lx->tok.start = start;
    lx->tok.end = end;
    lx->tok.loc.line = lx->line;
    lx->tok.loc.column = column_at(lx, start);
    lx->tok.value = lx->src + start;
    lx->tok.len = end - start;
    lx->pos = end;
}

/* readDigits: at least one digit; returns the position after them, or SIZE_MAX on error. */
static size_t
read_digits(rj__gql_lexer_t *lx, size_t pos)
{
    if (!is_digit(peek_at(lx, pos))) {
        fail_code_point(lx, pos, "Invalid number, expected digit but got: ");
        return SIZE_MAX;
    }
    while (is_digit(peek_at(lx, pos)))
        pos++;
    return pos;
}

static bool
read_number(rj__gql_lexer_t *lx, size_t start)
{
    size_t pos = start;
    bool is_float = false;
    if (peek_at(lx, pos) == '-')
        pos++;
    if (peek_at(lx, pos) == '0') {
        pos++;
        if (is_digit(peek_at(lx, pos)))
            return fail_code_point(lx, pos, "Invalid number, unexpected digit after 0: ");
    } else if ((pos = read_digits(lx, pos)) == SIZE_MAX) {
        return false;
    }
    if (peek_at(lx, pos) == '.') {
        is_float = true;
        if ((pos = read_digits(lx, pos + 1)) == SIZE_MAX)
            return false;
    }
    if (peek_at(lx, pos) == 'e' || peek_at(lx, pos) == 'E') {
        is_float = true;
        pos++;
        if (peek_at(lx, pos) == '+' || peek_at(lx, pos) == '-')
            pos++;
        if ((pos = read_digits(lx, pos)) == SIZE_MAX)
            return false;
    }
    if (peek_at(lx, pos) == '.' || is_name_start(peek_at(lx, pos)))
        return fail_code_point(lx, pos, "Invalid number, expected digit but got: ");
    set_token(lx, is_float ? RJ__TOK_FLOAT : RJ__TOK_INT, start, pos);
    return true;
}

/* Four hex digits at pos, or -1. */
static int32_t
read_hex4(const rj__gql_lexer_t *lx, size_t pos)
{
    int32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        int h = rj_hex_digit(peek_at(lx, pos + i));
        if (h < 0)
            return -1;
        v = (v << 4) | h;
    }
    return v;
}

static bool
fail_escape(rj__gql_lexer_t *lx, size_t pos, size_t n, const char *what)
{
    if (pos + n > lx->len)
        n = lx->len - pos;
    return fail_at(lx, pos, "%s: \"%.*s\".", what, (int)n, lx->src + pos);
}

/*
 * Decodes a \u escape at pos (pointing at the backslash) into @p b. Handles the braced
 * form \u{1F600} and surrogate pairs written as two fixed-width escapes. Returns the
 * position after the escape, or SIZE_MAX on error.
 */
static size_t
read_unicode_escape(rj__gql_lexer_t *lx, size_t pos, rj_buf_t *b)
{
    if (peek_at(lx, pos + 2) == '{') {
        uint32_t v = 0;
        size_t size = 3;
        while (size < 12) {
            int c = peek_at(lx, pos + size++);
            if (c == '}') {
                if (size < 5 || (v >= 0xd800 && v <= 0xdfff))
                    break;
                rj_utf8_encode(b, v);
                return pos + size;
            }
            int h = rj_hex_digit(c);
            if (h < 0)
                break;
            v = (v << 4) | (uint32_t)h;
            if (v > 0x10ffff)
                break;
        }
        fail_escape(lx, pos, size, "Invalid Unicode escape sequence");
        return SIZE_MAX;
    }
    int32_t v = read_hex4(lx, pos + 2);
    if (v >= 0 && (v < 0xd800 || v > 0xdfff)) {
        rj_utf8_encode(b, (uint32_t)v);
        return pos + 6;
    }
    /* A leading surrogate must be followed by an escaped trailing one. */
    if (v >= 0xd800 && v <= 0xdbff && peek_at(lx, pos + 6) == '\\' &&
        peek_at(lx, pos + 7) == 'u') {
        int32_t t = read_hex4(lx, pos + 8);
        if (t >= 0xdc00 && t <= 0xdfff) {
            rj_utf8_encode(b, 0x10000 + (((uint32_t)v - 0xd800) << 10) + ((uint32_t)t - 0xdc00));
            return pos + 12;
        }
    }
    fail_escape(lx, pos, 6, "Invalid Unicode escape sequence");
    return SIZE_MAX;
}

static bool
read_string(rj__gql_lexer_t *lx, size_t start)
{
    rj_buf_t b;
    rj_buf_init(&b);
    size_t pos = start + 1, chunk = pos;
    while (pos < lx->len) {
        unsigned char c = (unsigned char)lx->src[pos];
        if (c == '"') {
            rj_buf_append(&b, lx->src + chunk, pos - chunk);
            set_token(lx, RJ__TOK_STRING, start, pos + 1);
            lx->tok.value = rj__gql_arena_strndup(lx->arena, b.data ? b.data : "", b.len);
            lx->tok.len = b.len;
            rj_buf_deinit(&b);
            return true;
        }
        if (c == '\\') {
            rj_buf_append(&b, lx->src + chunk, pos - chunk);
            int e = peek_at(lx, pos + 1);
            const char *simple = NULL;
            switch (e) {
            case '"': simple = "\""; break;
            case '\\': simple = "\\"; break;
            case '/': simple = "/"; break;
            case 'b': simple = "\b"; break;
            case 'f': simple = "\f"; break;
            case 'n': simple = "\n"; break;
            case 'r': simple = "\r"; break;
            case 't': simple = "\t"; break;
            default: break;
            }
            if (simple != NULL) {
                rj_buf_putc(&b, simple[0]);
                pos += 2;
            } else if (e == 'u') {
                pos = read_unicode_escape(lx, pos, &b);
                if (pos == SIZE_MAX)
                    goto fail;
            } else {
                fail_escape(lx, pos, 2, "Invalid character escape sequence");
                goto fail;
            }
            chunk = pos;
            continue;
        }
        if (c == '\n' || c == '\r')
            break;
        uint32_t cp;
        size_t n = rj_utf8_decode((const unsigned char *)lx->src + pos, lx->len - pos, &cp);
        if (n == 0) {
            fail_code_point(lx, pos, "Invalid character within String: ");
            goto fail;
        }
        pos += n;
    }
    fail_at(lx, pos, "Unterminated string.");
fail:
    rj_buf_deinit(&b);
    return false;
}

/* Spaces and tabs at the start of a line (graphql-js leadingWhitespace). */
static size_t
leading_ws(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

/*
 * The block string's value from its raw lines (spec BlockStringValue, graphql-js
 * dedentBlockStringLines): common indentation of all lines but the first is removed, and
 * leading and trailing blank lines are dropped.
 */
static void
dedent_block_lines(rj_buf_t *out, rj_buf_t *lines, size_t nlines)
{
    size_t common = SIZE_MAX, first = SIZE_MAX, last = 0;
    bool any = false;
    for (size_t i = 0; i < nlines; i++) {
        size_t ind = leading_ws(lines[i].data ? lines[i].data : "", lines[i].len);
        if (ind == lines[i].len)
            continue;
        if (first == SIZE_MAX)
            first = i;
        last = i;
        any = true;
        if (i != 0 && ind < common)
            common = ind;
    }
    if (!any)
        return;
    for (size_t i = first; i <= last; i++) {
        const char *s = lines[i].data ? lines[i].data : "";
        size_t n = lines[i].len, skip = (i == 0 || common == SIZE_MAX) ? 0 : common;
        if (skip > n)
            skip = n;
        if (i != first)
            rj_buf_putc(out, '\n');
        rj_buf_append(out, s + skip, n - skip);
    }
}

static bool
read_block_string(rj__gql_lexer_t *lx, size_t start)
{
    uint32_t line = lx->line;
    size_t line_start = lx->line_start;
    size_t pos = start + 3, chunk = pos;
    size_t nlines = 0, cap = 8;
    rj_buf_t *lines = rj_xcalloc(cap, sizeof(*lines));
    rj_buf_init(&lines[0]);
    bool ok = false;
    while (pos < lx->len) {
        unsigned char c = (unsigned char)lx->src[pos];
        if (c == '"' && peek_at(lx, pos + 1) == '"' && peek_at(lx, pos + 2) == '"') {
            rj_buf_append(&lines[nlines], lx->src + chunk, pos - chunk);
            nlines++;
            rj_buf_t out;
            rj_buf_init(&out);
            dedent_block_lines(&out, lines, nlines);
            /* set_token() takes the position from the first line; the lexer then goes on
             * from the last one. */
            set_token(lx, RJ__TOK_BLOCK_STRING, start, pos + 3);
            lx->tok.value = rj__gql_arena_strndup(lx->arena, out.data ? out.data : "", out.len);
            lx->tok.len = out.len;
            rj_buf_deinit(&out);
            /* The token starts where it started; the lexer continues on the last line. */
            lx->line = line;
            lx->line_start = line_start;
            ok = true;
            goto done;
        }
        if (c == '\\' && peek_at(lx, pos + 1) == '"' && peek_at(lx, pos + 2) == '"' &&
            peek_at(lx, pos + 3) == '"') {
            rj_buf_append(&lines[nlines], lx->src + chunk, pos - chunk);
            chunk = pos + 1; /* keep the three quotes, drop the backslash */
            pos += 4;
            continue;
        }
        if (c == '\n' || c == '\r') {
            rj_buf_append(&lines[nlines], lx->src + chunk, pos - chunk);
            pos += (c == '\r' && peek_at(lx, pos + 1) == '\n') ? 2 : 1;
            if (++nlines == cap) {
                lines = rj_xrealloc(lines, (cap *= 2) * sizeof(*lines));
            }
            rj_buf_init(&lines[nlines]);
            chunk = pos;
            line++;
            line_start = pos;
            continue;
        }
        uint32_t cp;
        size_t n = rj_utf8_decode((const unsigned char *)lx->src + pos, lx->len - pos, &cp);
        if (n == 0) {
            lx->line = line;
            lx->line_start = line_start;
            fail_code_point(lx, pos, "Invalid character within String: ");
            nlines++;
            goto done;
        }
        pos += n;
    }
    lx->line = line;
    lx->line_start = line_start;
    fail_at(lx, pos, "Unterminated string.");
    nlines++;
done:
    for (size_t i = 0; i < nlines && i < cap; i++)
        rj_buf_deinit(&lines[i]);
    free(lines);
    return ok;
}

bool
rj__gql_lexer_advance(rj__gql_lexer_t *lx)
{
    size_t pos = lx->pos;
    while (pos < lx->len) {
        unsigned char c = (unsigned char)lx->src[pos];
        switch (c) {
        case ' ':
        case '\t':
        case ',':
            pos++;
            continue;
        case 0xef: /* U+FEFF, the byte order mark, is ignored like whitespace */
            if (peek_at(lx, pos + 1) == 0xbb && peek_at(lx, pos + 2) == 0xbf) {
                pos += 3;
                continue;
            }
            break;
        case '\n':
            pos++;
            lx->line++;
            lx->line_start = pos;
            continue;
        case '\r':
            pos += peek_at(lx, pos + 1) == '\n' ? 2 : 1;
            lx->line++;
            lx->line_start = pos;
            continue;
        case '#':
            while (pos < lx->len && lx->src[pos] != '\n' && lx->src[pos] != '\r')
                pos++;
            continue;
        default:
            break;
        }
        lx->ntokens++;
        rj__gql_tok_kind_t k;
        switch (c) {
        case '!': k = RJ__TOK_BANG; break;
        case '$': k = RJ__TOK_DOLLAR; break;
        case '&': k = RJ__TOK_AMP; break;
        case '(': k = RJ__TOK_PAREN_L; break;
        case ')': k = RJ__TOK_PAREN_R; break;
        case ':': k = RJ__TOK_COLON; break;
        case '=': k = RJ__TOK_EQUALS; break;
        case '@': k = RJ__TOK_AT; break;
        case '[': k = RJ__TOK_BRACKET_L; break;
        case ']': k = RJ__TOK_BRACKET_R; break;
        case '{': k = RJ__TOK_BRACE_L; break;
        case '|': k = RJ__TOK_PIPE; break;
        case '}': k = RJ__TOK_BRACE_R; break;
        case '.':
            if (peek_at(lx, pos + 1) == '.' && peek_at(lx, pos + 2) == '.') {
                set_token(lx, RJ__TOK_SPREAD, pos, pos + 3);
                return true;
            }
            return fail_code_point(lx, pos, "Unexpected character: ");
        case '"':
            if (peek_at(lx, pos + 1) == '"' && peek_at(lx, pos + 2) == '"')
                return read_block_string(lx, pos);
            return read_string(lx, pos);
        default:
            if (is_digit(c) || c == '-')
                return read_number(lx, pos);
            if (is_name_start(c)) {
                size_t end = pos + 1;
                while (is_name_continue(peek_at(lx, end)))
                    end++;
                set_token(lx, RJ__TOK_NAME, pos, end);
                return true;
            }
            if (c == '\'')
                return fail_at(lx, pos,
                               "Unexpected single quote character ('), did you mean to use a "
                               "double quote (\")?");
            uint32_t cp;
            if (c >= 0x80 &&
                rj_utf8_decode((const unsigned char *)lx->src + pos, lx->len - pos, &cp) == 0)
                return fail_code_point(lx, pos, "Invalid character: ");
            return fail_code_point(lx, pos, "Unexpected character: ");
        }
        set_token(lx, k, pos, pos + 1);
        return true;
    }
    set_token(lx, RJ__TOK_EOF, lx->len, lx->len);
    return true;
}
