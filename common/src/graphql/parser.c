/*
 * graphql/parser.c - the recursive-descent parser for executable and type-system
 * documents (spec 2 and 3, October 2021), producing the AST of ast.h in a document arena.
 *
 * The structure mirrors graphql-js's parser.ts function for function, so its error
 * messages ("Syntax Error: Expected Name, found \"}\".") and positions come out the same.
 * A syntax error unwinds with longjmp to rj_gql_parse(): every allocation made while
 * parsing lives in the document's arena, so there is nothing to clean up on the way out,
 * and the grammar functions stay free of error plumbing.
 *
 * Limits (bytes, tokens, depth) are enforced here so hostile input fails fast with a
 * clear message; recursion depth is bounded by max_depth, which keeps the C stack safe.
 * This file does not validate anything beyond the grammar: see validate.c and schema.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_int.h"

const rj_gql_limits_t rj_gql_default_limits = {
    .max_bytes = 1024 * 1024,
    .max_tokens = 100000,
    .max_depth = 64,
};

typedef struct parser {
    rj__gql_lexer_t lx;         /* the token stream */
    rj__gql_arena_t *arena;     /* where nodes go */
    const rj_gql_limits_t *lim; /* limits in force */
    size_t depth;               /* current nesting */
    json_t *error;              /* the error object, once failed */
    jmp_buf fail;               /* where a syntax error unwinds to */
} parser_t;

static _Noreturn void syntax_error(parser_t *p, rj_gql_loc_t loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static _Noreturn void
syntax_error(parser_t *p, rj_gql_loc_t loc, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    p->error = rj__gql_error_new(&loc, "Syntax Error: %s", msg);
    longjmp(p->fail, 1);
}

static void
advance(parser_t *p)
{
    if (!rj__gql_lexer_advance(&p->lx))
        syntax_error(p, p->lx.err_loc, "%s", p->lx.msg);
    if (p->lx.tok.kind != RJ__TOK_EOF && p->lx.ntokens > p->lim->max_tokens)
        syntax_error(p, p->lx.tok.loc, "Document contains more than %zu tokens. Parsing aborted.",
                     p->lim->max_tokens);
}

static const rj__gql_token_t *
tok(parser_t *p)
{
    return &p->lx.tok;
}

static bool
peek(parser_t *p, rj__gql_tok_kind_t k)
{
    return p->lx.tok.kind == k;
}

static _Noreturn void
unexpected_at(parser_t *p, const rj__gql_token_t *t)
{
    char desc[100];
    rj__gql_token_desc(t, desc, sizeof(desc));
    syntax_error(p, t->loc, "Unexpected %s.", desc);
}

static _Noreturn void
unexpected(parser_t *p)
{
    unexpected_at(p, tok(p));
}

static rj__gql_token_t
expect_token(parser_t *p, rj__gql_tok_kind_t k)
{
    rj__gql_token_t t = *tok(p);
    if (t.kind != k) {
        char desc[100];
        rj__gql_token_desc(&t, desc, sizeof(desc));
        syntax_error(p, t.loc, "Expected %s, found %s.", rj__gql_tok_kind_desc(k), desc);
    }
    advance(p);
    return t;
}

static bool
expect_optional_token(parser_t *p, rj__gql_tok_kind_t k)
{
    if (!peek(p, k))
        return false;
    advance(p);
    return true;
}

static bool
is_keyword(parser_t *p, const char *kw)
{
    return peek(p, RJ__TOK_NAME) && tok(p)->len == strlen(kw) &&
           memcmp(tok(p)->value, kw, tok(p)->len) == 0;
}

static void
expect_keyword(parser_t *p, const char *kw)
{
    if (!is_keyword(p, kw)) {
        char desc[100];
        rj__gql_token_desc(tok(p), desc, sizeof(desc));
        syntax_error(p, tok(p)->loc, "Expected \"%s\", found %s.", kw, desc);
    }
    advance(p);
}

static bool
expect_optional_keyword(parser_t *p, const char *kw)
{
    if (!is_keyword(p, kw))
        return false;
    advance(p);
    return true;
}

static void
enter(parser_t *p)
{
    if (++p->depth > p->lim->max_depth)
        syntax_error(p, tok(p)->loc, "Document exceeds the maximum nesting depth of %zu.",
                     p->lim->max_depth);
}

static void
leave(parser_t *p)
{
    p->depth--;
}

static void *
node(parser_t *p, size_t n)
{
    return rj__gql_arena_alloc(p->arena, n);
}

static const char *
parse_name(parser_t *p, rj_gql_loc_t *loc)
{
    rj__gql_token_t t = expect_token(p, RJ__TOK_NAME);
    if (loc != NULL)
        *loc = t.loc;
    return rj__gql_arena_strndup(p->arena, t.value, t.len);
}

/* ---- values ----------------------------------------------------------------------------- */

static rj_gql_ast_value_t *parse_value(parser_t *p, bool is_const);

static rj_gql_ast_value_t *
parse_string_literal(parser_t *p)
{
    rj_gql_ast_value_t *v = node(p, sizeof(*v));
    v->kind = RJ_GQL_VALUE_STRING;
    v->loc = tok(p)->loc;
    v->block = peek(p, RJ__TOK_BLOCK_STRING);
    v->str = tok(p)->value; /* already decoded into the arena by the lexer */
    v->len = tok(p)->len;
    advance(p);
    return v;
}

static rj_gql_ast_value_t *
parse_value(parser_t *p, bool is_const)
{
    const rj__gql_token_t *t = tok(p);
    rj_gql_ast_value_t *v;
    switch (t->kind) {
    case RJ__TOK_BRACKET_L: {
        v = node(p, sizeof(*v));
        v->kind = RJ_GQL_VALUE_LIST;
        v->loc = t->loc;
        enter(p);
        advance(p);
        rj_gql_ast_value_t **tail = &v->items;
        while (!expect_optional_token(p, RJ__TOK_BRACKET_R)) {
            *tail = parse_value(p, is_const);
            tail = &(*tail)->next;
        }
        leave(p);
        return v;
    }
    case RJ__TOK_BRACE_L: {
        v = node(p, sizeof(*v));
        v->kind = RJ_GQL_VALUE_OBJECT;
        v->loc = t->loc;
        enter(p);
        advance(p);
        rj_gql_ast_object_field_t **tail = &v->fields;
        while (!expect_optional_token(p, RJ__TOK_BRACE_R)) {
            rj_gql_ast_object_field_t *f = node(p, sizeof(*f));
            f->name = parse_name(p, &f->loc);
            expect_token(p, RJ__TOK_COLON);
            f->value = parse_value(p, is_const);
            *tail = f;
            tail = &f->next;
        }
        leave(p);
        return v;
    }
    case RJ__TOK_INT:
    case RJ__TOK_FLOAT:
        v = node(p, sizeof(*v));
        v->kind = t->kind == RJ__TOK_INT ? RJ_GQL_VALUE_INT : RJ_GQL_VALUE_FLOAT;
        v->loc = t->loc;
        v->str = rj__gql_arena_strndup(p->arena, t->value, t->len);
        v->len = t->len;
        advance(p);
        return v;
    case RJ__TOK_STRING:
    case RJ__TOK_BLOCK_STRING:
        return parse_string_literal(p);
    case RJ__TOK_NAME:
        v = node(p, sizeof(*v));
        v->loc = t->loc;
        if (is_keyword(p, "true") || is_keyword(p, "false")) {
            v->kind = RJ_GQL_VALUE_BOOLEAN;
            v->boolean = is_keyword(p, "true");
        } else if (is_keyword(p, "null")) {
            v->kind = RJ_GQL_VALUE_NULL;
        } else {
            v->kind = RJ_GQL_VALUE_ENUM;
            v->str = rj__gql_arena_strndup(p->arena, t->value, t->len);
            v->len = t->len;
        }
        advance(p);
        return v;
    case RJ__TOK_DOLLAR: {
        rj_gql_loc_t loc = t->loc;
        if (is_const) {
            advance(p);
            if (peek(p, RJ__TOK_NAME))
                syntax_error(p, loc, "Unexpected variable \"$%.*s\" in constant value.",
                             (int)tok(p)->len, tok(p)->value);
            unexpected(p);
        }
        advance(p);
        v = node(p, sizeof(*v));
        v->kind = RJ_GQL_VALUE_VARIABLE;
        v->loc = loc;
        v->str = parse_name(p, NULL);
        v->len = strlen(v->str);
        return v;
    }
    default:
        unexpected(p);
    }
}

/* ---- arguments, directives, types --------------------------------------------------------- */

static rj_gql_ast_argument_t *
parse_arguments(parser_t *p, bool is_const)
{
    rj_gql_ast_argument_t *head = NULL, **tail = &head;
    if (!expect_optional_token(p, RJ__TOK_PAREN_L))
        return NULL;
    do {
        rj_gql_ast_argument_t *a = node(p, sizeof(*a));
        a->name = parse_name(p, &a->loc);
        expect_token(p, RJ__TOK_COLON);
        a->value = parse_value(p, is_const);
        *tail = a;
        tail = &a->next;
    } while (!expect_optional_token(p, RJ__TOK_PAREN_R));
    return head;
}

static rj_gql_ast_directive_t *
parse_directives(parser_t *p, bool is_const)
{
    rj_gql_ast_directive_t *head = NULL, **tail = &head;
    while (peek(p, RJ__TOK_AT)) {
        rj_gql_ast_directive_t *d = node(p, sizeof(*d));
        d->loc = tok(p)->loc;
        advance(p);
        d->name = parse_name(p, NULL);
        d->args = parse_arguments(p, is_const);
        *tail = d;
        tail = &d->next;
    }
    return head;
}

static rj_gql_type_ref_t *
parse_named_type(parser_t *p)
{
    rj_gql_type_ref_t *t = node(p, sizeof(*t));
    t->kind = RJ_GQL_TYPE_NAMED;
    t->name = parse_name(p, &t->loc);
    return t;
}

static rj_gql_type_ref_t *
parse_type_ref(parser_t *p)
{
    rj_gql_loc_t loc = tok(p)->loc;
    rj_gql_type_ref_t *t;
    if (expect_optional_token(p, RJ__TOK_BRACKET_L)) {
        enter(p);
        t = node(p, sizeof(*t));
        t->kind = RJ_GQL_TYPE_LIST;
        t->loc = loc;
        t->of_type = parse_type_ref(p);
        expect_token(p, RJ__TOK_BRACKET_R);
        leave(p);
    } else {
        t = parse_named_type(p);
    }
    if (expect_optional_token(p, RJ__TOK_BANG)) {
        rj_gql_type_ref_t *nn = node(p, sizeof(*nn));
        nn->kind = RJ_GQL_TYPE_NON_NULL;
        nn->loc = loc;
        nn->of_type = t;
        return nn;
    }
    return t;
}

/* ---- executable definitions -------------------------------------------------------------- */

static rj_gql_ast_selection_t *parse_selection_set(parser_t *p);

static const char *
parse_fragment_name(parser_t *p, rj_gql_loc_t *loc)
{
    if (is_keyword(p, "on"))
        unexpected(p);
    return parse_name(p, loc);
}

static rj_gql_ast_selection_t *
parse_selection(parser_t *p)
{
    rj_gql_ast_selection_t *s = node(p, sizeof(*s));
    s->loc = tok(p)->loc;
    if (expect_optional_token(p, RJ__TOK_SPREAD)) {
        bool has_cond = expect_optional_keyword(p, "on");
        if (!has_cond && peek(p, RJ__TOK_NAME)) {
            s->kind = RJ_GQL_SEL_FRAGMENT_SPREAD;
            s->name = parse_fragment_name(p, &s->name_loc);
            s->directives = parse_directives(p, false);
            return s;
        }
        s->kind = RJ_GQL_SEL_INLINE_FRAGMENT;
        if (has_cond)
            s->type_condition = parse_name(p, &s->type_condition_loc);
        s->directives = parse_directives(p, false);
        s->selections_loc = tok(p)->loc;
        s->selections = parse_selection_set(p);
        return s;
    }
    s->kind = RJ_GQL_SEL_FIELD;
    const char *name = parse_name(p, &s->name_loc);
    if (expect_optional_token(p, RJ__TOK_COLON)) {
        s->alias = name;
        name = parse_name(p, &s->name_loc);
    }
    s->name = name;
    s->args = parse_arguments(p, false);
    s->directives = parse_directives(p, false);
    if (peek(p, RJ__TOK_BRACE_L)) {
        s->selections_loc = tok(p)->loc;
        s->selections = parse_selection_set(p);
    }
    return s;
}

static rj_gql_ast_selection_t *
parse_selection_set(parser_t *p)
{
    enter(p);
    expect_token(p, RJ__TOK_BRACE_L);
    rj_gql_ast_selection_t *head = NULL, **tail = &head;
    do {
        *tail = parse_selection(p);
        tail = &(*tail)->next;
    } while (!expect_optional_token(p, RJ__TOK_BRACE_R));
    leave(p);
    return head;
}

static rj_gql_op_type_t
parse_operation_type(parser_t *p)
{
    rj__gql_token_t t = expect_token(p, RJ__TOK_NAME);
    if (t.len == 5 && memcmp(t.value, "query", 5) == 0)
        return RJ_GQL_OP_QUERY;
    if (t.len == 8 && memcmp(t.value, "mutation", 8) == 0)
        return RJ_GQL_OP_MUTATION;
    if (t.len == 12 && memcmp(t.value, "subscription", 12) == 0)
        return RJ_GQL_OP_SUBSCRIPTION;
    unexpected_at(p, &t);
}

static rj_gql_ast_definition_t *
parse_operation(parser_t *p)
{
    rj_gql_ast_definition_t *d = node(p, sizeof(*d));
    d->kind = RJ_GQL_DEF_OPERATION;
    d->loc = tok(p)->loc;
    if (peek(p, RJ__TOK_BRACE_L)) {
        d->op = RJ_GQL_OP_QUERY;
        d->shorthand = true;
        d->selections = parse_selection_set(p);
        return d;
    }
    d->op = parse_operation_type(p);
    if (peek(p, RJ__TOK_NAME))
        d->name = parse_name(p, &d->name_loc);
    if (expect_optional_token(p, RJ__TOK_PAREN_L)) {
        rj_gql_ast_variable_t **tail = &d->variables;
        do {
            rj_gql_ast_variable_t *v = node(p, sizeof(*v));
            v->loc = tok(p)->loc;
            expect_token(p, RJ__TOK_DOLLAR);
            v->name = parse_name(p, &v->name_loc);
            expect_token(p, RJ__TOK_COLON);
            v->type = parse_type_ref(p);
            if (expect_optional_token(p, RJ__TOK_EQUALS))
                v->default_value = parse_value(p, true);
            v->directives = parse_directives(p, true);
            *tail = v;
            tail = &v->next;
        } while (!expect_optional_token(p, RJ__TOK_PAREN_R));
    }
    d->directives = parse_directives(p, false);
    d->selections = parse_selection_set(p);
    return d;
}

static rj_gql_ast_definition_t *
parse_fragment(parser_t *p)
{
    rj_gql_ast_definition_t *d = node(p, sizeof(*d));
    d->kind = RJ_GQL_DEF_FRAGMENT;
    d->loc = tok(p)->loc;
    expect_keyword(p, "fragment");
    d->name = parse_fragment_name(p, &d->name_loc);
    expect_keyword(p, "on");
    d->type_condition = parse_name(p, &d->type_condition_loc);
    d->directives = parse_directives(p, false);
    d->selections = parse_selection_set(p);
    return d;
}

/* ---- type-system definitions ------------------------------------------------------------- */

static const char *
parse_description(parser_t *p)
{
    if (peek(p, RJ__TOK_STRING) || peek(p, RJ__TOK_BLOCK_STRING))
        return parse_string_literal(p)->str;
    return NULL;
}

static rj_gql_ast_input_value_t *
parse_input_value_def(parser_t *p)
{
    rj_gql_ast_input_value_t *v = node(p, sizeof(*v));
    v->description = parse_description(p);
    v->name = parse_name(p, &v->loc);
    expect_token(p, RJ__TOK_COLON);
    v->type = parse_type_ref(p);
    if (expect_optional_token(p, RJ__TOK_EQUALS))
        v->default_value = parse_value(p, true);
    v->directives = parse_directives(p, true);
    return v;
}

/* optionalMany(open, parseInputValueDef, close) */
static rj_gql_ast_input_value_t *
parse_input_value_defs(parser_t *p, rj__gql_tok_kind_t open, rj__gql_tok_kind_t close)
{
    rj_gql_ast_input_value_t *head = NULL, **tail = &head;
    if (!expect_optional_token(p, open))
        return NULL;
    do {
        *tail = parse_input_value_def(p);
        tail = &(*tail)->next;
    } while (!expect_optional_token(p, close));
    return head;
}

static rj_gql_ast_field_def_t *
parse_fields_def(parser_t *p)
{
    rj_gql_ast_field_def_t *head = NULL, **tail = &head;
    if (!expect_optional_token(p, RJ__TOK_BRACE_L))
        return NULL;
    do {
        rj_gql_ast_field_def_t *f = node(p, sizeof(*f));
        f->description = parse_description(p);
        f->name = parse_name(p, &f->loc);
        f->args = parse_input_value_defs(p, RJ__TOK_PAREN_L, RJ__TOK_PAREN_R);
        expect_token(p, RJ__TOK_COLON);
        f->type = parse_type_ref(p);
        f->directives = parse_directives(p, true);
        *tail = f;
        tail = &f->next;
    } while (!expect_optional_token(p, RJ__TOK_BRACE_R));
    return head;
}

/* delimitedMany(delim, parseNamedType): an optional leading delimiter, then names. */
static rj_gql_ast_name_t *
parse_name_list(parser_t *p, rj__gql_tok_kind_t delim)
{
    rj_gql_ast_name_t *head = NULL, **tail = &head;
    expect_optional_token(p, delim);
    do {
        rj_gql_ast_name_t *n = node(p, sizeof(*n));
        n->name = parse_name(p, &n->loc);
        *tail = n;
        tail = &n->next;
    } while (expect_optional_token(p, delim));
    return head;
}

static const char *const directive_locations[] = {
    "QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION", "FRAGMENT_SPREAD",
    "INLINE_FRAGMENT", "VARIABLE_DEFINITION", "SCHEMA", "SCALAR", "OBJECT", "FIELD_DEFINITION",
    "ARGUMENT_DEFINITION", "INTERFACE", "UNION", "ENUM", "ENUM_VALUE", "INPUT_OBJECT",
    "INPUT_FIELD_DEFINITION",
};

static rj_gql_ast_name_t *
parse_directive_locations(parser_t *p)
{
    rj_gql_ast_name_t *head = NULL, **tail = &head;
    expect_optional_token(p, RJ__TOK_PIPE);
    do {
        rj__gql_token_t start = *tok(p);
        rj_gql_ast_name_t *n = node(p, sizeof(*n));
        n->name = parse_name(p, &n->loc);
        bool known = false;
        for (size_t i = 0; i < sizeof(directive_locations) / sizeof(*directive_locations); i++)
            known = known || strcmp(n->name, directive_locations[i]) == 0;
        if (!known)
            unexpected_at(p, &start);
        *tail = n;
        tail = &n->next;
    } while (expect_optional_token(p, RJ__TOK_PIPE));
    return head;
}

static rj_gql_ast_enum_value_t *
parse_enum_values(parser_t *p)
{
    rj_gql_ast_enum_value_t *head = NULL, **tail = &head;
    if (!expect_optional_token(p, RJ__TOK_BRACE_L))
        return NULL;
    do {
        rj_gql_ast_enum_value_t *v = node(p, sizeof(*v));
        v->description = parse_description(p);
        if (is_keyword(p, "true") || is_keyword(p, "false") || is_keyword(p, "null")) {
            char desc[100];
            rj__gql_token_desc(tok(p), desc, sizeof(desc));
            syntax_error(p, tok(p)->loc, "%s is reserved and cannot be used for an enum value.",
                         desc);
        }
        v->name = parse_name(p, &v->loc);
        v->directives = parse_directives(p, true);
        *tail = v;
        tail = &v->next;
    } while (!expect_optional_token(p, RJ__TOK_BRACE_R));
    return head;
}

static rj_gql_ast_root_op_t *
parse_root_ops(parser_t *p, bool required)
{
    rj_gql_ast_root_op_t *head = NULL, **tail = &head;
    if (required)
        expect_token(p, RJ__TOK_BRACE_L);
    else if (!expect_optional_token(p, RJ__TOK_BRACE_L))
        return NULL;
    do {
        rj_gql_ast_root_op_t *r = node(p, sizeof(*r));
        r->loc = tok(p)->loc;
        r->op = parse_operation_type(p);
        expect_token(p, RJ__TOK_COLON);
        r->type_name = parse_name(p, NULL);
        *tail = r;
        tail = &r->next;
    } while (!expect_optional_token(p, RJ__TOK_BRACE_R));
    return head;
}

/*
 * A type-system definition or extension whose keyword is the current token. For
 * extensions, graphql-js requires at least one of the optional parts, else "Unexpected".
 */
static rj_gql_ast_definition_t *
parse_type_system(parser_t *p, const char *description, bool extend,
                  const rj__gql_token_t *ext_tok)
{
    rj_gql_ast_definition_t *d = node(p, sizeof(*d));
    d->description = description;
    d->extend = extend;
    d->loc = extend ? ext_tok->loc : tok(p)->loc;
    bool empty;
    if (expect_optional_keyword(p, "schema")) {
        d->kind = RJ_GQL_DEF_SCHEMA;
        d->directives = parse_directives(p, true);
        d->root_ops = parse_root_ops(p, !extend);
        empty = d->directives == NULL && d->root_ops == NULL;
    } else if (expect_optional_keyword(p, "scalar")) {
        d->kind = RJ_GQL_DEF_SCALAR;
        d->name = parse_name(p, &d->name_loc);
        d->directives = parse_directives(p, true);
        empty = d->directives == NULL;
    } else if (is_keyword(p, "type") || is_keyword(p, "interface")) {
        d->kind = is_keyword(p, "type") ? RJ_GQL_DEF_OBJECT : RJ_GQL_DEF_INTERFACE;
        advance(p);
        d->name = parse_name(p, &d->name_loc);
        if (expect_optional_keyword(p, "implements"))
            d->interfaces = parse_name_list(p, RJ__TOK_AMP);
        d->directives = parse_directives(p, true);
        d->fields = parse_fields_def(p);
        empty = d->interfaces == NULL && d->directives == NULL && d->fields == NULL;
    } else if (expect_optional_keyword(p, "union")) {
        d->kind = RJ_GQL_DEF_UNION;
        d->name = parse_name(p, &d->name_loc);
        d->directives = parse_directives(p, true);
        if (expect_optional_token(p, RJ__TOK_EQUALS))
            d->members = parse_name_list(p, RJ__TOK_PIPE);
        empty = d->directives == NULL && d->members == NULL;
    } else if (expect_optional_keyword(p, "enum")) {
        d->kind = RJ_GQL_DEF_ENUM;
        d->name = parse_name(p, &d->name_loc);
        d->directives = parse_directives(p, true);
        d->enum_values = parse_enum_values(p);
        empty = d->directives == NULL && d->enum_values == NULL;
    } else if (expect_optional_keyword(p, "input")) {
        d->kind = RJ_GQL_DEF_INPUT_OBJECT;
        d->name = parse_name(p, &d->name_loc);
        d->directives = parse_directives(p, true);
        d->input_values = parse_input_value_defs(p, RJ__TOK_BRACE_L, RJ__TOK_BRACE_R);
        empty = d->directives == NULL && d->input_values == NULL;
    } else if (!extend && expect_optional_keyword(p, "directive")) {
        d->kind = RJ_GQL_DEF_DIRECTIVE;
        expect_token(p, RJ__TOK_AT);
        d->name = parse_name(p, &d->name_loc);
        d->input_values = parse_input_value_defs(p, RJ__TOK_PAREN_L, RJ__TOK_PAREN_R);
        d->repeatable = expect_optional_keyword(p, "repeatable");
        expect_keyword(p, "on");
        d->members = parse_directive_locations(p);
        empty = false;
    } else {
        unexpected(p);
    }
    if (extend && empty)
        unexpected(p);
    return d;
}

static rj_gql_ast_definition_t *
parse_definition(parser_t *p)
{
    if (peek(p, RJ__TOK_BRACE_L))
        return parse_operation(p);
    rj_gql_loc_t desc_loc = tok(p)->loc;
    const char *description = parse_description(p);
    bool has_description = description != NULL;
    if (peek(p, RJ__TOK_NAME)) {
        static const char *const type_system[] = {"schema", "scalar",    "type",  "interface",
                                                  "union",  "enum",      "input", "directive"};
        for (size_t i = 0; i < sizeof(type_system) / sizeof(*type_system); i++)
            if (is_keyword(p, type_system[i]))
                return parse_type_system(p, description, false, NULL);
        if (has_description)
            syntax_error(p, desc_loc,
                         "Unexpected description, descriptions are supported only on type "
                         "definitions.");
        if (is_keyword(p, "query") || is_keyword(p, "mutation") || is_keyword(p, "subscription"))
            return parse_operation(p);
        if (is_keyword(p, "fragment"))
            return parse_fragment(p);
        if (is_keyword(p, "extend")) {
            rj__gql_token_t ext = *tok(p);
            advance(p);
            return parse_type_system(p, NULL, true, &ext);
        }
    }
    unexpected(p);
}

/* ---- entry points ------------------------------------------------------------------------- */

rj_gql_doc_t *
rj_gql_parse(const char *src, size_t len, const rj_gql_limits_t *lim, json_t **error_obj)
{
    if (error_obj != NULL)
        *error_obj = NULL;
    if (lim == NULL)
        lim = &rj_gql_default_limits;
    if (len > lim->max_bytes) {
        if (error_obj != NULL)
            *error_obj = rj__gql_error_new(NULL, "Document of %zu bytes exceeds the limit of %zu "
                                                 "bytes.", len, lim->max_bytes);
        return NULL;
    }
    rj_gql_doc_t *doc = rj_xcalloc(1, sizeof(*doc));
    doc->refs = 1;
    rj__gql_arena_init(&doc->arena);

    /* volatile: modified after setjmp and read after longjmp. */
    parser_t *volatile p = rj_xcalloc(1, sizeof(*p));
    p->arena = &doc->arena;
    p->lim = lim;
    rj__gql_lexer_init(&p->lx, src, len, &doc->arena);
    if (setjmp(p->fail) != 0) {
        if (error_obj != NULL)
            *error_obj = p->error;
        else
            json_decref(p->error);
        free(p);
        rj_gql_doc_free(doc);
        return NULL;
    }
    advance(p); /* from <SOF> to the first token */
    rj_gql_ast_definition_t **tail = &doc->defs;
    do {
        *tail = parse_definition(p);
        tail = &(*tail)->next;
    } while (!peek(p, RJ__TOK_EOF));
    free(p);
    /* Validation and execution look fragments up per spread: a scan of the definitions
     * would make a document with many fragments and spreads quadratic. The first
     * definition of a name wins, as the scan did (UniqueFragmentNames reports the rest). */
    for (const rj_gql_ast_definition_t *d = doc->defs; d != NULL; d = d->next)
        if (d->kind == RJ_GQL_DEF_FRAGMENT && rj__gql_map_get(&doc->fragments, d->name) == NULL)
            rj__gql_map_put(&doc->fragments, d->name, d);
    return doc;
}

rj_gql_doc_t *
rj_gql_doc_ref(rj_gql_doc_t *doc)
{
    doc->refs++;
    return doc;
}

void
rj_gql_doc_free(rj_gql_doc_t *doc)
{
    if (doc == NULL || --doc->refs > 0)
        return;
    rj__gql_map_deinit(&doc->fragments);
    rj__gql_arena_deinit(&doc->arena);
    free(doc);
}

const rj_gql_ast_definition_t *
rj_gql_doc_definitions(const rj_gql_doc_t *doc)
{
    return doc->defs;
}

const rj_gql_ast_definition_t *
rj__gql_doc_fragment(const rj_gql_doc_t *doc, const char *name)
{
    return rj__gql_map_get(&doc->fragments, name);
}
