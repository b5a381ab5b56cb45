/*
 * graphql/value.c - printing and converting values: literals to text (graphql-js print),
 * literals to JSON, type references to "[CartItem!]!", strings and block strings, and
 * JSON values the way graphql-js's inspect() shows them in error messages.
 *
 * These are the formatting primitives the error messages depend on, kept in one place so
 * every message prints values identically. No schema knowledge lives here; coercion by
 * type is in coerce.c.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_int.h"

/* ---- type references ---------------------------------------------------------------------- */

static void
print_type_ref(rj_buf_t *b, const rj_gql_type_ref_t *ref)
{
    switch (ref->kind) {
    case RJ_GQL_TYPE_NAMED:
        rj_buf_puts(b, ref->name);
        break;
    case RJ_GQL_TYPE_LIST:
        rj_buf_putc(b, '[');
        print_type_ref(b, ref->of_type);
        rj_buf_putc(b, ']');
        break;
    case RJ_GQL_TYPE_NON_NULL:
        print_type_ref(b, ref->of_type);
        rj_buf_putc(b, '!');
        break;
    }
}

char *
rj_gql_type_ref_to_string(const rj_gql_type_ref_t *ref)
{
    rj_buf_t b;
    rj_buf_init(&b);
    print_type_ref(&b, ref);
    return rj_buf_steal(&b);
}

char *
rj_gql_value_to_string(const rj_gql_ast_value_t *value)
{
    rj_buf_t b;
    rj_buf_init(&b);
    rj__gql_print_value(&b, value);
    return rj_buf_steal(&b);
}

char *
rj_gql_string_quote(const char *s, size_t n)
{
    rj_buf_t b;
    rj_buf_init(&b);
    rj__gql_print_string(&b, s, n);
    return rj_buf_steal(&b);
}

const char *
rj_gql_type_ref_named(const rj_gql_type_ref_t *ref)
{
    while (ref->kind != RJ_GQL_TYPE_NAMED)
        ref = ref->of_type;
    return ref->name;
}

/* ---- strings ------------------------------------------------------------------------------ */

void
rj__gql_print_string(rj_buf_t *b, const char *s, size_t n)
{
    static const char *const short_escapes[32] = {
        ['\b'] = "\\b", ['\t'] = "\\t", ['\n'] = "\\n", ['\f'] = "\\f", ['\r'] = "\\r"};
    rj_buf_putc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20) {
            if (short_escapes[c] != NULL)
                rj_buf_puts(b, short_escapes[c]);
            else
                rj_buf_printf(b, "\\u%04X", c);
        } else if (c == '"' || c == '\\') {
            rj_buf_putc(b, '\\');
            rj_buf_putc(b, (char)c);
        } else if (c == 0x7f) {
            rj_buf_puts(b, "\\u007F");
        } else if (c == 0xc2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
                   (unsigned char)s[i + 1] <= 0x9f) {
            /* C1 control characters, U+0080..U+009F, escaped like graphql-js does */
            rj_buf_printf(b, "\\u%04X", (unsigned char)s[++i]);
        } else {
            rj_buf_putc(b, (char)c);
        }
    }
    rj_buf_putc(b, '"');
}

static bool
is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* graphql-js 16 printBlockString(value) with default options. */
void
rj__gql_print_block_string(rj_buf_t *b, const char *s, size_t n)
{
    rj_buf_t esc;
    rj_buf_init(&esc);
    for (size_t i = 0; i < n; i++) {
        if (i + 2 < n && s[i] == '"' && s[i + 1] == '"' && s[i + 2] == '"') {
            rj_buf_puts(&esc, "\\\"\"\"");
            i += 2;
        } else {
            rj_buf_putc(&esc, s[i]);
        }
    }
    const char *e = esc.data ? esc.data : "";
    size_t elen = esc.len;
    bool single_line = memchr(e, '\n', elen) == NULL && memchr(e, '\r', elen) == NULL;
    /* Every line after the first empty or starting with whitespace forces a leading newline,
     * so the dedent on re-parse cannot eat meaningful indentation. */
    bool force_leading = false;
    if (!single_line) {
        force_leading = true;
        const char *nl = strpbrk(e, "\r\n");
        while (nl != NULL) {
            const char *line = nl + 1;
            if (nl[0] == '\r' && nl[1] == '\n')
                line++;
            if (*line != '\0' && *line != '\n' && *line != '\r' && !is_ws(*line))
                force_leading = false;
            nl = strpbrk(line, "\r\n");
        }
    }
    bool trailing_triple = elen >= 4 && memcmp(e + elen - 4, "\\\"\"\"", 4) == 0;
    bool trailing_quote = n > 0 && s[n - 1] == '"' && !trailing_triple;
    bool trailing_slash = n > 0 && s[n - 1] == '\\';
    bool force_trailing = trailing_quote || trailing_slash;
    bool multi = !single_line || n > 70 || force_trailing || force_leading || trailing_triple;
    bool skip_leading = single_line && n > 0 && is_ws(s[0]);
    rj_buf_puts(b, "\"\"\"");
    if ((multi && !skip_leading) || force_leading)
        rj_buf_putc(b, '\n');
    rj_buf_append(b, e, elen);
    if (multi || force_trailing)
        rj_buf_putc(b, '\n');
    rj_buf_puts(b, "\"\"\"");
    rj_buf_deinit(&esc);
}

/* ---- literals ----------------------------------------------------------------------------- */

void
rj__gql_print_value(rj_buf_t *b, const rj_gql_ast_value_t *v)
{
    switch (v->kind) {
    case RJ_GQL_VALUE_VARIABLE:
        rj_buf_putc(b, '$');
        rj_buf_puts(b, v->str);
        break;
    case RJ_GQL_VALUE_INT:
    case RJ_GQL_VALUE_FLOAT:
    case RJ_GQL_VALUE_ENUM:
        rj_buf_append(b, v->str, v->len);
        break;
    case RJ_GQL_VALUE_STRING:
        if (v->block)
            rj__gql_print_block_string(b, v->str, v->len);
        else
            rj__gql_print_string(b, v->str, v->len);
        break;
    case RJ_GQL_VALUE_BOOLEAN:
        rj_buf_puts(b, v->boolean ? "true" : "false");
        break;
    case RJ_GQL_VALUE_NULL:
        rj_buf_puts(b, "null");
        break;
    case RJ_GQL_VALUE_LIST:
        rj_buf_putc(b, '[');
        for (const rj_gql_ast_value_t *i = v->items; i != NULL; i = i->next) {
            rj__gql_print_value(b, i);
            if (i->next != NULL)
                rj_buf_puts(b, ", ");
        }
        rj_buf_putc(b, ']');
        break;
    case RJ_GQL_VALUE_OBJECT:
        rj_buf_putc(b, '{');
        for (const rj_gql_ast_object_field_t *f = v->fields; f != NULL; f = f->next) {
            rj_buf_printf(b, "%s: ", f->name);
            rj__gql_print_value(b, f->value);
            if (f->next != NULL)
                rj_buf_puts(b, ", ");
        }
        rj_buf_putc(b, '}');
        break;
    }
}

/*
 * A numeric literal as JSON, without a type: integers that fit int64 stay integers, others
 * take the one number encoding (rj_json_number). A literal beyond the double range (1e309)
 * is Infinity to graphql-js's valueFromASTUntyped, which JSON.stringify prints as null; so
 * here, as jansson cannot hold an infinity. Typed Float literals never get here: coerce.c
 * refuses them first.
 */
static json_t *
number_json(const rj_gql_ast_value_t *v)
{
    if (v->kind == RJ_GQL_VALUE_INT) {
        char *end;
        errno = 0;
        long long ll = strtoll(v->str, &end, 10);
        if (errno == 0 && *end == '\0')
            return json_integer(ll);
    }
    json_t *n = rj_json_number(strtod(v->str, NULL));
    return n != NULL ? n : json_null();
}

json_t *
rj_gql_value_to_json(const rj_gql_ast_value_t *v, const json_t *variables)
{
    switch (v->kind) {
    case RJ_GQL_VALUE_VARIABLE: {
        json_t *val = variables != NULL ? json_object_get(variables, v->str) : NULL;
        return val != NULL ? json_incref(val) : json_null();
    }
    case RJ_GQL_VALUE_INT:
    case RJ_GQL_VALUE_FLOAT:
        return number_json(v);
    case RJ_GQL_VALUE_STRING:
        return json_stringn(v->str, v->len);
    case RJ_GQL_VALUE_ENUM:
        return json_string(v->str);
    case RJ_GQL_VALUE_BOOLEAN:
        return json_boolean(v->boolean);
    case RJ_GQL_VALUE_NULL:
        return json_null();
    case RJ_GQL_VALUE_LIST: {
        json_t *a = json_array();
        for (const rj_gql_ast_value_t *i = v->items; i != NULL; i = i->next)
            json_array_append_new(a, rj_gql_value_to_json(i, variables));
        return a;
    }
    case RJ_GQL_VALUE_OBJECT: {
        json_t *o = json_object();
        for (const rj_gql_ast_object_field_t *f = v->fields; f != NULL; f = f->next)
            json_object_set_new(o, f->name, rj_gql_value_to_json(f->value, variables));
        return o;
    }
    }
    return json_null();
}

/* ---- inspect ------------------------------------------------------------------------------ */

/* JavaScript's Number#toString: the shortest text that reads back as the same double. */
static void
print_js_number(rj_buf_t *b, double d)
{
    if (isnan(d)) {
        rj_buf_puts(b, "NaN");
        return;
    }
    if (isinf(d)) {
        rj_buf_puts(b, d < 0 ? "-Infinity" : "Infinity");
        return;
    }
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    rj_buf_puts(b, tmp);
}

static void
inspect_depth(rj_buf_t *b, const json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        /* JSON.stringify */
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        rj_buf_puts(b, s);
        free(s);
        break;
    }
    case JSON_INTEGER:
        rj_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        print_js_number(b, json_real_value(v));
        break;
    case JSON_TRUE:
        rj_buf_puts(b, "true");
        break;
    case JSON_FALSE:
        rj_buf_puts(b, "false");
        break;
    case JSON_NULL:
        rj_buf_puts(b, "null");
        break;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        if (n == 0) {
            rj_buf_puts(b, "[]");
            break;
        }
        if (depth > 2) {
            rj_buf_puts(b, "[Array]");
            break;
        }
        rj_buf_putc(b, '[');
        for (size_t i = 0; i < n && i < 10; i++) {
            if (i > 0)
                rj_buf_puts(b, ", ");
            inspect_depth(b, json_array_get(v, i), depth + 1);
        }
        if (n > 10)
            rj_buf_printf(b, ", ... %zu more item%s", n - 10, n - 10 == 1 ? "" : "s");
        rj_buf_putc(b, ']');
        break;
    }
    case JSON_OBJECT: {
        if (json_object_size(v) == 0) {
            rj_buf_puts(b, "{}");
            break;
        }
        if (depth > 2) {
            rj_buf_puts(b, "[Object]");
            break;
        }
        rj_buf_puts(b, "{ ");
        const char *key;
        json_t *val;
        bool first = true;
        json_object_foreach((json_t *)v, key, val) {
            if (!first)
                rj_buf_puts(b, ", ");
            first = false;
            rj_buf_printf(b, "%s: ", key);
            inspect_depth(b, val, depth + 1);
        }
        rj_buf_puts(b, " }");
        break;
    }
    }
}

void
rj__gql_inspect(rj_buf_t *b, const json_t *v)
{
    inspect_depth(b, v, 1);
}
