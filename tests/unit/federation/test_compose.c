/*
 * test_compose.c - composition of subgraph SDL: the public schema printed and built,
 * owners, keys, @requires/@provides/@external facts, value types, enums, unions,
 * interfaces, renamed roots, federation internals kept out of the schema and of
 * introspection, and the composition errors, each naming service, type and field.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"

static rj_fed_graph_t *
compose_ok(const rj_fed_sdl_t *s, size_t n)
{
    rj_error_t err;
    rj_error_clear(&err);
    rj_fed_graph_t *g = rj_fed_compose(s, n, &err);
    cr_assert_not_null(g, "%s", err.msg);
    return g;
}

static void
expect_error(const rj_fed_sdl_t *s, size_t n, const char *msg)
{
    rj_error_t err;
    rj_error_clear(&err);
    rj_fed_graph_t *g = rj_fed_compose(s, n, &err);
    cr_expect_null(g);
    rj_fed_graph_free(g);
    cr_expect_eq(err.status, RJ_ESCHEMA);
    cr_expect_str_eq(err.msg, msg);
}

Test(fed_compose, demo_schema)
{
    const rj_fed_sdl_t s[] = DEMO_SERVICES;
    rj_fed_graph_t *g = compose_ok(s, 4);
    cr_expect_str_eq(rj_fed_graph_sdl(g),
                     "type Query {\n"
                     "  me: User\n"
                     "  users: [User]\n"
                     "  topProducts(first: Int = 5): [Product]\n"
                     "}\n\n"
                     "\"A person\"\n"
                     "type User {\n"
                     "  id: ID!\n"
                     "  name: String\n"
                     "  username: String\n"
                     "  birthDate(locale: String = \"en\"): String @deprecated(reason: "
                     "\"private\")\n"
                     "  reviews: [Review]\n"
                     "}\n\n"
                     "type Product {\n"
                     "  upc: String!\n"
                     "  name: String\n"
                     "  price: Int\n"
                     "  weight: Int\n"
                     "  inStock: Boolean\n"
                     "  shippingEstimate: Int\n"
                     "  reviews: [Review]\n"
                     "}\n\n"
                     "type Review {\n"
                     "  id: ID!\n"
                     "  body: String\n"
                     "  author: User\n"
                     "  product: Product\n"
                     "}\n\n");
    rj_gql_schema_t *schema = rj_fed_graph_schema(g);
    const rj_gql_type_t *user = rj_gql_schema_find_type(schema, "User");
    cr_assert_not_null(user);
    cr_expect_str_eq(user->description, "A person");
    cr_expect(rj_gql_type_find_field(user, "birthDate")->deprecated);
    cr_expect_eq(rj_fed_graph_nservices(g), 4);
    cr_expect_str_eq(rj_fed_graph_service_name(g, 2), "inventory");
    cr_expect_null(rj_fed_graph_service_name(g, 4));
    rj_fed_graph_free(g);
}

Test(fed_compose, routing_facts)
{
    const rj_fed_sdl_t s[] = DEMO_SERVICES;
    rj_fed_graph_t *g = compose_ok(s, 4);
    enum { ACCOUNTS, PRODUCTS, INVENTORY, REVIEWS };

    const rj_fed_type_t *q = rj_fed_graph_type(g, "Query");
    cr_assert_not_null(q);
    cr_expect_eq(q->origin, -1);
    cr_expect_eq(q->nkeys, 0);
    cr_expect_eq(rj_fed_type_field(q, "me")->owner, ACCOUNTS);
    cr_expect_eq(rj_fed_type_field(q, "topProducts")->owner, PRODUCTS);
    cr_expect_null(rj_fed_type_field(q, "_entities"));

    const rj_fed_type_t *p = rj_fed_graph_type(g, "Product");
    cr_expect_eq(p->origin, PRODUCTS);
    cr_expect_eq(p->services, (1u << PRODUCTS) | (1u << INVENTORY) | (1u << REVIEWS));
    cr_assert_eq(p->nkeys, 3);
    cr_expect_eq(p->keys[0].service, PRODUCTS);
    cr_expect_eq(p->keys[1].service, INVENTORY);
    cr_expect_eq(p->keys[2].service, REVIEWS);
    cr_expect_str_eq(p->keys[0].text, "upc");
    cr_expect_str_eq(p->keys[0].selections->name, "upc");
    const rj_fed_field_t *price = rj_fed_type_field(p, "price");
    cr_expect_eq(price->owner, PRODUCTS);
    cr_expect_eq(price->external, 1u << INVENTORY);
    const rj_fed_field_t *ship = rj_fed_type_field(p, "shippingEstimate");
    cr_expect_eq(ship->owner, INVENTORY);
    cr_expect_eq(ship->requires.service, INVENTORY);
    cr_expect_str_eq(ship->requires.text, "price weight");
    cr_expect_str_eq(ship->requires.selections->name, "price");
    cr_expect_str_eq(ship->requires.selections->next->name, "weight");
    cr_expect_null(ship->provides.selections);
    cr_expect_eq(rj_fed_type_field(p, "reviews")->owner, REVIEWS);
    cr_expect_eq(rj_fed_type_field(p, "upc")->owner, PRODUCTS);

    const rj_fed_field_t *author = rj_fed_type_field(rj_fed_graph_type(g, "Review"), "author");
    cr_expect_eq(author->owner, REVIEWS);
    cr_expect_str_eq(author->provides.text, "username");
    cr_expect_null(author->requires.selections);
    const rj_fed_type_t *u = rj_fed_graph_type(g, "User");
    cr_expect_eq(rj_fed_type_field(u, "username")->external, 1u << REVIEWS);
    cr_expect_null(rj_fed_graph_type(g, "String"));
    cr_expect_null(rj_fed_graph_type(g, "Nope"));
    rj_fed_graph_free(g);
}

/* What @apollo/subgraph or a hand-written Mercurius schema may print besides the API. */
Test(fed_compose, federation_internals_stay_out)
{
    static const char sdl[] =
        "scalar _Any\nscalar _FieldSet\n"
        "directive @key(fields: _FieldSet!) repeatable on OBJECT | INTERFACE\n"
        "directive @external on FIELD_DEFINITION\n"
        "type _Service { sdl: String }\n"
        "union _Entity = Thing\n"
        "type Thing @key(fields: \"id\") { id: ID! }\n"
        "type Query { _service: _Service!  _entities(representations: [_Any!]!): [_Entity]!\n"
        "  thing: Thing }\n";
    const rj_fed_sdl_t s[] = {{"things", sdl, sizeof sdl - 1}};
    rj_fed_graph_t *g = compose_ok(s, 1);
    cr_expect_str_eq(rj_fed_graph_sdl(g),
                     "type Thing {\n  id: ID!\n}\n\ntype Query {\n  thing: Thing\n}\n\n");
    rj_gql_schema_t *schema = rj_fed_graph_schema(g);
    static const char *const hidden[] = {"_Any", "_FieldSet", "_Service", "_Entity"};
    for (size_t i = 0; i < 4; i++)
        cr_expect_null(rj_gql_schema_find_type(schema, hidden[i]), "%s", hidden[i]);
    cr_expect_null(rj_gql_schema_find_directive(schema, "key"));
    cr_expect_null(rj_gql_schema_find_directive(schema, "external"));

    /* Introspection, as GraphiQL asks it, shows none of them either. */
    static const char q[] = "{ __schema { types { name } directives { name } "
                            "queryType { fields { name } } } }";
    rj_gql_doc_t *doc = rj_gql_parse(q, sizeof q - 1, NULL, NULL);
    cr_assert_not_null(doc);
    json_t *r = rj_gql_execute_sync(schema, doc, NULL, NULL, NULL, NULL);
    char *text = json_dumps(r, JSON_COMPACT);
    for (size_t i = 0; i < 4; i++) {
        char quoted[32];
        snprintf(quoted, sizeof quoted, "\"%s\"", hidden[i]);
        cr_expect_null(strstr(text, quoted), "%s", text);
    }
    cr_expect_null(strstr(text, "_service"), "%s", text);
    cr_expect_null(strstr(text, "_entities"), "%s", text);
    cr_expect_null(strstr(text, "\"key\""), "%s", text);
    cr_expect(strstr(text, "{\"name\":\"thing\"}") != NULL, "%s", text);
    free(text);
    json_decref(r);
    rj_gql_doc_free(doc);
    rj_fed_graph_free(g);
}

/*
 * Compound and nested keys, several keys, value types defined identically by several
 * services, enums and unions merged, interfaces, inputs, a renamed root and mutations
 * merged in configuration order.
 */
Test(fed_compose, value_types_keys_and_kinds)
{
    static const char a[] =
        "schema { query: RootQuery mutation: RootMutation }\n"
        "type RootQuery { org(id: ID!): Org  search(q: String!): [Result!]! }\n"
        "type RootMutation { createOrg(input: OrgInput!): Org }\n"
        "input OrgInput { name: String!  size: Size = SMALL }\n"
        "enum Size { SMALL LARGE }\n"
        "interface Named { name: String }\n"
        "type Money { amount: Int!  currency: String! }\n"
        "type Org implements Named @key(fields: \"id\") @key(fields: \"slug region { code }\") {\n"
        "  id: ID!  slug: String!  region: Region!  name: String  budget: Money }\n"
        "type Region { code: String!  label: String }\n"
        "union Result = Org\n";
    static const char b[] =
        "extend type Query { person(id: ID!): Person }\n"
        "extend type Mutation { hire(personId: ID!, orgId: ID!): Person }\n"
        "enum Size { LARGE HUGE }\n"
        "type Money { amount: Int!  currency: String! }\n"
        "interface Named { name: String }\n"
        "type Person implements Named @key(fields: \"id\") { id: ID!  name: String  salary: Money "
        "}\n"
        "extend union Result = Person\n"
        "extend type Org @key(fields: \"slug region { code }\") {\n"
        "  slug: String! @external  region: Region! @external  staff: [Person!]! }\n"
        "extend type Region { code: String! @external }\n";
    const rj_fed_sdl_t s[] = {{"orgs", a, sizeof a - 1}, {"people", b, sizeof b - 1}};
    rj_fed_graph_t *g = compose_ok(s, 2);
    rj_gql_schema_t *schema = rj_fed_graph_schema(g);
    const rj_gql_type_t *q = rj_gql_schema_root_type(schema, RJ_GQL_OP_QUERY);
    cr_assert_not_null(q);
    cr_expect_str_eq(q->name, "Query");
    cr_expect_eq(q->nfields, 3);
    cr_expect_str_eq(q->fields[2].name, "person");
    const rj_gql_type_t *m = rj_gql_schema_root_type(schema, RJ_GQL_OP_MUTATION);
    cr_expect_eq(m->nfields, 2);
    cr_expect_str_eq(m->fields[1].name, "hire");
    const rj_gql_type_t *size = rj_gql_schema_find_type(schema, "Size");
    cr_expect_eq(size->nenum_values, 3);
    cr_expect_str_eq(size->enum_values[2].name, "HUGE");
    cr_expect_eq(rj_gql_schema_find_type(schema, "Result")->npossible_types, 2);
    cr_expect_eq(rj_gql_schema_find_type(schema, "Named")->npossible_types, 2);
    cr_expect_str_eq(
        rj_gql_type_find_input_field(rj_gql_schema_find_type(schema, "OrgInput"), "size")
            ->default_value->str,
        "SMALL");

    const rj_fed_type_t *money = rj_fed_graph_type(g, "Money");
    cr_expect_eq(money->origin, -1);
    cr_expect_eq(rj_fed_type_field(money, "amount")->owner, RJ_FED_SHARED);
    const rj_fed_type_t *org = rj_fed_graph_type(g, "Org");
    cr_expect_eq(org->origin, 0);
    cr_assert_eq(org->nkeys, 3);
    cr_expect_str_eq(org->keys[1].text, "slug region { code }");
    cr_expect_str_eq(org->keys[1].selections->next->name, "region");
    cr_expect_str_eq(org->keys[1].selections->next->selections->name, "code");
    cr_expect_eq(org->keys[2].service, 1);
    cr_expect_eq(rj_fed_type_field(org, "staff")->owner, 1);
    cr_expect_eq(rj_fed_type_field(org, "region")->external, 2u);
    rj_fed_graph_free(g);
}

Test(fed_compose, errors_name_service_type_and_field)
{
    static const char user[] = "type Query { me: User }\ntype User @key(fields: \"id\") { id: ID! "
                               "name: String }\n";
    static const struct {
        const char *sdl; /* the second service, beside `user` */
        const char *msg; /* the expected message */
    } cases[] = {
        {"extend type User @key(fields: \"id\") { id: ID! @external  name: String }",
         "could not compose the services: User.name is resolved by both service accounts and "
         "service other (one of them must declare it @external)"},
        {"extend type User @key(fields: \"uid\") { id: ID! @external  x: Int }",
         "could not compose the services: User (service other): @key(fields: \"uid\") names "
         "User.uid, which is not a field"},
        {"extend type User @key(fields: \"id\") { id: ID! @external  x: Int "
         "@requires(fields: \"name\") }",
         "could not compose the services: User.x (service other): @requires(fields: \"name\") "
         "names User.name, which service other does not declare @external"},
        {"extend type Team @key(fields: \"id\") { id: ID! @external  size: Int }",
         "could not compose the services: type Team is extended by service other but defined "
         "by no service"},
        {"enum User { A }",
         "could not compose the services: type User is an object type in service accounts but "
         "an enum in service other"},
        {"type Query { x: Int }\ntype Broken {",
         "could not compose the services: service other: invalid SDL at 2:14: Syntax Error: "
         "Expected Name, found <EOF>."},
        {"type Query { boss: User @provides(fields: \"name\") }\n"
         "extend type User @key(fields: \"id\") { id: ID! @external }",
         "could not compose the services: Query.boss (service other): @provides(fields: "
         "\"name\") names User.name, which service other does not declare @external"},
        {"type Query { n: Int @provides(fields: \"x\") }",
         "could not compose the services: Query.n (service other): @provides on a field whose "
         "type is not an entity"},
        {"extend type User @key(fields: \"id\") { id: ID! @external  age: Int @external }",
         "could not compose the services: User.age is declared @external by service other but "
         "no service defines it"},
        {"type User @key(fields: \"id\") { id: ID!  name: String }",
         "could not compose the services: entity User is defined by both service accounts and "
         "service other (one defines it, the others extend it)"},
        {"extend type Query { me: User }",
         "could not compose the services: Query.me is resolved by both service accounts and "
         "service other (one of them must declare it @external)"},
        {"extend type User @key(fields: \"id { x }\") { id: ID! @external  y: Int }",
         "could not compose the services: User (service other): @key(fields: \"id { x }\"): "
         "User.id is a leaf and takes no selection"},
        {"extend type User @key(fields: \"id(a: 1)\") { id: ID! @external }",
         "could not compose the services: User (service other): @key(fields: \"id(a: 1)\") is "
         "not a field set: only field names and nested selections are allowed"},
        {"query { me }", "could not compose the services: service other: its SDL holds an "
                         "operation or fragment (line 1)"},
        {"type Query { t: T }",
         "could not compose the services: Query.t (service other) is of type T, which no "
         "service defines"},
        {"type Query { t(a: T): Int }",
         "could not compose the services: the composed schema is invalid: invalid schema: "
         "Unknown type \"T\". (line 3, column 8)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const rj_fed_sdl_t s[] = {{"accounts", user, sizeof user - 1},
                                  {"other", cases[i].sdl, strlen(cases[i].sdl)}};
        rj_error_t err;
        rj_error_clear(&err);
        rj_fed_graph_t *g = rj_fed_compose(s, 2, &err);
        cr_expect_null(g, "case %zu", i);
        rj_fed_graph_free(g);
        cr_expect_eq(err.status, RJ_ESCHEMA, "case %zu", i);
        cr_expect_str_eq(err.msg, cases[i].msg, "case %zu: %s", i, err.msg);
    }
}

Test(fed_compose, value_type_mismatch)
{
    static const char a[] = "type Query { a: Money }\ntype Money { amount: Int!  cur: String }\n";
    static const char b[] = "type Query { b: Money }\ntype Money { amount: Float!  cur: String }\n";
    static const char c[] = "type Query { c: Money }\ntype Money { amount: Int! }\n";
    const rj_fed_sdl_t ab[] = {{"a", a, sizeof a - 1}, {"b", b, sizeof b - 1}};
    expect_error(ab, 2,
                 "could not compose the services: value type Money differs between services: "
                 "field amount is Int! in one and Float! in service b");
    const rj_fed_sdl_t ac[] = {{"a", a, sizeof a - 1}, {"c", c, sizeof c - 1}};
    expect_error(ac, 2,
                 "could not compose the services: value type Money differs between services: "
                 "not all of them define field cur");
}

Test(fed_compose, bounds)
{
    rj_error_t err;
    rj_error_clear(&err);
    cr_expect_null(rj_fed_compose(NULL, 0, &err));
    cr_expect_eq(err.status, RJ_EINVAL);
}

/*
 * An application's own API composed with configured services (rj_fed_load's local
 * service): service 0 under its name, before the configured ones, whose root fields
 * follow its own; a configured `schema` is used as given, so nothing is fetched.
 */
Test(fed_compose, a_local_service_is_composed_first)
{
    json_t *file = json_pack("{s:[{s:s, s:s, s:s}]}", "services", "name", "products", "url",
                             "http://127.0.0.1:1/graphql", "schema", products_sdl);
    char *text = json_dumps(file, JSON_COMPACT);
    json_decref(file);
    rj_fed_conf_t conf;
    rj_error_t err;
    rj_error_clear(&err);
    cr_assert_eq(rj_fed_conf_parse(text, strlen(text), "gw.json", &conf, &err), RJ_OK, "%s",
                 err.msg);
    free(text);

    const rj_fed_sdl_t local = {"shop", accounts_sdl, sizeof accounts_sdl - 1};
    bool *present = NULL;
    rj_fed_graph_t *g = rj_fed_load(&conf, &local, 1000, &present, &err);
    cr_assert_not_null(g, "%s", err.msg);
    cr_expect_eq(rj_fed_graph_nservices(g), 2);
    cr_expect_str_eq(rj_fed_graph_service_name(g, 0), "shop");
    cr_expect_str_eq(rj_fed_graph_service_name(g, 1), "products");
    cr_expect(present[0]);
    const rj_fed_type_t *q = rj_fed_graph_type(g, "Query");
    cr_assert_not_null(q);
    cr_assert_eq(q->nfields, 3);
    cr_expect_str_eq(q->fields[0].name, "me");
    cr_expect_eq(q->fields[0].owner, 0);
    cr_expect_str_eq(q->fields[2].name, "topProducts");
    cr_expect_eq(q->fields[2].owner, 1);
    free(present);
    rj_fed_graph_free(g);
    rj_fed_conf_deinit(&conf);
}

/*
 * `extend interface` in another service adds the field to the interface, owned by that
 * service, and that service must add it to every implementation too: the public schema
 * shows it everywhere; an implementation left without it is an error naming both
 * services, the type and the field (@apollo/composition's INTERFACE_FIELD_NO_IMPLEM).
 */
Test(fed_compose, interface_extended_by_another_service)
{
    static const char shelf[] = "type Query { items: [Item] }\ninterface Item { id: ID! }\n"
                                "type Book implements Item @key(fields: \"id\") { id: ID! }\n"
                                "type Desk implements Item @key(fields: \"id\") { id: ID! }\n";
    static const char all[] = "extend interface Item { rating: Float }\n"
                              "extend type Book implements Item @key(fields: \"id\") { id: ID! "
                              "@external  rating: Float }\n"
                              "extend type Desk implements Item @key(fields: \"id\") { id: ID! "
                              "@external  rating: Float }\n";
    static const char some[] = "extend interface Item { rating: Float }\n"
                               "extend type Book implements Item @key(fields: \"id\") { id: ID! "
                               "@external  rating: Float }\n";
    const rj_fed_sdl_t ok[] = {{"shelf", shelf, sizeof shelf - 1},
                               {"critics", all, sizeof all - 1}};
    rj_fed_graph_t *g = compose_ok(ok, 2);
    const rj_fed_type_t *item = rj_fed_graph_type(g, "Item");
    cr_assert_not_null(item);
    cr_expect_eq(item->kind, RJ_GQL_KIND_INTERFACE);
    cr_expect_eq(item->origin, 0);
    cr_expect_eq(rj_fed_type_field(item, "id")->owner, 0);
    cr_expect_eq(rj_fed_type_field(item, "rating")->owner, 1);
    cr_expect_eq(rj_fed_type_field(rj_fed_graph_type(g, "Desk"), "rating")->owner, 1);
    cr_expect_not_null(
        strstr(rj_fed_graph_sdl(g), "interface Item {\n  id: ID!\n  rating: Float\n}"));
    rj_fed_graph_free(g);

    const rj_fed_sdl_t bad[] = {{"shelf", shelf, sizeof shelf - 1},
                                {"critics", some, sizeof some - 1}};
    expect_error(bad, 2,
                 "could not compose the services: interface field Item.rating is declared by "
                 "service critics, but type Desk, which implements Item in service shelf, does "
                 "not have field rating");
}
