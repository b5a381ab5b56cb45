/*
 * graphql/printer.c - a schema printed back as SDL, the way graphql-js 16's printSchema()
 * does it: schema block only when the root types are not Query/Mutation/Subscription,
 * declared directives, then the types in declaration order, descriptions as block strings,
 * and @deprecated / @specifiedBy as the only applied directives.
 *
 * Used for `_service { sdl }` (federation) and for debugging. Deliberately, like graphql-js,
 * it drops the other applied directives (@entity, @command...): printSchema describes the
 * GraphQL API, not Ramjet's application model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_int.h"

/* graphql-js isPrintableAsBlockString */
static bool
printable_as_block(const char *s, size_t n)
{
    if (n == 0)
        return true;
    bool empty_line = true, has_indent = false, common_indent = true, seen_non_empty = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\n' && c != '\t') || c == '\r')
            return false;
        if (c == '\n') {
            if (empty_line && !seen_non_empty)
                return false; /* a leading new line */
            seen_non_empty = true;
            empty_line = true;
            has_indent = false;
        } else if (c == '\t' || c == ' ') {
            has_indent = has_indent || empty_line;
        } else {
            common_indent = common_indent && has_indent;
            empty_line = false;
        }
    }
    if (empty_line)
        return false; /* trailing empty lines */
    if (common_indent && seen_non_empty)
        return false; /* internal indentation */
    return true;
}

static void
print_description(rj_buf_t *b, const char *desc, const char *indent, bool first_in_block)
{
    if (desc == NULL)
        return;
    if (indent[0] != '\0' && !first_in_block) {
        rj_buf_putc(b, '\n');
        rj_buf_puts(b, indent);
    } else {
        rj_buf_puts(b, indent);
    }
    rj_buf_t s;
    rj_buf_init(&s);
    if (printable_as_block(desc, strlen(desc)))
        rj__gql_print_block_string(&s, desc, strlen(desc));
    else
        rj__gql_print_string(&s, desc, strlen(desc));
    for (size_t i = 0; i < s.len; i++) {
        rj_buf_putc(b, s.data[i]);
        if (s.data[i] == '\n')
            rj_buf_puts(b, indent);
    }
    rj_buf_deinit(&s);
    rj_buf_putc(b, '\n');
}

static void
print_deprecated(rj_buf_t *b, bool deprecated, const char *reason)
{
    if (!deprecated)
        return;
    if (reason == NULL || strcmp(reason, "No longer supported") == 0) {
        rj_buf_puts(b, " @deprecated");
        return;
    }
    rj_buf_puts(b, " @deprecated(reason: ");
    rj__gql_print_string(b, reason, strlen(reason));
    rj_buf_putc(b, ')');
}

static void
print_default(rj_buf_t *b, const rj_gql_ast_value_t *v)
{
    /* astFromValue prints strings as plain strings whatever the SDL wrote */
    if (v->kind == RJ_GQL_VALUE_STRING)
        rj__gql_print_string(b, v->str, v->len);
    else
        rj__gql_print_value(b, v);
}

static void
print_input_value(rj_buf_t *b, const rj_gql_input_value_t *iv)
{
    rj_buf_printf(b, "%s: %s", iv->name, iv->type_str);
    if (iv->default_value != NULL) {
        rj_buf_puts(b, " = ");
        print_default(b, iv->default_value);
    }
    const rj_gql_ast_directive_t *d = rj_gql_directives_find(iv->directives, "deprecated");
    if (d != NULL) {
        const char *reason = NULL;
        for (const rj_gql_ast_argument_t *a = d->args; a != NULL; a = a->next)
            if (strcmp(a->name, "reason") == 0 && a->value->kind == RJ_GQL_VALUE_STRING)
                reason = a->value->str;
        print_deprecated(b, true, reason);
    }
}

static void
print_args(rj_buf_t *b, const rj_gql_input_value_t *args, size_t n, const char *indent)
{
    if (n == 0)
        return;
    bool described = false;
    for (size_t i = 0; i < n; i++)
        described = described || args[i].description != NULL;
    if (!described) {
        rj_buf_putc(b, '(');
        for (size_t i = 0; i < n; i++) {
            if (i > 0)
                rj_buf_puts(b, ", ");
            print_input_value(b, &args[i]);
        }
        rj_buf_putc(b, ')');
        return;
    }
    char inner[64];
    snprintf(inner, sizeof(inner), "  %s", indent);
    rj_buf_puts(b, "(\n");
    for (size_t i = 0; i < n; i++) {
        print_description(b, args[i].description, inner, i == 0);
        rj_buf_puts(b, inner);
        print_input_value(b, &args[i]);
        rj_buf_putc(b, '\n');
    }
    rj_buf_puts(b, indent);
    rj_buf_putc(b, ')');
}

static void
print_type(rj_buf_t *b, const rj_gql_type_t *t)
{
    static const char *const keywords[] = {"scalar", "type", "interface",
                                           "union",  "enum", "input"};
    print_description(b, t->description, "", true);
    rj_buf_printf(b, "%s %s", keywords[t->kind], t->name);
    switch (t->kind) {
    case RJ_GQL_KIND_SCALAR:
        if (t->specified_by != NULL) {
            rj_buf_puts(b, " @specifiedBy(url: ");
            rj__gql_print_string(b, t->specified_by, strlen(t->specified_by));
            rj_buf_putc(b, ')');
        }
        break;
    case RJ_GQL_KIND_OBJECT:
    case RJ_GQL_KIND_INTERFACE:
        for (size_t i = 0; i < t->ninterfaces; i++)
            rj_buf_printf(b, "%s%s", i == 0 ? " implements " : " & ", t->interfaces[i]->name);
        if (t->nfields == 0)
            break;
        rj_buf_puts(b, " {\n");
        for (size_t i = 0; i < t->nfields; i++) {
            const rj_gql_field_def_t *f = &t->fields[i];
            print_description(b, f->description, "  ", i == 0);
            rj_buf_printf(b, "  %s", f->name);
            print_args(b, f->args, f->nargs, "  ");
            rj_buf_printf(b, ": %s", f->type_str);
            print_deprecated(b, f->deprecated, f->deprecation_reason);
            rj_buf_putc(b, '\n');
        }
        rj_buf_putc(b, '}');
        break;
    case RJ_GQL_KIND_UNION:
        for (size_t i = 0; i < t->npossible_types; i++)
            rj_buf_printf(b, "%s%s", i == 0 ? " = " : " | ", t->possible_types[i]->name);
        break;
    case RJ_GQL_KIND_ENUM:
        if (t->nenum_values == 0)
            break;
        rj_buf_puts(b, " {\n");
        for (size_t i = 0; i < t->nenum_values; i++) {
            const rj_gql_enum_value_t *v = &t->enum_values[i];
            print_description(b, v->description, "  ", i == 0);
            rj_buf_printf(b, "  %s", v->name);
            print_deprecated(b, v->deprecated, v->deprecation_reason);
            rj_buf_putc(b, '\n');
        }
        rj_buf_putc(b, '}');
        break;
    case RJ_GQL_KIND_INPUT_OBJECT:
        if (t->ninput_fields == 0)
            break;
        rj_buf_puts(b, " {\n");
        for (size_t i = 0; i < t->ninput_fields; i++) {
            print_description(b, t->input_fields[i].description, "  ", i == 0);
            rj_buf_puts(b, "  ");
            print_input_value(b, &t->input_fields[i]);
            rj_buf_putc(b, '\n');
        }
        rj_buf_putc(b, '}');
        break;
    }
}

static void
separate(rj_buf_t *b)
{
    if (b->len > 0)
        rj_buf_puts(b, "\n\n");
}

char *
rj_gql_schema_print(const rj_gql_schema_t *s)
{
    rj_buf_t b;
    rj_buf_init(&b);
    static const char *const common[] = {"Query", "Mutation", "Subscription"};
    static const char *const words[] = {"query", "mutation", "subscription"};
    bool common_names = true;
    for (int op = 0; op < 3; op++)
        if (s->roots[op] != NULL && strcmp(s->roots[op]->name, common[op]) != 0)
            common_names = false;
    if (s->description != NULL || !common_names) {
        print_description(&b, s->description, "", true);
        rj_buf_puts(&b, "schema {\n");
        for (int op = 0; op < 3; op++)
            if (s->roots[op] != NULL)
                rj_buf_printf(&b, "  %s: %s\n", words[op], s->roots[op]->name);
        rj_buf_putc(&b, '}');
    }
    for (size_t i = 0; i < s->ndirectives; i++) {
        const rj_gql_directive_def_t *d = s->directives[i];
        if (d->builtin)
            continue;
        separate(&b);
        print_description(&b, d->description, "", true);
        rj_buf_printf(&b, "directive @%s", d->name);
        print_args(&b, d->args, d->nargs, "");
        if (d->repeatable)
            rj_buf_puts(&b, " repeatable");
        for (size_t j = 0; j < d->nlocations; j++)
            rj_buf_printf(&b, "%s%s", j == 0 ? " on " : " | ", d->locations[j]);
    }
    for (size_t i = 0; i < s->ntypes; i++) {
        if (s->types[i]->builtin)
            continue;
        separate(&b);
        print_type(&b, s->types[i]);
    }
    return rj_buf_steal(&b);
}
