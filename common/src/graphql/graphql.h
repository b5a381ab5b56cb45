/*
 * graphql/graphql.h - the GraphQL engine shared by the gateway and the subscription pusher:
 * parsing (executable documents and SDL), schemas built from SDL, validation, a two-phase
 * execution model, introspection and a parsed-document cache. GraphQL spec October 2021;
 * error messages follow graphql-js 16 word for word, because clients and tests compare them.
 *
 * Execution is split in two because Ramjet's root fields are resolved asynchronously (a
 * mutation is a Kafka round trip): rj_gql_prepare() selects the operation, coerces the
 * variables and arguments and lists the root fields; the caller resolves each root field to
 * a JSON value whenever it can; rj_gql_complete() then shapes those values by the selection
 * sets into the response. Below the root, values are plain JSON read by field name: Ramjet's
 * read models and command results are JSON documents, so there are no nested resolvers.
 *
 * Introspection (__schema, __type, __typename) is answered by the engine itself; the caller
 * skips root fields marked `internal`.
 *
 * Not thread-safe per object: a schema is immutable after construction and may be shared
 * by threads; documents are immutable but reference-counted without atomics, so keep each
 * document, prepared operation and cache on one thread (one event loop).
 */
#ifndef RJ_GRAPHQL_H
#define RJ_GRAPHQL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "graphql/ast.h"
#include "rj/status.h"

/* ---- limits ---------------------------------------------------------------------------- */

/** Bounds on what the parser accepts, so a hostile document cannot exhaust memory or stack. */
typedef struct rj_gql_limits {
    size_t max_bytes;  /* document size in bytes */
    size_t max_tokens; /* lexical tokens (punctuators, names, values) */
    size_t max_depth;  /* nesting of selection sets, list/object values and type wrappers */
    size_t max_fields; /* field selections of an operation, fragments expanded; 0: no limit */
    size_t max_aliases; /* aliased field selections of an operation, likewise; 0: no limit */
} rj_gql_limits_t;

/** 1 MiB, 100 000 tokens, depth 64, no field or alias limit. */
extern const rj_gql_limits_t rj_gql_default_limits;

/* ---- documents ------------------------------------------------------------------------- */

/** A parsed document: its AST and the arena that holds it. Reference-counted. */
typedef struct rj_gql_doc rj_gql_doc_t;

/**
 * Parses an executable or type-system document.
 *
 * @param src        the source text; borrowed, need not be NUL-terminated
 * @param len        its length in bytes
 * @param lim        limits, or NULL for rj_gql_default_limits
 * @param error_obj  on failure, if not NULL, set to a new GraphQL error object
 *                   {"message": "Syntax Error: Expected Name, found \"}\".",
 *                    "locations": [{"line": L, "column": C}]}
 * @return a new document (one reference), or NULL on a syntax error or exceeded limit
 *
 * Ownership: the document copies what it needs from @p src; release with rj_gql_doc_free().
 */
rj_gql_doc_t *rj_gql_parse(const char *src, size_t len, const rj_gql_limits_t *lim,
                           json_t **error_obj);

/** Adds a reference to @p doc and returns it. */
rj_gql_doc_t *rj_gql_doc_ref(rj_gql_doc_t *doc);

/** Drops one reference; the last one frees the document. NULL is a no-op. */
void rj_gql_doc_free(rj_gql_doc_t *doc);

/** The first top-level definition (linked by `next`). Ownership: borrowed from @p doc. */
const rj_gql_ast_definition_t *rj_gql_doc_definitions(const rj_gql_doc_t *doc);

/**
 * Counts what validating and executing @p doc walks once its fragments are expanded,
 * without expanding them: each fragment's count is computed once and multiplied by its
 * spreads, saturating at SIZE_MAX, so nested spreads that would expand exponentially cost
 * time linear in the document. A spread of an unknown fragment, or one inside its own
 * cycle, counts 0 (validation rejects both).
 *
 * @param selections  set to the field selections and fragment spreads, expanded, summed
 *                    over the operations and the fragment definitions (validation walks
 *                    each of them with what it spreads)
 * @param aliases     set to the aliased field selections, expanded, summed over the
 *                    operations
 */
void rj_gql_document_count(const rj_gql_doc_t *doc, size_t *selections, size_t *aliases);

/**
 * Converts a value literal to JSON without a schema: numbers become integers or reals,
 * enums strings, variables are looked up in @p variables (absent ones become null).
 *
 * @param value      the literal; borrowed
 * @param variables  a JSON object of variable values, or NULL; borrowed
 * @return a new reference; never NULL
 */
json_t *rj_gql_value_to_json(const rj_gql_ast_value_t *value, const json_t *variables);

/**
 * Prints a type reference as GraphQL writes it, e.g. "[CartItem!]!".
 *
 * Ownership: returns a new string; free() it.
 */
char *rj_gql_type_ref_to_string(const rj_gql_type_ref_t *ref);

/**
 * Prints a value literal as GraphQL writes it (`{a: [1, "x"]}`, `$v`), block strings kept.
 *
 * Ownership: returns a new string; free() it.
 */
char *rj_gql_value_to_string(const rj_gql_ast_value_t *value);

/**
 * Quotes @p n bytes of UTF-8 as a GraphQL string literal, escaping as graphql-js does.
 *
 * Ownership: returns a new string; free() it.
 */
char *rj_gql_string_quote(const char *s, size_t n);

/** The name of the named type inside any list/non-null wrappers. Borrowed. */
const char *rj_gql_type_ref_named(const rj_gql_type_ref_t *ref);

/* ---- schemas --------------------------------------------------------------------------- */

typedef enum rj_gql_type_kind {
    RJ_GQL_KIND_SCALAR,       /* built-in or custom scalar */
    RJ_GQL_KIND_OBJECT,       /* object type */
    RJ_GQL_KIND_INTERFACE,    /* interface */
    RJ_GQL_KIND_UNION,        /* union */
    RJ_GQL_KIND_ENUM,         /* enum */
    RJ_GQL_KIND_INPUT_OBJECT, /* input object */
} rj_gql_type_kind_t;

/** An immutable schema. Reference-counted, so operations in flight survive a replacement. */
typedef struct rj_gql_schema rj_gql_schema_t;
typedef struct rj_gql_type rj_gql_type_t;

/** A field argument or an input object field. Read-only; lives as long as its schema. */
typedef struct rj_gql_input_value {
    const char *name;                          /* name */
    const char *description;                   /* description, or NULL */
    const rj_gql_type_ref_t *type;             /* declared type */
    const char *type_str;                      /* the type printed: "ID!" */
    const rj_gql_type_t *named;                /* the named type it resolves to */
    const rj_gql_ast_value_t *default_value;   /* default literal, or NULL */
    const rj_gql_ast_directive_t *directives;  /* directives applied, or NULL */
    rj_gql_loc_t loc;                          /* position in the SDL */
} rj_gql_input_value_t;

/**
 * Computes the value of an object field from its parent's JSON value, for the few fields
 * whose value is not a property of the parent (Ramjet's calculated read-model fields).
 *
 * @param ud      the pointer given to rj_gql_schema_set_field_resolver
 * @param parent  the parent object's value; borrowed
 * @param value   on RJ_OK the field's value, a new reference (NULL counts as null); it is
 *                completed against the field's type like any other value
 * @param err     on failure the message of the field error; err->code, when set, becomes
 *                its extensions.code
 */
typedef rj_status_t (*rj_gql_field_resolve_fn)(void *ud, const json_t *parent, json_t **value,
                                               rj_error_t *err);

/** A field of an object type or interface. Read-only; lives as long as its schema. */
typedef struct rj_gql_field_def {
    const char *name;                          /* field name */
    const char *description;                   /* description, or NULL */
    const rj_gql_type_ref_t *type;             /* result type */
    const char *type_str;                      /* the type printed: "[CartItem!]!" */
    const rj_gql_type_t *named;                /* the named type it resolves to */
    const rj_gql_type_t *parent;               /* the type declaring it */
    rj_gql_input_value_t *args;                /* arguments, in declaration order */
    size_t nargs;                              /* number of arguments */
    const rj_gql_ast_directive_t *directives;  /* directives applied, or NULL */
    bool deprecated;                           /* carries @deprecated */
    const char *deprecation_reason;            /* its reason, or NULL */
    rj_gql_loc_t loc;                          /* position in the SDL */
    rj_gql_field_resolve_fn resolve;           /* computes the value instead of reading the
                                                  parent's property; NULL for most fields */
    void *resolve_ud;                          /* its pointer */
} rj_gql_field_def_t;

/** An enum value. Read-only; lives as long as its schema. */
typedef struct rj_gql_enum_value {
    const char *name;                          /* value name */
    const char *description;                   /* description, or NULL */
    const rj_gql_ast_directive_t *directives;  /* directives applied, or NULL */
    bool deprecated;                           /* carries @deprecated */
    const char *deprecation_reason;            /* its reason, or NULL */
} rj_gql_enum_value_t;

/** A named type. Read-only; lives as long as its schema. */
struct rj_gql_type {
    rj_gql_type_kind_t kind;                     /* what kind of type */
    const char *name;                            /* type name */
    const char *description;                     /* description, or NULL */
    const char *specified_by;                    /* scalar @specifiedBy(url:), or NULL */
    const rj_gql_ast_directive_t **directives;   /* directives from the definition and its
                                                    extensions, in source order */
    size_t ndirectives;                          /* number of directives */
    rj_gql_field_def_t *fields;                  /* OBJECT, INTERFACE: fields */
    size_t nfields;                              /* number of fields */
    rj_gql_input_value_t *input_fields;          /* INPUT_OBJECT: fields */
    size_t ninput_fields;                        /* number of input fields */
    rj_gql_enum_value_t *enum_values;            /* ENUM: values */
    size_t nenum_values;                         /* number of values */
    const rj_gql_type_t **interfaces;            /* OBJECT, INTERFACE: implemented interfaces */
    size_t ninterfaces;                          /* number of interfaces */
    const rj_gql_type_t **possible_types;        /* UNION: members; INTERFACE: implementing
                                                    object types */
    size_t npossible_types;                      /* number of possible types */
    bool builtin;                                /* a built-in scalar or introspection type */
    rj_gql_loc_t loc;                            /* position in the SDL (0:0 for built-ins) */
};

/** A directive definition (declared in the SDL or built in). */
typedef struct rj_gql_directive_def {
    const char *name;                /* name without '@' */
    const char *description;         /* description, or NULL */
    rj_gql_input_value_t *args;      /* arguments */
    size_t nargs;                    /* number of arguments */
    const char **locations;          /* "FIELD", "OBJECT", ... */
    size_t nlocations;               /* number of locations */
    bool repeatable;                 /* declared `repeatable` */
    bool builtin;                    /* @skip, @include, @deprecated, @specifiedBy */
} rj_gql_directive_def_t;

/**
 * Builds a schema from SDL. Root types come from a `schema { ... }` block or, failing
 * that, the types named Query, Mutation and Subscription. Directives used but never
 * declared (Ramjet's @entity, @command, @readModel, @calculated...) are accepted and kept
 * as data; look them up with rj_gql_type_find_directive() and friends.
 *
 * @param sdl  the SDL text; borrowed
 * @param len  its length
 * @param err  on failure, the reason (syntax errors with line:column); may be NULL
 * @return a new schema (one reference), or NULL with RJ_ESCHEMA in @p err
 *
 * Ownership: release with rj_gql_schema_free().
 */
rj_gql_schema_t *rj_gql_schema_from_sdl(const char *sdl, size_t len, rj_error_t *err);

/** Adds a reference to @p s and returns it. */
rj_gql_schema_t *rj_gql_schema_ref(rj_gql_schema_t *s);

/** Drops one reference; the last one frees the schema. NULL is a no-op. */
void rj_gql_schema_free(rj_gql_schema_t *s);

/** Looks up a named type (user, built-in scalar or introspection type). Borrowed or NULL. */
const rj_gql_type_t *rj_gql_schema_find_type(const rj_gql_schema_t *s, const char *name);

/** Number of named types, built-ins included. */
size_t rj_gql_schema_ntypes(const rj_gql_schema_t *s);

/**
 * The i-th type: the SDL's types in declaration order first, then the built-in scalars
 * not mentioned in the SDL, then the introspection types. Borrowed.
 */
const rj_gql_type_t *rj_gql_schema_type_at(const rj_gql_schema_t *s, size_t i);

/** The root type for @p op, or NULL when the schema has none. Borrowed. */
const rj_gql_type_t *rj_gql_schema_root_type(const rj_gql_schema_t *s, rj_gql_op_type_t op);

/** Looks up a directive definition (declared or built in). Borrowed or NULL. */
const rj_gql_directive_def_t *rj_gql_schema_find_directive(const rj_gql_schema_t *s,
                                                           const char *name);

/** Number of directive definitions, and the i-th one (built-ins first). Borrowed. */
size_t rj_gql_schema_ndirectives(const rj_gql_schema_t *s);
const rj_gql_directive_def_t *rj_gql_schema_directive_at(const rj_gql_schema_t *s, size_t i);

/**
 * Makes completion compute field @p field of object type @p type with @p fn instead of
 * reading the parent's property of that name. Only when the field is selected is @p fn
 * called; a failure is a field error at the field's path, with null propagation.
 *
 * @return RJ_OK, or RJ_ENOTFOUND when @p type is not an object type with that field
 *
 * Not thread-safe: call before @p s is shared (documents validated or operations
 * prepared against it).
 */
rj_status_t rj_gql_schema_set_field_resolver(rj_gql_schema_t *s, const char *type,
                                             const char *field, rj_gql_field_resolve_fn fn,
                                             void *ud, rj_error_t *err);

/** A field of an object type or interface by name. Borrowed or NULL. */
const rj_gql_field_def_t *rj_gql_type_find_field(const rj_gql_type_t *t, const char *name);

/** An input object's field by name. Borrowed or NULL. */
const rj_gql_input_value_t *rj_gql_type_find_input_field(const rj_gql_type_t *t,
                                                         const char *name);

/** An enum value by name. Borrowed or NULL. */
const rj_gql_enum_value_t *rj_gql_type_find_enum_value(const rj_gql_type_t *t, const char *name);

/** An argument of a field by name. Borrowed or NULL. */
const rj_gql_input_value_t *rj_gql_field_find_arg(const rj_gql_field_def_t *f, const char *name);

/** The first directive named @p name applied to a type (definition or extension). */
const rj_gql_ast_directive_t *rj_gql_type_find_directive(const rj_gql_type_t *t,
                                                         const char *name);

/** The first directive named @p name applied to a field. Borrowed or NULL. */
const rj_gql_ast_directive_t *rj_gql_field_find_directive(const rj_gql_field_def_t *f,
                                                          const char *name);

/** The first directive named @p name in a directive list (e.g. an input value's). */
const rj_gql_ast_directive_t *rj_gql_directives_find(const rj_gql_ast_directive_t *list,
                                                     const char *name);

/**
 * A directive argument's value as JSON: enums as strings, lists as arrays, objects as
 * objects (`@entity(authorizeReadEvents: ALL)` gives "ALL").
 *
 * @return a new reference, or NULL when the directive has no such argument
 */
json_t *rj_gql_directive_arg_json(const rj_gql_ast_directive_t *d, const char *name);

/** True when @p t is an object, interface or union type. */
bool rj_gql_type_is_composite(const rj_gql_type_t *t);

/** True when @p t is a scalar, enum or input object (usable for variables and arguments). */
bool rj_gql_type_is_input(const rj_gql_type_t *t);

/** True when the object type @p obj is @p abstract itself or one of its possible types. */
bool rj_gql_type_is_possible(const rj_gql_type_t *abstract, const rj_gql_type_t *obj);

/**
 * Prints the schema back as SDL in graphql-js's printSchema style: built-in scalars,
 * introspection types and built-in directives omitted, and, as there, no applied
 * directives other than @deprecated and @specifiedBy.
 *
 * Ownership: returns a new string; free() it.
 */
char *rj_gql_schema_print(const rj_gql_schema_t *s);

/* ---- validation ------------------------------------------------------------------------ */

/**
 * Validates an executable document against a schema: the rules of spec section 5 as
 * graphql-js 16 implements them (the table in validate.c), with its messages.
 *
 * @return NULL when valid, else a new JSON array of error objects, each with "message"
 *         and "locations"
 */
json_t *rj_gql_validate(const rj_gql_schema_t *s, const rj_gql_doc_t *doc);

/* ---- execution ------------------------------------------------------------------------- */

/** An operation ready to execute: chosen, coerced, its root fields listed. */
typedef struct rj_gql_prepared rj_gql_prepared_t;

/** One root field of a prepared operation. Read-only; owned by the prepared operation. */
typedef struct rj_gql_root_field {
    const char *response_key;                 /* alias, or the field name */
    const char *name;                         /* field name */
    const rj_gql_field_def_t *def;            /* its definition (NULL for __typename) */
    json_t *args;                             /* coerced arguments, a JSON object */
    const rj_gql_ast_selection_t *node;       /* the first field node (sub-selections) */
    bool internal;                            /* resolved by the engine (introspection);
                                                 the caller must skip it */
} rj_gql_root_field_t;

/**
 * Prepares an operation of a (validated) document for execution: selects the operation,
 * coerces @p variables, applies @skip/@include, collects the root fields through fragments
 * and coerces each field's arguments (defaults applied, variables substituted).
 *
 * @param s          the schema; a reference is kept
 * @param doc        the document; a reference is kept
 * @param op_name    the operation to run, or NULL when the document has exactly one
 * @param variables  the request's variables (a JSON object), or NULL; borrowed
 * @param out        on RJ_OK, the prepared operation
 * @param errors     on failure, if not NULL, a new JSON array of error objects
 *                   (request errors: no "data" belongs in the response)
 * @return RJ_OK, or RJ_EINVAL for an unknown/ambiguous operation or bad variables
 *
 * Ownership: release *out with rj_gql_prepared_free(). It stays valid after @p doc,
 * @p s and @p variables are released by the caller.
 */
rj_status_t rj_gql_prepare(rj_gql_schema_t *s, rj_gql_doc_t *doc, const char *op_name,
                           const json_t *variables, rj_gql_prepared_t **out, json_t **errors);

/** The operation's type. */
rj_gql_op_type_t rj_gql_prepared_op(const rj_gql_prepared_t *p);

/** The operation's name, or NULL when anonymous. Borrowed. */
const char *rj_gql_prepared_name(const rj_gql_prepared_t *p);

/** The coerced variables, a JSON object. Borrowed (a `_get`). */
const json_t *rj_gql_prepared_variables_get(const rj_gql_prepared_t *p);

/** Number of root fields (after @skip/@include and field merging). */
size_t rj_gql_prepared_nroots(const rj_gql_prepared_t *p);

/** The i-th root field, in response order. Borrowed from @p p. */
const rj_gql_root_field_t *rj_gql_prepared_root(const rj_gql_prepared_t *p, size_t i);

/**
 * Sets the value a root field resolved to (JSON null for null).
 *
 * Ownership: takes @p value, even if @p i is out of range.
 */
void rj_gql_prepared_set_result_take(rj_gql_prepared_t *p, size_t i, json_t *value);

/**
 * Records that a root field failed: its value becomes null and the response gets an
 * error {"message", "locations", "path", "extensions": {"code": code}} ({} when @p code is
 * NULL, Booster's convention).
 */
void rj_gql_prepared_set_error(rj_gql_prepared_t *p, size_t i, const char *message,
                               const char *code);

/**
 * Records that item @p index of root field @p i's list value failed: the response gets an
 * error as rj_gql_prepared_set_error's, with path [response_key, index]. The value is the
 * caller's to set, with null at @p index (a federation `_entities` entry that failed).
 * Reported only while the root field has a value, not an error of its own.
 */
void rj_gql_prepared_add_item_error(rj_gql_prepared_t *p, size_t i, size_t index,
                                    const char *message, const char *code);

/**
 * Makes completion read the values below the root by response key (alias) instead of by
 * field name: a federation gateway merges its services' answers, which carry the
 * client's aliases, and two aliases of one field may hold different values.
 */
void rj_gql_prepared_set_keyed(rj_gql_prepared_t *p);

/**
 * Marks a value as lost upstream (a federated entity its service could not resolve):
 * non-null fields missing at or below @p path complete to null and propagate it without
 * an error of their own, as federation gateways do.
 *
 * Ownership: takes @p path (a JSON array of response keys and indexes).
 */
void rj_gql_prepared_add_lost_take(rj_gql_prepared_t *p, json_t *path);

/**
 * Adds an error that completion lists before its own (a federated service's).
 *
 * Ownership: takes @p error.
 */
void rj_gql_prepared_add_error_take(rj_gql_prepared_t *p, json_t *error);

/**
 * Completes the operation: every root value (unset ones count as null) is shaped by its
 * selection set and field type into {"data": {...}} or {"errors": [...], "data": ...}.
 * Introspection fields are answered here. May be called more than once.
 *
 * @return a new reference to the response object
 */
json_t *rj_gql_complete(const rj_gql_prepared_t *p);

/**
 * Like rj_gql_complete(), but with root field @p i taking @p value instead of what was set:
 * the pusher completes one prepared subscription many times with fresh values.
 *
 * @param value  borrowed
 * @return a new reference to the response object
 */
json_t *rj_gql_complete_with(const rj_gql_prepared_t *p, size_t i, const json_t *value);

/** Frees a prepared operation and the references it holds. NULL is a no-op. */
void rj_gql_prepared_free(rj_gql_prepared_t *p);

/**
 * Resolves one root field synchronously.
 *
 * @param ud     the caller's pointer
 * @param field  the root field (coerced args in field->args); borrowed
 * @param value  on RJ_OK, a new reference to the field's value (NULL counts as null)
 * @param err    on failure, the message; err->code becomes extensions.code when set
 */
typedef rj_status_t (*rj_gql_resolve_fn)(void *ud, const rj_gql_root_field_t *field,
                                         json_t **value, rj_error_t *err);

/**
 * Runs a parsed document synchronously: validates @p doc, prepares it, resolves every
 * non-internal root field with @p resolve, in order, and completes. Validation and request
 * errors give {"errors": [...]} without "data"; resolver errors become field errors.
 *
 * @param s, doc    borrowed (references are taken for the duration of the call)
 * @param resolve   called once per non-internal root field
 * @return a new reference to the response object; never NULL
 */
json_t *rj_gql_execute_sync(rj_gql_schema_t *s, rj_gql_doc_t *doc, const char *op_name,
                            const json_t *variables, rj_gql_resolve_fn resolve, void *ud);

/* ---- document cache -------------------------------------------------------------------- */

/** A bounded LRU of parsed and validated documents keyed by query text. One per loop. */
typedef struct rj_gql_cache rj_gql_cache_t;

/**
 * Creates a cache of up to @p capacity documents validated against @p s.
 *
 * @param s    the schema; a reference is kept
 * @param lim  parser limits, or NULL for the defaults; copied
 */
rj_gql_cache_t *rj_gql_cache_new(rj_gql_schema_t *s, size_t capacity, const rj_gql_limits_t *lim);

/** Frees the cache; documents handed out stay valid (they are reference-counted). */
void rj_gql_cache_free(rj_gql_cache_t *c);

/**
 * Returns the parsed, validated document for @p query, parsing and validating it on a miss.
 * The limits' max_fields and max_aliases are checked (rj_gql_document_count) after parsing
 * and before validation, whose cost grows with what they count: an exceeded one is a
 * single error whose extensions.code is "InvalidParameterError".
 *
 * @param errors  on failure, if not NULL, a new JSON array of syntax or validation errors
 * @return a new document reference (rj_gql_doc_free() it), or NULL when invalid
 */
rj_gql_doc_t *rj_gql_cache_get(rj_gql_cache_t *c, const char *query, size_t len,
                               json_t **errors);

/**
 * Parses and validates @p query as rj_gql_cache_get does on a miss, under the cache's
 * schema and limits, without looking it up or keeping it: for a large document handled
 * off the loop thread. Reads the cache's immutable parts only, so any thread may call it
 * while the owner uses the cache.
 *
 * @param errors  as for rj_gql_cache_get
 * @return a new document (rj_gql_doc_free() it), or NULL when invalid
 */
rj_gql_doc_t *rj_gql_cache_check(const rj_gql_cache_t *c, const char *query, size_t len,
                                 json_t **errors);

/** Number of documents held, and hit/miss counters for /metrics. */
size_t rj_gql_cache_size(const rj_gql_cache_t *c);
uint64_t rj_gql_cache_hits(const rj_gql_cache_t *c);
uint64_t rj_gql_cache_misses(const rj_gql_cache_t *c);

#endif
