/*
 * graphql/coerce.c - input coercion (spec 3.5 scalars, 5.6 values, 6.1.2 variables, 6.4.1
 * arguments): variables from the request's JSON, arguments from literals, each checked
 * and converted for its declared type.
 *
 * It follows graphql-js 16's coerceVariableValues, coerceInputValue, valueFromAST and
 * getArgumentValues, because their error messages are part of the observable API:
 * `Variable "$input" got invalid value ...; Field "cartId" of required type "ID!" was not
 * provided.` and so on.
 *
 * Built-in scalars: Int is range-checked to 32 bits; Float is a finite double in Ramjet's
 * one number encoding (rj_json_number: integral values within ±2^53 as JSON integers, as
 * JavaScript would print them; 2^53+1 is the double 2^53), and a literal beyond the double
 * range (1e309) is refused with `Float cannot represent non numeric value: 1e309` where
 * graphql-js would make it Infinity, which no JSON document or jsonb column can hold; ID
 * accepts strings and integers and yields strings. Custom scalars an application declares are
 * parsed by name as Booster and graphql-scalars parse them: `Date` and `DateTime` take an ISO 8601
 * date or date-time (or epoch milliseconds, as JavaScript's `new Date(n)`) and become the UTC ISO
 * string `toJSON()` gives (`Invalid date: <value>` otherwise); `JSONObject` takes objects only; any
 * other custom scalar (`JSON` among them) passes any value through unchanged. Their errors read as
 * graphql-js words errors a scalar's parser throws: `Expected type "Date". Invalid date: x` for
 * variables, `Expected value of type "Date", found "x"; Invalid date: x` for literals (validate.c
 * adds the head).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_int.h"

#define INT32_MAX_D 2147483647.0
#define INT32_MIN_D (-2147483648.0)

static const rj_gql_type_t *
named_type(const rj_gql_schema_t *s, const rj_gql_type_ref_t *ref)
{
    return rj_gql_schema_find_type(s, rj_gql_type_ref_named(ref));
}

static bool
is_scalar(const rj_gql_type_t *t, const char *name)
{
    return t->kind == RJ_GQL_KIND_SCALAR && t->builtin && strcmp(t->name, name) == 0;
}

/* ---- literals ----------------------------------------------------------------------------- */

/* ---- custom scalars with parsers ------------------------------------------------------------ */

static bool
digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant). */
static long long
days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/*
 * Parses an ISO 8601 date ("2021-03-01") or date-time ("2021-03-01T10:00:00.5Z",
 * "...+01:00"; seconds and fraction optional; a space may stand for the T) into epoch
 * milliseconds. No zone means UTC. False for anything else, or a day that does not exist.
 */
static bool
iso8601_ms(const char *s, size_t len, bool need_time, long long *out)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off = 0;
    if (len < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return false;
    size_t i = 10;
    if (i == len) {
        if (need_time)
            return false;
    } else {
        if ((s[i] != 'T' && s[i] != 't' && s[i] != ' ') || len < i + 6 ||
            !digits(s + i + 1, 2, &h) || s[i + 3] != ':' || !digits(s + i + 4, 2, &mi))
            return false;
        i += 6;
        if (i < len && s[i] == ':') {
            if (len < i + 3 || !digits(s + i + 1, 2, &sec))
                return false;
            i += 3;
            if (i < len && s[i] == '.') {
                size_t f = ++i;
                int scale = 100;
                for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, scale /= 10)
                    ms += scale > 0 ? (s[i] - '0') * scale : 0;
                if (i == f)
                    return false;
            }
        }
        if (h > 23 || mi > 59 || sec > 59)
            return false;
        if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
            i++;
        } else if (i < len && (s[i] == '+' || s[i] == '-')) {
            int oh, om;
            size_t colon = len >= i + 6 && s[i + 3] == ':' ? 1 : 0;
            if (len < i + 5 + colon || !digits(s + i + 1, 2, &oh) ||
                !digits(s + i + 3 + colon, 2, &om) || oh > 23 || om > 59)
                return false;
            off = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
            i += 5 + colon;
        }
        if (i != len)
            return false;
    }
    long long days = days_from_civil(y, mo, d);
    *out = ((days * 24 + h) * 60 + mi - off) * 60000LL + sec * 1000LL + ms;
    return true;
}

/* Epoch milliseconds as Date.prototype.toJSON prints them. */
static json_t *
iso8601_json(long long t)
{
    long long days = t >= 0 ? t / 86400000LL : -((-t + 86399999LL) / 86400000LL);
    long long rem = t - days * 86400000LL;
    /* civil_from_days (H. Hinnant) */
    long long z = days + 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long y = yoe + era * 400;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    y += m <= 2;
    return json_sprintf("%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d,
                        (int)(rem / 3600000), (int)(rem / 60000 % 60), (int)(rem / 1000 % 60),
                        (int)(rem % 1000));
}

/*
 * The parser of custom scalar @p t for JSON value @p v: a new reference, or NULL with
 * @p reason set (the scalar's own words, without graphql-js's head). Scalars without a
 * parser take any value.
 */
static json_t *
custom_scalar_parse(const rj_gql_type_t *t, const json_t *v, char *reason, size_t n)
{
    bool date = strcmp(t->name, "Date") == 0, datetime = strcmp(t->name, "DateTime") == 0;
    if (date || datetime) {
        long long ms;
        /* new Date(n) takes epoch milliseconds; 8.64e15 is the largest a JS Date holds. */
        if (json_is_integer(v) && llabs((long long)json_integer_value(v)) <= 8640000000000000LL)
            return iso8601_json((long long)json_integer_value(v));
        if (json_is_string(v) &&
            iso8601_ms(json_string_value(v), json_string_length(v), datetime, &ms))
            return iso8601_json(ms);
        rj_buf_t b;
        rj_buf_init(&b);
        if (json_is_string(v))
            rj_buf_append(&b, json_string_value(v), json_string_length(v));
        else
            rj__gql_inspect(&b, v);
        snprintf(reason, n, "Invalid date: %s", b.data);
        rj_buf_deinit(&b);
        return NULL;
    }
    if (strcmp(t->name, "JSONObject") == 0 && !json_is_object(v)) {
        rj_buf_t b;
        rj_buf_init(&b);
        rj__gql_inspect(&b, v);
        snprintf(reason, n, "JSONObject cannot represent non-object value: %s", b.data);
        rj_buf_deinit(&b);
        return NULL;
    }
    return json_incref((json_t *)v);
}

static json_t *
literal_fail(char *msg, size_t n, const char *what, const rj_gql_ast_value_t *v, const char *tail)
{
    rj_buf_t b;
    rj_buf_init(&b);
    rj__gql_print_value(&b, v);
    snprintf(msg, n, "%s%s%s", what, b.data, tail);
    rj_buf_deinit(&b);
    return NULL;
}

json_t *
rj__gql_parse_literal(const rj_gql_type_t *t, const rj_gql_ast_value_t *v,
                      const json_t *variables, char *msg, size_t n)
{
    msg[0] = '\0';
    if (t->kind == RJ_GQL_KIND_ENUM) {
        if (v->kind != RJ_GQL_VALUE_ENUM) {
            char head[200];
            snprintf(head, sizeof(head), "Enum \"%s\" cannot represent non-enum value: ", t->name);
            return literal_fail(msg, n, head, v, ".");
        }
        if (rj_gql_type_find_enum_value(t, v->str) == NULL) {
            snprintf(msg, n, "Value \"%s\" does not exist in \"%s\" enum.", v->str, t->name);
            return NULL;
        }
        return json_string(v->str);
    }
    if (!t->builtin) {
        /* A custom scalar: the literal as JSON, through the scalar's parser if it has one. */
        json_t *j = rj_gql_value_to_json(v, variables);
        if (j == NULL)
            return NULL;
        json_t *r = custom_scalar_parse(t, j, msg, n);
        json_decref(j);
        return r;
    }
    if (is_scalar(t, "Int")) {
        if (v->kind != RJ_GQL_VALUE_INT)
            return literal_fail(msg, n, "Int cannot represent non-integer value: ", v, "");
        double d = strtod(v->str, NULL);
        if (d > INT32_MAX_D || d < INT32_MIN_D) {
            snprintf(msg, n, "Int cannot represent non 32-bit signed integer value: %s", v->str);
            return NULL;
        }
        return json_integer((json_int_t)d);
    }
    if (is_scalar(t, "Float")) {
        if (v->kind != RJ_GQL_VALUE_INT && v->kind != RJ_GQL_VALUE_FLOAT)
            return literal_fail(msg, n, "Float cannot represent non numeric value: ", v, "");
        json_t *num = rj_json_number(strtod(v->str, NULL));
        if (num == NULL)
            return literal_fail(msg, n, "Float cannot represent non numeric value: ", v, "");
        return num;
    }
    if (is_scalar(t, "String")) {
        if (v->kind != RJ_GQL_VALUE_STRING)
            return literal_fail(msg, n, "String cannot represent a non string value: ", v, "");
        return json_stringn(v->str, v->len);
    }
    if (is_scalar(t, "Boolean")) {
        if (v->kind != RJ_GQL_VALUE_BOOLEAN)
            return literal_fail(msg, n, "Boolean cannot represent a non boolean value: ", v, "");
        return json_boolean(v->boolean);
    }
    if (is_scalar(t, "ID")) {
        if (v->kind != RJ_GQL_VALUE_STRING && v->kind != RJ_GQL_VALUE_INT)
            return literal_fail(msg, n,
                                "ID cannot represent a non-string and non-integer value: ", v, "");
        return json_stringn(v->str, v->len);
    }
    return rj_gql_value_to_json(v, variables);
}

static bool
is_missing_variable(const rj_gql_ast_value_t *v, const json_t *variables)
{
    return v->kind == RJ_GQL_VALUE_VARIABLE &&
           (variables == NULL || json_object_get(variables, v->str) == NULL);
}

json_t *
rj__gql_value_from_ast(const rj_gql_schema_t *s, const rj_gql_type_ref_t *type,
                       const rj_gql_ast_value_t *v, const json_t *variables)
{
    if (v->kind == RJ_GQL_VALUE_VARIABLE) {
        json_t *val = variables != NULL ? json_object_get(variables, v->str) : NULL;
        if (val == NULL || (json_is_null(val) && type->kind == RJ_GQL_TYPE_NON_NULL))
            return NULL;
        return json_incref(val);
    }
    if (type->kind == RJ_GQL_TYPE_NON_NULL) {
        if (v->kind == RJ_GQL_VALUE_NULL)
            return NULL;
        return rj__gql_value_from_ast(s, type->of_type, v, variables);
    }
    if (v->kind == RJ_GQL_VALUE_NULL)
        return json_null();
    if (type->kind == RJ_GQL_TYPE_LIST) {
        const rj_gql_type_ref_t *item_type = type->of_type;
        if (v->kind != RJ_GQL_VALUE_LIST) {
            json_t *one = rj__gql_value_from_ast(s, item_type, v, variables);
            if (one == NULL)
                return NULL;
            json_t *a = json_array();
            json_array_append_new(a, one);
            return a;
        }
        json_t *a = json_array();
        for (const rj_gql_ast_value_t *i = v->items; i != NULL; i = i->next) {
            json_t *item;
            if (is_missing_variable(i, variables)) {
                if (item_type->kind == RJ_GQL_TYPE_NON_NULL)
                    goto invalid_list;
                item = json_null();
            } else if ((item = rj__gql_value_from_ast(s, item_type, i, variables)) == NULL) {
                goto invalid_list;
            }
            json_array_append_new(a, item);
        }
        return a;
    invalid_list:
        json_decref(a);
        return NULL;
    }
    const rj_gql_type_t *t = named_type(s, type);
    if (t == NULL)
        return NULL;
    if (t->kind == RJ_GQL_KIND_INPUT_OBJECT) {
        if (v->kind != RJ_GQL_VALUE_OBJECT)
            return NULL;
        json_t *o = json_object();
        for (size_t i = 0; i < t->ninput_fields; i++) {
            const rj_gql_input_value_t *f = &t->input_fields[i];
            const rj_gql_ast_object_field_t *fn = v->fields;
            while (fn != NULL && strcmp(fn->name, f->name) != 0)
                fn = fn->next;
            if (fn == NULL || is_missing_variable(fn->value, variables)) {
                if (f->default_value != NULL) {
                    json_t *d = rj__gql_value_from_ast(s, f->type, f->default_value, NULL);
                    if (d != NULL)
                        json_object_set_new(o, f->name, d);
                } else if (f->type->kind == RJ_GQL_TYPE_NON_NULL) {
                    json_decref(o);
                    return NULL;
                }
                continue;
            }
            json_t *fv = rj__gql_value_from_ast(s, f->type, fn->value, variables);
            if (fv == NULL) {
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, f->name, fv);
        }
        return o;
    }
    if (t->kind == RJ_GQL_KIND_SCALAR || t->kind == RJ_GQL_KIND_ENUM) {
        char msg[256];
        return rj__gql_parse_literal(t, v, variables, msg, sizeof(msg));
    }
    return NULL;
}

/* ---- external values (variables) ------------------------------------------------------------ */

typedef struct coerce_ctx {
    const rj_gql_schema_t *s;            /* the schema */
    const rj_gql_ast_variable_t *var;    /* the variable being coerced */
    json_t *errors;                      /* where errors go */
    rj_buf_t path;                       /* ".field[2]" below the variable */
} coerce_ctx_t;

static void
input_error(coerce_ctx_t *c, const json_t *invalid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
input_error(coerce_ctx_t *c, const json_t *invalid, const char *fmt, ...)
{
    char reason[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_printf(&b, "Variable \"$%s\" got invalid value ", c->var->name);
    rj__gql_inspect(&b, invalid);
    if (c->path.len > 0)
        rj_buf_printf(&b, " at \"%s%s\"", c->var->name, c->path.data);
    json_array_append_new(c->errors, rj__gql_error_new(&c->var->loc, "%s; %s", b.data, reason));
    rj_buf_deinit(&b);
}

static json_t *
inspect_str(const json_t *v, rj_buf_t *b)
{
    rj_buf_reset(b);
    rj__gql_inspect(b, v);
    return NULL;
}

/* Scalar and enum parseValue. Returns a new reference or NULL after reporting. */
static json_t *
parse_leaf_value(coerce_ctx_t *c, const rj_gql_type_t *t, const json_t *v)
{
    rj_buf_t b;
    rj_buf_init(&b);
    json_t *r = NULL;
    inspect_str(v, &b);
    if (t->kind == RJ_GQL_KIND_ENUM) {
        if (json_is_string(v) && rj_gql_type_find_enum_value(t, json_string_value(v)) != NULL) {
            r = json_incref((json_t *)v);
        } else {
            /* graphql-js's parseValue, suggestions included (didYouMeanEnumValue). */
            rj_buf_t m;
            rj_buf_init(&m);
            const char *input = json_is_string(v) ? json_string_value(v) : b.data;
            if (!json_is_string(v))
                rj_buf_printf(&m, "Enum \"%s\" cannot represent non-string value: %s.", t->name,
                              b.data);
            else
                rj_buf_printf(&m, "Value \"%s\" does not exist in \"%s\" enum.", input, t->name);
            const char **names = rj_xcalloc(t->nenum_values + 1, sizeof(*names));
            for (size_t i = 0; i < t->nenum_values; i++)
                names[i] = t->enum_values[i].name;
            rj__gql_did_you_mean(&m, "the enum value", input, names, t->nenum_values);
            free(names);
            input_error(c, v, "%s", m.data);
            rj_buf_deinit(&m);
        }
    } else if (!t->builtin) {
        char reason[300];
        r = custom_scalar_parse(t, v, reason, sizeof reason);
        if (r == NULL)
            input_error(c, v, "Expected type \"%s\". %s", t->name, reason);
    } else if (is_scalar(t, "Int")) {
        double d = json_is_number(v) ? json_number_value(v) : NAN;
        if (!json_is_number(v) || d != floor(d))
            input_error(c, v, "Int cannot represent non-integer value: %s", b.data);
        else if (d > INT32_MAX_D || d < INT32_MIN_D)
            input_error(c, v, "Int cannot represent non 32-bit signed integer value: %s", b.data);
        else
            r = json_integer((json_int_t)d);
    } else if (is_scalar(t, "Float")) {
        /* JSON variables are finite (jansson refuses 1e309); 2^53+1 becomes 2^53 here. */
        if (!json_is_number(v) || (r = rj_json_number(json_number_value(v))) == NULL)
            input_error(c, v, "Float cannot represent non numeric value: %s", b.data);
    } else if (is_scalar(t, "String")) {
        if (!json_is_string(v))
            input_error(c, v, "String cannot represent a non string value: %s", b.data);
        else
            r = json_incref((json_t *)v);
    } else if (is_scalar(t, "Boolean")) {
        if (!json_is_boolean(v))
            input_error(c, v, "Boolean cannot represent a non boolean value: %s", b.data);
        else
            r = json_incref((json_t *)v);
    } else if (is_scalar(t, "ID")) {
        if (json_is_string(v))
            r = json_incref((json_t *)v);
        else if (json_is_integer(v))
            r = json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
        else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
                 fabs(json_real_value(v)) < 9007199254740992.0)
            r = json_sprintf("%.0f", json_real_value(v));
        else
            input_error(c, v, "ID cannot represent value: %s", b.data);
    } else {
        r = json_incref((json_t *)v);
    }
    rj_buf_deinit(&b);
    return r;
}

/* coerceInputValue: a new reference, or NULL after reporting at least one error. */
static json_t *
coerce_input(coerce_ctx_t *c, const rj_gql_type_ref_t *type, const json_t *v)
{
    if (type->kind == RJ_GQL_TYPE_NON_NULL) {
        if (!json_is_null(v))
            return coerce_input(c, type->of_type, v);
        char *ts = rj_gql_type_ref_to_string(type);
        input_error(c, v, "Expected non-nullable type \"%s\" not to be null.", ts);
        free(ts);
        return NULL;
    }
    if (json_is_null(v))
        return json_null();
    if (type->kind == RJ_GQL_TYPE_LIST) {
        if (!json_is_array(v)) {
            json_t *one = coerce_input(c, type->of_type, v);
            if (one == NULL)
                return NULL;
            json_t *a = json_array();
            json_array_append_new(a, one);
            return a;
        }
        json_t *a = json_array();
        bool ok = true;
        size_t mark = c->path.len;
        for (size_t i = 0; i < json_array_size(v); i++) {
            rj_buf_printf(&c->path, "[%zu]", i);
            json_t *item = coerce_input(c, type->of_type, json_array_get(v, i));
            c->path.len = mark;
            c->path.data[mark] = '\0';
            if (item == NULL)
                ok = false;
            else
                json_array_append_new(a, item);
        }
        if (!ok) {
            json_decref(a);
            return NULL;
        }
        return a;
    }
    const rj_gql_type_t *t = named_type(c->s, type);
    if (t == NULL)
        return NULL;
    if (t->kind == RJ_GQL_KIND_INPUT_OBJECT) {
        if (!json_is_object(v)) {
            input_error(c, v, "Expected type \"%s\" to be an object.", t->name);
            return NULL;
        }
        json_t *o = json_object();
        bool ok = true;
        for (size_t i = 0; i < t->ninput_fields; i++) {
            const rj_gql_input_value_t *f = &t->input_fields[i];
            json_t *fv = json_object_get(v, f->name);
            if (fv == NULL) {
                if (f->default_value != NULL) {
                    json_t *d = rj__gql_value_from_ast(c->s, f->type, f->default_value, NULL);
                    if (d != NULL)
                        json_object_set_new(o, f->name, d);
                } else if (f->type->kind == RJ_GQL_TYPE_NON_NULL) {
                    input_error(c, v, "Field \"%s\" of required type \"%s\" was not provided.",
                                f->name, f->type_str);
                    ok = false;
                }
                continue;
            }
            size_t mark = c->path.len;
            rj_buf_printf(&c->path, ".%s", f->name);
            json_t *cv = coerce_input(c, f->type, fv);
            c->path.len = mark;
            c->path.data[mark] = '\0';
            if (cv == NULL)
                ok = false;
            else
                json_object_set_new(o, f->name, cv);
        }
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) {
            if (rj_gql_type_find_input_field(t, key) == NULL) {
                rj_buf_t m;
                rj_buf_init(&m);
                rj_buf_printf(&m, "Field \"%s\" is not defined by type \"%s\".", key, t->name);
                const char **names = rj_xcalloc(t->ninput_fields + 1, sizeof(*names));
                for (size_t i = 0; i < t->ninput_fields; i++)
                    names[i] = t->input_fields[i].name;
                rj__gql_did_you_mean(&m, NULL, key, names, t->ninput_fields);
                free(names);
                input_error(c, v, "%s", m.data);
                rj_buf_deinit(&m);
                ok = false;
            }
        }
        if (!ok) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    if (t->kind == RJ_GQL_KIND_SCALAR || t->kind == RJ_GQL_KIND_ENUM)
        return parse_leaf_value(c, t, v);
    return NULL;
}

json_t *
rj__gql_coerce_variables(const rj_gql_schema_t *s, const rj_gql_ast_definition_t *op,
                         const json_t *inputs, json_t *errors)
{
    json_t *out = json_object();
    size_t before = json_array_size(errors);
    for (const rj_gql_ast_variable_t *var = op->variables; var != NULL; var = var->next) {
        const rj_gql_type_t *t = named_type(s, var->type);
        char *ts = rj_gql_type_ref_to_string(var->type);
        if (t == NULL || !rj_gql_type_is_input(t)) {
            json_array_append_new(errors,
                                  rj__gql_error_new(&var->type->loc,
                                                    "Variable \"$%s\" expected value of type "
                                                    "\"%s\" which cannot be used as an input "
                                                    "type.",
                                                    var->name, ts));
            free(ts);
            continue;
        }
        json_t *v = inputs != NULL ? json_object_get(inputs, var->name) : NULL;
        if (v == NULL) {
            if (var->default_value != NULL) {
                json_t *d = rj__gql_value_from_ast(s, var->type, var->default_value, NULL);
                if (d != NULL)
                    json_object_set_new(out, var->name, d);
            } else if (var->type->kind == RJ_GQL_TYPE_NON_NULL) {
                json_array_append_new(errors, rj__gql_error_new(&var->loc,
                                                                "Variable \"$%s\" of required "
                                                                "type \"%s\" was not provided.",
                                                                var->name, ts));
            }
            free(ts);
            continue;
        }
        if (json_is_null(v) && var->type->kind == RJ_GQL_TYPE_NON_NULL) {
            json_array_append_new(errors, rj__gql_error_new(&var->loc,
                                                            "Variable \"$%s\" of non-null type "
                                                            "\"%s\" must not be null.",
                                                            var->name, ts));
            free(ts);
            continue;
        }
        free(ts);
        coerce_ctx_t c = {.s = s, .var = var, .errors = errors};
        rj_buf_init(&c.path);
        rj_buf_puts(&c.path, ""); /* so path.data is never NULL when truncating */
        json_t *cv = coerce_input(&c, var->type, v);
        rj_buf_deinit(&c.path);
        if (cv != NULL)
            json_object_set_new(out, var->name, cv);
    }
    if (json_array_size(errors) > before) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* ---- arguments ------------------------------------------------------------------------------ */

json_t *
rj__gql_coerce_args(const rj_gql_schema_t *s, const rj_gql_input_value_t *defs, size_t ndefs,
                    const rj_gql_ast_argument_t *args, const json_t *variables,
                    rj_gql_loc_t field_loc, json_t **error)
{
    json_t *out = json_object();
    *error = NULL;
    for (size_t i = 0; i < ndefs; i++) {
        const rj_gql_input_value_t *def = &defs[i];
        const rj_gql_ast_argument_t *a = args;
        while (a != NULL && strcmp(a->name, def->name) != 0)
            a = a->next;
        bool missing = a == NULL;
        bool is_null = false;
        if (!missing && a->value->kind == RJ_GQL_VALUE_VARIABLE) {
            json_t *vv = variables != NULL ? json_object_get(variables, a->value->str) : NULL;
            if (vv == NULL) {
                if (def->default_value == NULL && def->type->kind == RJ_GQL_TYPE_NON_NULL) {
                    *error = rj__gql_error_new(&a->value->loc,
                                               "Argument \"%s\" of required type \"%s\" was "
                                               "provided the variable \"$%s\" which was not "
                                               "provided a runtime value.",
                                               def->name, def->type_str, a->value->str);
                    goto fail;
                }
                missing = true;
            } else {
                is_null = json_is_null(vv);
            }
        } else if (!missing) {
            is_null = a->value->kind == RJ_GQL_VALUE_NULL;
        }
        if (missing) {
            if (def->default_value != NULL) {
                json_t *d = rj__gql_value_from_ast(s, def->type, def->default_value, NULL);
                if (d != NULL)
                    json_object_set_new(out, def->name, d);
            } else if (def->type->kind == RJ_GQL_TYPE_NON_NULL) {
                *error = rj__gql_error_new(&field_loc,
                                           "Argument \"%s\" of required type \"%s\" was not "
                                           "provided.",
                                           def->name, def->type_str);
                goto fail;
            }
            continue;
        }
        if (is_null && def->type->kind == RJ_GQL_TYPE_NON_NULL) {
            *error = rj__gql_error_new(&a->value->loc,
                                       "Argument \"%s\" of non-null type \"%s\" must not be null.",
                                       def->name, def->type_str);
            goto fail;
        }
        json_t *v = rj__gql_value_from_ast(s, def->type, a->value, variables);
        if (v == NULL) {
            rj_buf_t b;
            rj_buf_init(&b);
            rj__gql_print_value(&b, a->value);
            *error = rj__gql_error_new(&a->value->loc, "Argument \"%s\" has invalid value %s.",
                                       def->name, b.data);
            rj_buf_deinit(&b);
            goto fail;
        }
        json_object_set_new(out, def->name, v);
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}
