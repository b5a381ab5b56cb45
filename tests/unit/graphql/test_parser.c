/*
 * test_parser.c - the GraphQL lexer and parser: every token kind, strings and block
 * strings, escapes, limits, SDL with directives and descriptions, and graphql-js's syntax
 * error messages with their exact line and column.
 */
#include "gql_test.h"

static void
expect_syntax_error(const char *src, const char *message, int line, int column)
{
    json_t *e = NULL;
    rj_gql_doc_t *d = rj_gql_parse(src, strlen(src), NULL, &e);
    cr_assert_null(d, "parsed: %s", src);
    cr_assert_not_null(e);
    cr_expect_str_eq(json_string_value(json_object_get(e, "message")), message, "source: %s", src);
    json_t *loc = json_array_get(json_object_get(e, "locations"), 0);
    cr_expect_eq(json_integer_value(json_object_get(loc, "line")), line, "line of %s", src);
    cr_expect_eq(json_integer_value(json_object_get(loc, "column")), column, "column of %s", src);
    json_decref(e);
}

/* The value of argument `x` of the first field of the first operation. */
static const rj_gql_ast_value_t *
first_arg(const rj_gql_doc_t *d)
{
    return rj_gql_doc_definitions(d)->selections->args->value;
}

Test(parser, operation_with_every_token_kind)
{
    const char *q = "# comment\n"
                    "query Q($id: ID! = \"x\", $n: [Int!]) @dir(a: 1) {\n"
                    "  alias: field(a: 1, b: -2.5e3, c: \"s\", d: true, e: null, f: ENUM,\n"
                    "               g: [1, 2], h: {k: $n}, i: $id) @skip(if: false) {\n"
                    "    ...Frag\n"
                    "    ... on T { x }\n"
                    "    ... @include(if: true) { y }\n"
                    "  }\n"
                    "}\n"
                    "fragment Frag on T { z }\n";
    rj_gql_doc_t *d = parse_ok(q);
    const rj_gql_ast_definition_t *op = rj_gql_doc_definitions(d);
    cr_assert_eq(op->kind, RJ_GQL_DEF_OPERATION);
    cr_expect_eq(op->op, RJ_GQL_OP_QUERY);
    cr_expect_str_eq(op->name, "Q");
    cr_expect_eq(op->loc.line, 2);
    cr_expect_eq(op->loc.column, 1);
    cr_expect_str_eq(op->variables->name, "id");
    cr_expect_eq(op->variables->type->kind, RJ_GQL_TYPE_NON_NULL);
    cr_expect_str_eq(op->variables->default_value->str, "x");
    char *ts = rj_gql_type_ref_to_string(op->variables->next->type);
    cr_expect_str_eq(ts, "[Int!]");
    free(ts);
    cr_expect_str_eq(op->directives->name, "dir");

    const rj_gql_ast_selection_t *f = op->selections;
    cr_expect_str_eq(f->alias, "alias");
    cr_expect_str_eq(f->name, "field");
    cr_expect_eq(f->loc.line, 3);
    cr_expect_eq(f->loc.column, 3);
    const rj_gql_ast_argument_t *a = f->args;
    cr_expect_eq(a->value->kind, RJ_GQL_VALUE_INT);
    a = a->next;
    cr_expect_eq(a->value->kind, RJ_GQL_VALUE_FLOAT);
    cr_expect_str_eq(a->value->str, "-2.5e3");
    a = a->next;
    cr_expect_eq(a->value->kind, RJ_GQL_VALUE_STRING);
    a = a->next;
    cr_expect_eq(a->value->kind, RJ_GQL_VALUE_BOOLEAN);
    cr_expect(a->value->boolean);
    a = a->next;
    cr_expect_eq(a->value->kind, RJ_GQL_VALUE_NULL);
    a = a->next;
    cr_expect_eq(a->value->kind, RJ_GQL_VALUE_ENUM);
    a = a->next;
    cr_expect_eq(a->value->kind, RJ_GQL_VALUE_LIST);
    a = a->next;
    cr_expect_eq(a->value->kind, RJ_GQL_VALUE_OBJECT);
    cr_expect_eq(a->value->fields->value->kind, RJ_GQL_VALUE_VARIABLE);
    a = a->next;
    cr_expect_str_eq(a->value->str, "id");
    cr_expect_str_eq(f->directives->name, "skip");

    const rj_gql_ast_selection_t *s = f->selections;
    cr_expect_eq(s->kind, RJ_GQL_SEL_FRAGMENT_SPREAD);
    cr_expect_str_eq(s->name, "Frag");
    s = s->next;
    cr_expect_eq(s->kind, RJ_GQL_SEL_INLINE_FRAGMENT);
    cr_expect_str_eq(s->type_condition, "T");
    s = s->next;
    cr_expect_eq(s->kind, RJ_GQL_SEL_INLINE_FRAGMENT);
    cr_expect_null(s->type_condition);
    cr_expect_str_eq(s->directives->name, "include");

    const rj_gql_ast_definition_t *frag = op->next;
    cr_expect_eq(frag->kind, RJ_GQL_DEF_FRAGMENT);
    cr_expect_str_eq(frag->type_condition, "T");
    json_t *v = rj_gql_value_to_json(op->selections->args->next->next->next->next->next->next->next->value,
                                     NULL);
    cr_expect(json_is_null(json_object_get(v, "k")));
    json_decref(v);
    rj_gql_doc_free(d);
}

Test(parser, shorthand_and_operation_types)
{
    rj_gql_doc_t *d = parse_ok("{ a } mutation M { b } subscription { c }");
    const rj_gql_ast_definition_t *op = rj_gql_doc_definitions(d);
    cr_expect(op->shorthand);
    cr_expect_eq(op->op, RJ_GQL_OP_QUERY);
    cr_expect_eq(op->next->op, RJ_GQL_OP_MUTATION);
    cr_expect_eq(op->next->next->op, RJ_GQL_OP_SUBSCRIPTION);
    cr_expect_null(op->next->next->name);
    rj_gql_doc_free(d);
}

Test(parser, string_escapes)
{
    rj_gql_doc_t *d = parse_ok("{ f(x: \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\uD83D\\uDE00\\u{1F600}\") }");
    const rj_gql_ast_value_t *v = first_arg(d);
    const char want[] = "a\"b\\c/d\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xf0\x9f\x98\x80";
    cr_expect_eq(v->len, strlen(want));
    cr_expect_str_eq(v->str, want);
    rj_gql_doc_free(d);
}

Test(parser, string_with_nul_escape_keeps_length)
{
    rj_gql_doc_t *d = parse_ok("{ f(x: \"a\\u0000b\") }");
    cr_expect_eq(first_arg(d)->len, 3);
    json_t *j = rj_gql_value_to_json(first_arg(d), NULL);
    cr_expect_eq(json_string_length(j), 3);
    json_decref(j);
    rj_gql_doc_free(d);
}

Test(parser, block_string_indentation)
{
    rj_gql_doc_t *d = parse_ok("{ f(x: \"\"\"\n"
                               "\n"
                               "    Hello,\n"
                               "      World!\n"
                               "\n"
                               "    Yours,\n"
                               "      GraphQL \\\"\"\" \"quotes\".\n"
                               "  \n"
                               "  \"\"\") g }");
    const rj_gql_ast_value_t *v = first_arg(d);
    cr_expect(v->block);
    cr_expect_str_eq(v->str, "Hello,\n  World!\n\nYours,\n  GraphQL \"\"\" \"quotes\".");
    /* the lexer continues on the right line after a multi-line block string */
    const rj_gql_ast_selection_t *g = rj_gql_doc_definitions(d)->selections->next;
    cr_expect_eq(g->loc.line, 9);
    cr_expect_eq(g->loc.column, 8);
    rj_gql_doc_free(d);
}

Test(parser, block_string_single_line_and_crlf)
{
    rj_gql_doc_t *d = parse_ok("{ f(x: \"\"\"  one line  \"\"\") }");
    cr_expect_str_eq(first_arg(d)->str, "  one line  ");
    rj_gql_doc_free(d);
    d = parse_ok("{ f(x: \"\"\"\r\n  a\r\n    b\r\n\"\"\") }");
    cr_expect_str_eq(first_arg(d)->str, "a\n  b");
    rj_gql_doc_free(d);
}

Test(parser, numbers_to_json)
{
    /*
     * Ramjet's one number encoding: 2e3 is the integer 2000; beyond the double range a
     * literal is Infinity to graphql-js, which JSON prints as null (typed Float literals
     * are refused instead, in coerce.c).
     */
    rj_gql_doc_t *d = parse_ok("{ f(x: [0, -7, 1.5, 2e3, 9223372036854775808, 1e309, -1e400]) }");
    assert_json_take(rj_gql_value_to_json(first_arg(d), NULL),
                     "[0,-7,1.5,2000,9.2233720368547758e18,null,null]");
    rj_gql_doc_free(d);
}

Test(parser, lexical_errors)
{
    expect_syntax_error("{ a(x: \"abc) }", "Syntax Error: Unterminated string.", 1, 15);
    expect_syntax_error("{ a(x: \"a\nb\") }", "Syntax Error: Unterminated string.", 1, 10);
    expect_syntax_error("{ a(x: \"\\q\") }",
                        "Syntax Error: Invalid character escape sequence: \"\\q\".", 1, 9);
    expect_syntax_error("{ a(x: \"\\u12G4\") }",
                        "Syntax Error: Invalid Unicode escape sequence: \"\\u12G4\".", 1, 9);
    expect_syntax_error("{ a(x: \"\\uD83D\") }",
                        "Syntax Error: Invalid Unicode escape sequence: \"\\uD83D\".", 1, 9);
    expect_syntax_error("{ a(x: 01) }", "Syntax Error: Invalid number, unexpected digit after 0: "
                                        "\"1\".", 1, 9);
    expect_syntax_error("{ a(x: 1.) }",
                        "Syntax Error: Invalid number, expected digit but got: \")\".", 1, 10);
    expect_syntax_error("{ a(x: 1.5e) }",
                        "Syntax Error: Invalid number, expected digit but got: \")\".", 1, 12);
    expect_syntax_error("{ a(x: 12abc) }",
                        "Syntax Error: Invalid number, expected digit but got: \"a\".", 1, 10);
    expect_syntax_error("{ a(x: -) }",
                        "Syntax Error: Invalid number, expected digit but got: \")\".", 1, 9);
    expect_syntax_error("{ ?a }", "Syntax Error: Unexpected character: \"?\".", 1, 3);
    expect_syntax_error("{ .. }", "Syntax Error: Unexpected character: \".\".", 1, 3);
    expect_syntax_error("{ a(x: 'b') }",
                        "Syntax Error: Unexpected single quote character ('), did you mean to "
                        "use a double quote (\")?",
                        1, 8);
    expect_syntax_error("{\n  \xc3\xa9 }", "Syntax Error: Unexpected character: U+00E9.", 2, 3);
    expect_syntax_error("\"\"\"abc", "Syntax Error: Unterminated string.", 1, 7);
}

/*
 * Columns count UTF-16 code units, as graphql-js does (found by tests/oracle): two-byte
 * and three-byte UTF-8 characters are one unit each, four-byte ones (astral) two.
 */
Test(parser, columns_in_utf16_units)
{
    /* "é" is 2 bytes, 1 unit; the error is at the '^' */
    expect_syntax_error("{ a(x: \"\xc3\xa9\") ^ }", "Syntax Error: Unexpected character: \"^\".", 1,
                        13);
    /* "€" is 3 bytes, 1 unit; U+1F600 is 4 bytes, 2 units */
    expect_syntax_error("{ a(x: \"\xe2\x82\xac\xf0\x9f\x98\x80\") ^ }",
                        "Syntax Error: Unexpected character: \"^\".", 1, 15);
    /* counting restarts on every line, also after a block string spanning lines */
    expect_syntax_error("{ a(x: \"\"\"\xc3\xa9\n\xc3\xa9\"\"\") ^ }",
                        "Syntax Error: Unexpected character: \"^\".", 2, 7);
}

/* Messages quoting invalid UTF-8 stay valid JSON strings (found by tests/fuzz). */
Test(parser, error_message_with_invalid_utf8)
{
    expect_syntax_error("{ a(x: \"\\\xb2\xb2\") }",
                        "Syntax Error: Invalid character escape sequence: \"\\\xef\xbf\xbd\".", 1,
                        9);
}

Test(parser, grammar_errors)
{
    expect_syntax_error("{", "Syntax Error: Expected Name, found <EOF>.", 1, 2);
    expect_syntax_error("", "Syntax Error: Unexpected <EOF>.", 1, 1);
    expect_syntax_error("{ a }}", "Syntax Error: Unexpected \"}\".", 1, 6);
    expect_syntax_error("{ a(x: ) }", "Syntax Error: Unexpected \")\".", 1, 8);
    expect_syntax_error("{ a(x 1) }", "Syntax Error: Expected \":\", found Int \"1\".", 1, 7);
    expect_syntax_error("query Q($v Int) { a }", "Syntax Error: Expected \":\", found Name "
                                                 "\"Int\".", 1, 12);
    expect_syntax_error("query Q($v: Int = $w) { a }",
                        "Syntax Error: Unexpected variable \"$w\" in constant value.", 1, 19);
    expect_syntax_error("fragment on on T { a }", "Syntax Error: Unexpected Name \"on\".", 1, 10);
    expect_syntax_error("fragment F T { a }", "Syntax Error: Expected \"on\", found Name \"T\".",
                        1, 12);
    expect_syntax_error("notakeyword { a }", "Syntax Error: Unexpected Name \"notakeyword\".", 1,
                        1);
    expect_syntax_error("{ a { } }", "Syntax Error: Expected Name, found \"}\".", 1, 7);
    expect_syntax_error("\"desc\" query { a }",
                        "Syntax Error: Unexpected description, descriptions are supported only "
                        "on type definitions.",
                        1, 1);
    expect_syntax_error("{ a(x: \"s\") \n\n  b(y: [1, 2 }",
                        "Syntax Error: Unexpected \"}\".", 3, 14);
}

Test(parser, sdl_errors)
{
    expect_syntax_error("type A {}", "Syntax Error: Expected Name, found \"}\".", 1, 9);
    expect_syntax_error("type A { f }", "Syntax Error: Expected \":\", found \"}\".", 1, 12);
    expect_syntax_error("enum E { true }",
                        "Syntax Error: Name \"true\" is reserved and cannot be used for an enum "
                        "value.",
                        1, 10);
    expect_syntax_error("extend type A", "Syntax Error: Unexpected <EOF>.", 1, 14);
    expect_syntax_error("extend thing A", "Syntax Error: Unexpected Name \"thing\".", 1, 8);
    expect_syntax_error("directive @d on NOWHERE", "Syntax Error: Unexpected Name \"NOWHERE\".", 1,
                        17);
}

Test(parser, sdl_definitions_with_directives_and_descriptions)
{
    const char *sdl =
        "\"\"\"\n  The schema\n\"\"\"\n"
        "schema @meta { query: Q mutation: M }\n"
        "\"A scalar\" scalar Date @specifiedBy(url: \"https://example.com\")\n"
        "type Cart implements A & B @entity(authorizeReadEvents: ALL) {\n"
        "  \"the id\" id: ID!\n"
        "  items(first: Int = 10 @deprecated, \"after\" after: String): [Item!]! @calculated(dependsOn: [\"x\"])\n"
        "}\n"
        "interface A implements B { id: ID! }\n"
        "union U @u = | X | Y\n"
        "enum E { \"first\" ONE @deprecated TWO }\n"
        "input I @command(authorize: ALL, entity: \"Cart\") { a: Int = 1 b: [String!]! }\n"
        "directive @entity(authorizeReadEvents: [String]) repeatable on OBJECT | FIELD_DEFINITION\n"
        "extend type Cart @more { extra: String }\n"
        "extend schema { subscription: S }\n"
        "extend union U = Z\n"
        "extend enum E { THREE }\n"
        "extend input I { c: Int }\n"
        "extend scalar Date @x\n"
        "extend interface A @y\n";
    rj_gql_doc_t *d = parse_ok(sdl);
    const rj_gql_ast_definition_t *def = rj_gql_doc_definitions(d);
    cr_expect_eq(def->kind, RJ_GQL_DEF_SCHEMA);
    cr_expect_str_eq(def->description, "The schema");
    cr_expect_eq(def->root_ops->next->op, RJ_GQL_OP_MUTATION);
    cr_expect_str_eq(def->root_ops->next->type_name, "M");
    def = def->next;
    cr_expect_eq(def->kind, RJ_GQL_DEF_SCALAR);
    cr_expect_str_eq(def->description, "A scalar");
    def = def->next;
    cr_expect_eq(def->kind, RJ_GQL_DEF_OBJECT);
    cr_expect_str_eq(def->interfaces->next->name, "B");
    cr_expect_str_eq(def->directives->name, "entity");
    cr_expect_str_eq(def->fields->description, "the id");
    const rj_gql_ast_field_def_t *items = def->fields->next;
    cr_expect_str_eq(items->args->default_value->str, "10");
    cr_expect_str_eq(items->args->directives->name, "deprecated");
    cr_expect_str_eq(items->args->next->description, "after");
    cr_expect_str_eq(items->directives->name, "calculated");
    def = def->next;
    cr_expect_eq(def->kind, RJ_GQL_DEF_INTERFACE);
    def = def->next;
    cr_expect_eq(def->kind, RJ_GQL_DEF_UNION);
    cr_expect_str_eq(def->members->name, "X");
    def = def->next;
    cr_expect_eq(def->kind, RJ_GQL_DEF_ENUM);
    cr_expect_str_eq(def->enum_values->description, "first");
    cr_expect_str_eq(def->enum_values->next->name, "TWO");
    def = def->next;
    cr_expect_eq(def->kind, RJ_GQL_DEF_INPUT_OBJECT);
    def = def->next;
    cr_expect_eq(def->kind, RJ_GQL_DEF_DIRECTIVE);
    cr_expect(def->repeatable);
    cr_expect_str_eq(def->members->next->name, "FIELD_DEFINITION");
    int extensions = 0;
    for (def = def->next; def != NULL; def = def->next)
        extensions += def->extend;
    cr_expect_eq(extensions, 7);
    rj_gql_doc_free(d);
}

Test(parser, limits)
{
    rj_gql_limits_t lim = {.max_bytes = 10, .max_tokens = 100, .max_depth = 64};
    json_t *e = NULL;
    cr_expect_null(rj_gql_parse("{ aaaaaaaaaaaaaa }", 18, &lim, &e));
    cr_expect_str_eq(json_string_value(json_object_get(e, "message")),
                     "Document of 18 bytes exceeds the limit of 10 bytes.");
    json_decref(e);

    lim = (rj_gql_limits_t){.max_bytes = 1000, .max_tokens = 4, .max_depth = 64};
    cr_expect_null(rj_gql_parse("{ a b c }", 9, &lim, &e));
    cr_expect_str_eq(json_string_value(json_object_get(e, "message")),
                     "Syntax Error: Document contains more than 4 tokens. Parsing aborted.");
    json_decref(e);

    lim = (rj_gql_limits_t){.max_bytes = 1000, .max_tokens = 1000, .max_depth = 3};
    cr_expect_null(rj_gql_parse("{ a { b { c { d } } } }", 23, &lim, &e));
    cr_expect_str_eq(json_string_value(json_object_get(e, "message")),
                     "Syntax Error: Document exceeds the maximum nesting depth of 3.");
    json_decref(e);
    rj_gql_doc_t *d = rj_gql_parse("{ a { b { c } } }", 17, &lim, NULL);
    cr_expect_not_null(d);
    rj_gql_doc_free(d);

    /* deep lists nest too, and must not blow the stack with the default limits */
    char deep[2000];
    memset(deep, '[', sizeof(deep));
    memcpy(deep, "{ a(x: ", 7);
    cr_expect_null(rj_gql_parse(deep, sizeof(deep), NULL, NULL));
}

Test(parser, doc_refcount)
{
    rj_gql_doc_t *d = parse_ok("{ a }");
    cr_expect_eq(rj_gql_doc_ref(d), d);
    rj_gql_doc_free(d);
    cr_expect_str_eq(rj_gql_doc_definitions(d)->selections->name, "a");
    rj_gql_doc_free(d);
    rj_gql_doc_free(NULL);
}
