/*
 * test_validate.c - the validation rules, each with a passing and a failing document, and
 * graphql-js 16's exact messages and locations.
 */
#include "gql_test.h"
#include "../test_time.h"

static rj_gql_schema_t *schema;

static void
setup(void)
{
    schema = shop_schema();
}

static void
teardown(void)
{
    rj_gql_schema_free(schema);
}

TestSuite(validate, .init = setup, .fini = teardown);

static void
expect_valid(const char *q)
{
    rj_gql_doc_t *d = parse_ok(q);
    json_t *e = rj_gql_validate(schema, d);
    if (e != NULL) {
        char *s = json_dumps(e, JSON_COMPACT);
        cr_expect_fail("expected valid: %s\nerrors: %s", q, s);
        free(s);
        json_decref(e);
    }
    rj_gql_doc_free(d);
}

/* Expects @p n errors, the first as given; @p locs is the compact JSON of its locations. */
static void
expect_errors(const char *q, size_t n, const char *message, const char *locs)
{
    rj_gql_doc_t *d = parse_ok(q);
    json_t *e = rj_gql_validate(schema, d);
    cr_assert_not_null(e, "expected invalid: %s", q);
    char *all = json_dumps(e, JSON_COMPACT);
    cr_expect_eq(json_array_size(e), n, "errors of %s: %s", q, all);
    json_t *first = json_array_get(e, 0);
    cr_expect_str_eq(json_string_value(json_object_get(first, "message")), message, "all: %s",
                     all);
    char *l = json_dumps(json_object_get(first, "locations"), JSON_COMPACT);
    cr_expect_str_eq(l, locs, "for %s", q);
    free(l);
    free(all);
    json_decref(e);
    rj_gql_doc_free(d);
}

static void
expect_error(const char *q, const char *message, const char *locs)
{
    expect_errors(q, 1, message, locs);
}

Test(validate, shop_operations_are_valid)
{
    expect_valid("query Q($id: ID!) { CartReadModel(id: $id) { id cartItems { productId quantity } "
                 "...F } } fragment F on CartReadModel { __typename note }");
    expect_valid("mutation($input: ChangeCartItemInput!) { ChangeCartItem(input: $input) }");
    expect_valid("mutation { ChangeCartItem(input: {cartId: \"c\", productId: 1, quantity: 2}) }");
    expect_valid("subscription { CartReadModel(id: \"1\") { id } }");
    expect_valid("{ search(text: \"x\") { ... on Product { name } ... on Node { id } } }");
    expect_valid("{ echo(value: {any: [1, {deep: true}]}, list: 1) }");
    expect_valid("query($l: Int = 3) { CartReadModels(limit: $l, status: OPEN) { id } }");
}

Test(validate, operations)
{
    expect_error("query A { __typename } query A { __typename }",
                 "There can be only one operation named \"A\".",
                 "[{\"line\":1,\"column\":7},{\"line\":1,\"column\":30}]");
    expect_error("{ __typename } query B { __typename }",
                 "This anonymous operation must be the only defined operation.",
                 "[{\"line\":1,\"column\":1}]");
    expect_error("subscription S { CartReadModel(id: 1) { id } other }",
                 "Subscription \"S\" must select only one top level field.",
                 "[{\"line\":1,\"column\":46}]");
    expect_error("subscription { __typename }",
                 "Anonymous Subscription must not select an introspection top level field.",
                 "[{\"line\":1,\"column\":16}]");
    expect_error("{ __typename } type T { a: Int }", "The \"T\" definition is not executable.",
                 "[{\"line\":1,\"column\":16}]");
}

Test(validate, fields)
{
    expect_error("{ CartReadModel(id: 1) { id nope } }",
                 "Cannot query field \"nope\" on type \"CartReadModel\". Did you mean \"note\"?",
                 "[{\"line\":1,\"column\":29}]");
    expect_error("{ CartReadModel(id: 1) { xyzzy } }",
                 "Cannot query field \"xyzzy\" on type \"CartReadModel\".",
                 "[{\"line\":1,\"column\":26}]");
    expect_error("{ search(text: \"\") { name } }",
                 "Cannot query field \"name\" on type \"SearchResult\". Did you mean to use an "
                 "inline fragment on \"Product\"?",
                 "[{\"line\":1,\"column\":22}]");
    expect_error("{ CartReadModel(id: 1) }",
                 "Field \"CartReadModel\" of type \"CartReadModel\" must have a selection of "
                 "subfields. Did you mean \"CartReadModel { ... }\"?",
                 "[{\"line\":1,\"column\":3}]");
    expect_error("{ CartReadModel(id: 1) { id { x } } }",
                 "Field \"id\" must not have a selection since type \"ID!\" has no subfields.",
                 "[{\"line\":1,\"column\":29}]");
}

Test(validate, arguments)
{
    expect_error("{ CartReadModel(id: 1, idd: 2) { id } }",
                 "Unknown argument \"idd\" on field \"Query.CartReadModel\". Did you mean \"id\"?",
                 "[{\"line\":1,\"column\":24}]");
    expect_error("{ CartReadModel { id } }",
                 "Field \"CartReadModel\" argument \"id\" of type \"ID!\" is required, but it "
                 "was not provided.",
                 "[{\"line\":1,\"column\":3}]");
    expect_error("{ CartReadModel(id: 1, id: 2) { id } }",
                 "There can be only one argument named \"id\".",
                 "[{\"line\":1,\"column\":17},{\"line\":1,\"column\":24}]");
    expect_error("{ __typename @skip }",
                 "Directive \"@skip\" argument \"if\" of type \"Boolean!\" is required, but it "
                 "was not provided.",
                 "[{\"line\":1,\"column\":14}]");
    expect_error("{ __typename @skip(if: true, unless: false) }",
                 "Unknown argument \"unless\" on directive \"@skip\".",
                 "[{\"line\":1,\"column\":30}]");
}

Test(validate, values)
{
    expect_error("mutation { ChangeCartItem(input: {productId: 1, quantity: 2}) }",
                 "Field \"ChangeCartItemInput.cartId\" of required type \"ID!\" was not provided.",
                 "[{\"line\":1,\"column\":34}]");
    expect_error("mutation { ChangeCartItem(input: {cartId: 1, productId: 1, quantity: \"x\"}) }",
                 "Float cannot represent non numeric value: \"x\"", "[{\"line\":1,\"column\":70}]");
    expect_error("mutation { ChangeCartItem(input: {cartId: 1, productId: 1, quantity: 1, "
                 "quantty: 2}) }",
                 "Field \"quantty\" is not defined by type \"ChangeCartItemInput\". Did you mean "
                 "\"quantity\"?",
                 "[{\"line\":1,\"column\":73}]");
    expect_error("{ CartReadModels(limit: 1.5) { id } }", "Int cannot represent non-integer value: 1.5",
                 "[{\"line\":1,\"column\":25}]");
    expect_error("{ CartReadModels(limit: 3000000000) { id } }",
                 "Int cannot represent non 32-bit signed integer value: 3000000000",
                 "[{\"line\":1,\"column\":25}]");
    expect_error("{ CartReadModels(status: OPNE) { id } }",
                 "Value \"OPNE\" does not exist in \"Status\" enum. Did you mean the enum "
                 "value \"OPEN\"?",
                 "[{\"line\":1,\"column\":26}]");
    expect_error("{ CartReadModels(status: \"OPEN\") { id } }",
                 "Enum \"Status\" cannot represent non-enum value: \"OPEN\". Did you mean the "
                 "enum value \"OPEN\"?",
                 "[{\"line\":1,\"column\":26}]");
    expect_error("{ CartReadModel(id: null) { id } }",
                 "Expected value of type \"ID!\", found null.", "[{\"line\":1,\"column\":21}]");
    expect_error("{ CartReadModel(id: 1.5) { id } }",
                 "ID cannot represent a non-string and non-integer value: 1.5",
                 "[{\"line\":1,\"column\":21}]");
    expect_error("{ echo(list: [1, \"2\"]) }", "Int cannot represent non-integer value: \"2\"",
                 "[{\"line\":1,\"column\":18}]");
    expect_error("{ echo(value: {a: 1, a: 2}) }",
                 "There can be only one input field named \"a\".",
                 "[{\"line\":1,\"column\":16},{\"line\":1,\"column\":22}]");
}

Test(validate, fragments)
{
    expect_error("{ ...Nope }", "Unknown fragment \"Nope\".", "[{\"line\":1,\"column\":6}]");
    expect_error("{ __typename } fragment F on Query { __typename }", "Fragment \"F\" is never used.",
                 "[{\"line\":1,\"column\":16}]");
    expect_error("{ ...F } fragment F on Query { __typename } fragment F on Query { __typename }",
                 "There can be only one fragment named \"F\".",
                 "[{\"line\":1,\"column\":19},{\"line\":1,\"column\":54}]");
    expect_error("{ ...F } fragment F on Nope { __typename }",
                 "Unknown type \"Nope\". Did you mean \"Node\"?",
                 "[{\"line\":1,\"column\":24}]");
    expect_error("{ ... on Status { __typename } }",
                 "Fragment cannot condition on non composite type \"Status\".",
                 "[{\"line\":1,\"column\":10}]");
    expect_error("{ ...F } fragment F on JSON { __typename }",
                 "Fragment \"F\" cannot condition on non composite type \"JSON\".",
                 "[{\"line\":1,\"column\":24}]");
    expect_error("{ CartReadModel(id: 1) { ... on Product { id } } }",
                 "Fragment cannot be spread here as objects of type \"CartReadModel\" can never "
                 "be of type \"Product\".",
                 "[{\"line\":1,\"column\":26}]");
    expect_error("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
                 "Cannot spread fragment \"A\" within itself via \"B\".",
                 "[{\"line\":1,\"column\":32},{\"line\":1,\"column\":61}]");
    expect_error("{ ...A } fragment A on Query { ...A }",
                 "Cannot spread fragment \"A\" within itself.", "[{\"line\":1,\"column\":32}]");
}

Test(validate, variables)
{
    expect_error("query($x: Int) { __typename }", "Variable \"$x\" is never used.",
                 "[{\"line\":1,\"column\":7}]");
    expect_error("query Q($x: Int) { __typename }",
                 "Variable \"$x\" is never used in operation \"Q\".", "[{\"line\":1,\"column\":9}]");
    expect_error("query Q { CartReadModel(id: $id) { id } }",
                 "Variable \"$id\" is not defined by operation \"Q\".",
                 "[{\"line\":1,\"column\":29},{\"line\":1,\"column\":1}]");
    /* graphql-js also reports the usage: CartItem is not a subtype of JSON */
    expect_errors("query($x: CartItem) { echo(value: $x) }", 2,
                 "Variable \"$x\" cannot be non-input type \"CartItem\".",
                 "[{\"line\":1,\"column\":11}]");
    expect_error("query($x: Nope) { echo(value: $x) }",
                 "Unknown type \"Nope\". Did you mean \"Node\"?",
                 "[{\"line\":1,\"column\":11}]");
    expect_error("query($x: Int, $x: Int) { CartReadModels(limit: $x) { id } }",
                 "There can be only one variable named \"$x\".", /* at the names, as graphql-js */
                 "[{\"line\":1,\"column\":8},{\"line\":1,\"column\":17}]");
    expect_error("query($id: ID) { CartReadModel(id: $id) { id } }",
                 "Variable \"$id\" of type \"ID\" used in position expecting type \"ID!\".",
                 "[{\"line\":1,\"column\":7},{\"line\":1,\"column\":36}]");
    expect_valid("query($id: ID = 1) { CartReadModel(id: $id) { id } }");
    expect_valid("query($n: Int) { CartReadModels(limit: $n) { id } }");
    expect_valid("query($id: ID!) { ...F } fragment F on Query { CartReadModel(id: $id) { id } }");
    expect_error("query($s: String) { CartReadModels(status: $s) { id } }",
                 "Variable \"$s\" of type \"String\" used in position expecting type \"Status\".",
                 "[{\"line\":1,\"column\":7},{\"line\":1,\"column\":44}]");
}

Test(validate, directives)
{
    expect_error("{ __typename @nope }", "Unknown directive \"@nope\".",
                 "[{\"line\":1,\"column\":14}]");
    expect_error("query @skip(if: true) { __typename }",
                 "Directive \"@skip\" may not be used on QUERY.", "[{\"line\":1,\"column\":7}]");
    expect_error("{ __typename @skip(if: true) @skip(if: false) }",
                 "The directive \"@skip\" can only be used once at this location.",
                 "[{\"line\":1,\"column\":14},{\"line\":1,\"column\":30}]");
}

Test(validate, overlapping_fields)
{
    expect_valid("{ CartReadModel(id: 1) { id id ... on CartReadModel { id } } }");
    expect_valid("{ a: CartReadModel(id: 1) { id } b: CartReadModel(id: 2) { id } }");
    expect_valid("{ search(text: \"\") { ... on Product { x: id } ... on Shipment { x: id } } }");
    /* classes outlive the selection set that made them (a use after free, found by fuzzing) */
    expect_valid("{ a: CartReadModel(id: 1) { id id } b: CartReadModel(id: 2) { id id } }");
    expect_error("{ CartReadModel(id: 1) { x: id x: note } }",
                 "Fields \"x\" conflict because \"id\" and \"note\" are different fields. Use "
                 "different aliases on the fields to fetch both if this was intentional.",
                 "[{\"line\":1,\"column\":26},{\"line\":1,\"column\":32}]");
    expect_error("{ CartReadModel(id: 1) { id } CartReadModel(id: 2) { id } }",
                 "Fields \"CartReadModel\" conflict because they have differing arguments. Use "
                 "different aliases on the fields to fetch both if this was intentional.",
                 "[{\"line\":1,\"column\":3},{\"line\":1,\"column\":31}]");
    expect_error("{ node(id: 1) { ... on Product { x: name } ... on Shipment { x: id } } }",
                 "Fields \"x\" conflict because they return conflicting types \"String\" and "
                 "\"ID!\". Use different aliases on the fields to fetch both if this was "
                 "intentional.",
                 "[{\"line\":1,\"column\":34},{\"line\":1,\"column\":62}]");
    expect_error("{ c: CartReadModel(id: 1) { x: id } ...F } fragment F on Query { c: "
                 "CartReadModel(id: 1) { x: note } }",
                 "Fields \"c\" conflict because subfields \"x\" conflict because \"id\" and "
                 "\"note\" are different fields. Use different aliases on the fields to fetch "
                 "both if this was intentional.",
                 "[{\"line\":1,\"column\":3},{\"line\":1,\"column\":29},{\"line\":1,\"column\":66},"
                 "{\"line\":1,\"column\":92}]");
}

/* A document of @p n copies of @p field inside @p prefix ... @p suffix. */
static char *
repeated(const char *prefix, const char *field, size_t n, const char *suffix)
{
    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_puts(&b, prefix);
    for (size_t i = 0; i < n; i++) {
        rj_buf_puts(&b, field);
        rj_buf_putc(&b, ' ');
    }
    rj_buf_puts(&b, suffix);
    return b.data;
}

/* Validates @p q and returns the milliseconds it took; *errors gets the error count. */
static double
validate_ms(const char *q, size_t *errors)
{
    json_t *e = NULL;
    rj_gql_limits_t lim = rj_gql_default_limits;
    lim.max_tokens = 1000000;
    lim.max_bytes = 16 * 1024 * 1024;
    rj_gql_doc_t *d = rj_gql_parse(q, strlen(q), &lim, &e);
    cr_assert_not_null(d, "parse failed");
    int64_t t0 = rj_mono_us();
    json_t *errs = rj_gql_validate(schema, d);
    double ms = (double)(rj_mono_us() - t0) / 1000.0;
    *errors = json_array_size(errs);
    json_decref(errs);
    rj_gql_doc_free(d);
    return ms;
}

/*
 * Issue 9, finding 4: 1,600 `__typename` took minutes in OverlappingFieldsCanBeMerged (a
 * flat list of compared pairs scanned for every pair). Fields of one class are compared
 * once now, distinct names never: thousands of fields validate in milliseconds.
 */
Test(validate, overlapping_fields_scale_with_repeated_fields)
{
    static const struct {
        const char *prefix, *field, *suffix;
        size_t n;
    } cases[] = {
        {"{ ", "__typename", "}", 1600},
        {"{ ", "__typename", "}", 5000},
        {"{ CartReadModel(id: 1) { ", "id note x: count", "} }", 5000},
        {"{ ", "a: CartReadModel(id: 1) { id }", "}", 400},
        {"{ ", "search(text: \"t\") { ... on Product { x: id } ... on Shipment { x: id } }", "}",
         300},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *q = repeated(cases[i].prefix, cases[i].field, cases[i].n, cases[i].suffix);
        size_t nerr = 0;
        double ms = validate_ms(q, &nerr);
        cr_expect_eq(nerr, 0, "case %zu: %zu errors", i, nerr);
        cr_expect_lt(ms, RJ_TEST_MS(300.0), "case %zu (%zu copies) took %.1f ms", i, cases[i].n, ms);
        free(q);
    }
}

/* Many distinct names and many fragments stay linear too (no scan per spread or name). */
Test(validate, many_names_and_fragments_scale)
{
    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_puts(&b, "{ CartReadModel(id: 1) { ");
    for (int i = 0; i < 5000; i++)
        rj_buf_printf(&b, "a%d: id ...F%d ", i, i);
    rj_buf_puts(&b, "} }");
    for (int i = 0; i < 5000; i++)
        rj_buf_printf(&b, " fragment F%d on CartReadModel { b%d: note }", i, i);
    size_t nerr = 0;
    double ms = validate_ms(b.data, &nerr);
    cr_expect_eq(nerr, 0);
    cr_expect_lt(ms, RJ_TEST_MS(500.0), "5,000 names and fragments took %.1f ms", ms);
    rj_buf_deinit(&b);
}

/* The classes of equal fields must not hide a conflict between them, or through fragments. */
Test(validate, overlapping_fields_among_many)
{
    char *q = repeated("{ ", "__typename", 2000, "__typename: id }");
    size_t nerr = 0;
    validate_ms(q, &nerr);
    free(q);
    cr_expect_gt(nerr, 0, "a conflicting field after 2,000 equal ones went unnoticed");
    /* a conflict in sub-selections, after 500 copies of one structure */
    q = repeated("{ ", "c: CartReadModel(id: 1) { x: id }", 500,
                 "c: CartReadModel(id: 1) { x: note } }");
    rj_gql_doc_t *d = parse_ok(q);
    json_t *e = rj_gql_validate(schema, d);
    cr_expect_gt(json_array_size(e), 0, "a conflict in sub-selections went unnoticed");
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(e, 0), "message")),
                     "Fields \"c\" conflict because subfields \"x\" conflict because \"id\" and "
                     "\"note\" are different fields. Use different aliases on the fields to fetch "
                     "both if this was intentional.");
    json_decref(e);
    rj_gql_doc_free(d);
    free(q);
    expect_error("{ CartReadModel(id: 1) { id id id x: id x: note } }",
                 "Fields \"x\" conflict because \"id\" and \"note\" are different fields. Use "
                 "different aliases on the fields to fetch both if this was intentional.",
                 "[{\"line\":1,\"column\":35},{\"line\":1,\"column\":41}]");
    expect_error("{ CartReadModel(id: 1) { ...A ...B } } fragment A on CartReadModel { id x: id } "
                 "fragment B on CartReadModel { id x: note }",
                 "Fields \"x\" conflict because \"id\" and \"note\" are different fields. Use "
                 "different aliases on the fields to fetch both if this was intentional.",
                 "[{\"line\":1,\"column\":73},{\"line\":1,\"column\":114}]");
}

/*
 * Fields with sub-selections: repeated structures (one class) and many distinct ones under
 * one name (120 orders of five fields). These took 0.3 s to 0.4 s per thousand before
 * classes; each must stay far below what a request may spend on the gateway's loop.
 */
Test(validate, repeated_structures_validate_fast)
{
    static const struct {
        const char *prefix, *field, *suffix;
        size_t n;
    } cases[] = {
        {"{ ", "CartReadModel(id: 1) { id }", "}", 1000},
        {"{ ", "CartReadModel(id: 1) { cartItems { productId } }", "}", 666},
        {"{ CartReadModel(id: 1) { ", "cartItems { productId }", "} }", 1000},
        {"{ ", "search(text: \"t\") { ... on Product { id } }", "}", 1000},
        {"{ ", "__typename", "}", 2000},
        {"{ ", "a: __typename", "}", 100},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *q = repeated(cases[i].prefix, cases[i].field, cases[i].n, cases[i].suffix);
        size_t nerr = 0;
        double ms = validate_ms(q, &nerr);
        cr_expect_eq(nerr, 0, "case %zu: %zu errors", i, nerr);
        cr_expect_lt(ms, RJ_TEST_MS(100.0), "case %zu (%zu copies) took %.1f ms", i, cases[i].n, ms);
        free(q);
    }
    /* distinct structures under one name: the orders of five fields */
    const char *names[5] = {"id", "note", "count", "old", "cartItemsSize"};
    rj_buf_t b;
    rj_buf_init(&b);
    rj_buf_puts(&b, "{ ");
    int made = 0;
    for (int code = 0; code < 5 * 5 * 5 * 5 * 5; code++) {
        int v[5], mask = 0;
        for (int k = 0, rest = code; k < 5; k++, rest /= 5)
            mask |= 1 << (v[k] = rest % 5);
        if (mask != 31) /* not a permutation */
            continue;
        made++;
        rj_buf_puts(&b, "CartReadModel(id: 1) { ");
        for (int k = 0; k < 5; k++)
            rj_buf_printf(&b, "%s ", names[v[k]]);
        rj_buf_puts(&b, "} ");
    }
    rj_buf_puts(&b, "}");
    size_t nerr = 0;
    double ms = validate_ms(b.data, &nerr);
    cr_expect_eq(made, 120);
    cr_expect_eq(nerr, 0);
    cr_expect_lt(ms, RJ_TEST_MS(100.0), "120 distinct structures took %.1f ms", ms);
    rj_buf_deinit(&b);
}

/*
 * The other rules scanned earlier names too: unique operation, fragment, variable, argument
 * and input field names, variables defined and used, fragment cycles. Thousands of each
 * must validate in linear time; each document below took seconds or more before.
 */
Test(validate, uniqueness_rules_scale)
{
    rj_buf_t b;
    rj_buf_init(&b);
    size_t nerr = 0;

    rj_buf_puts(&b, "query (");
    for (int i = 0; i < 20000; i++)
        rj_buf_printf(&b, "$v%d: Int! ", i);
    rj_buf_puts(&b, ") { echo(list: [");
    for (int i = 0; i < 20000; i++)
        rj_buf_printf(&b, "$v%d ", i);
    rj_buf_puts(&b, "]) }");
    double ms = validate_ms(b.data, &nerr);
    cr_expect_eq(nerr, 0);
    cr_expect_lt(ms, RJ_TEST_MS(500.0), "20,000 variables took %.1f ms", ms);

    /* 5,000 operations with a fragment each, and one operation through a chain of 1,000
     * fragments (a fragment definition is walked with what it spreads, as graphql-js does,
     * so a chain costs its square: rj_gql_document_count bounds that in the gateway) */
    rj_buf_reset(&b);
    for (int i = 0; i < 5000; i++)
        rj_buf_printf(&b, "query Q%d { ...F%d } fragment F%d on Query { a%d: __typename } ", i, i,
                      i, i);
    rj_buf_puts(&b, "query Chain { ...C0 } ");
    for (int i = 0; i < 1000; i++)
        rj_buf_printf(&b, "fragment C%d on Query { ...C%d } ", i, i + 1);
    rj_buf_puts(&b, "fragment C1000 on Query { __typename }");
    ms = validate_ms(b.data, &nerr);
    cr_expect_eq(nerr, 0);
    cr_expect_lt(ms, RJ_TEST_MS(500.0), "5,000 operations and a chain of 1,000 fragments took %.1f ms", ms);

    rj_buf_reset(&b);
    rj_buf_puts(&b, "mutation { ChangeCartItem(input: {productId: \"p\", quantity: 1");
    for (int i = 0; i < 5000; i++)
        rj_buf_puts(&b, ", cartId: \"c\"");
    rj_buf_puts(&b, "}) }");
    ms = validate_ms(b.data, &nerr);
    cr_expect_eq(nerr, 4999, "one error per repeated input field: %zu", nerr);
    cr_expect_lt(ms, RJ_TEST_MS(500.0), "5,000 repeated input fields took %.1f ms", ms);

    rj_buf_reset(&b);
    rj_buf_puts(&b, "{ echo(flag: true");
    for (int i = 0; i < 5000; i++)
        rj_buf_printf(&b, ", value: %d", i);
    rj_buf_puts(&b, ") }");
    ms = validate_ms(b.data, &nerr);
    cr_expect_eq(nerr, 1, "one error for the repeated argument: %zu", nerr);
    cr_expect_lt(ms, RJ_TEST_MS(500.0), "5,000 repeated arguments took %.1f ms", ms);
    rj_buf_deinit(&b);
}
