/*
 * graphql/gql_int.h - internals shared by the files of the GraphQL engine: the arena the
 * AST and schemas live in, the document and schema structs, the lexer, error-object
 * helpers, field collection and input coercion.
 *
 * Nothing outside common/src/graphql includes this; the rest of Ramjet uses graphql.h.
 */
#ifndef RJ_GQL_INT_H
#define RJ_GQL_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "graphql/graphql.h"
#include "json/envelope.h"

/* ---- arena ------------------------------------------------------------------------------ */

/*
 * A bump allocator: AST nodes and schema tables are allocated in bulk and freed at once,
 * which keeps the parser free of ownership bookkeeping and a document to one free().
 */
typedef struct rj__gql_chunk rj__gql_chunk_t;
typedef struct rj__gql_arena {
    rj__gql_chunk_t *head; /* newest chunk; older ones follow */
} rj__gql_arena_t;

void rj__gql_arena_init(rj__gql_arena_t *a);
void rj__gql_arena_deinit(rj__gql_arena_t *a);
/** Zeroed, 16-byte aligned memory that lives until the arena is deinitialised. */
void *rj__gql_arena_alloc(rj__gql_arena_t *a, size_t n);
/** A NUL-terminated copy of @p n bytes. */
char *rj__gql_arena_strndup(rj__gql_arena_t *a, const char *s, size_t n);

/* ---- documents --------------------------------------------------------------------------- */

/** An open-addressing string map to borrowed pointers; the schema's name index. */
typedef struct rj__gql_map {
    const char **keys; /* slot keys, NULL for empty slots */
    const void **vals; /* slot values */
    size_t cap;        /* power of two */
    size_t n;          /* occupied slots */
} rj__gql_map_t;

void rj__gql_map_init(rj__gql_map_t *m);
void rj__gql_map_deinit(rj__gql_map_t *m);
/** Inserts or replaces; @p key must outlive the map. */
void rj__gql_map_put(rj__gql_map_t *m, const char *key, const void *val);
const void *rj__gql_map_get(const rj__gql_map_t *m, const char *key);

struct rj_gql_doc {
    int refs;                         /* references held; freed at zero */
    rj__gql_arena_t arena;            /* every node and string of the AST */
    rj_gql_ast_definition_t *defs;    /* first definition */
    rj__gql_map_t fragments;          /* name -> first fragment definition of that name */
};

/* ---- lexer ------------------------------------------------------------------------------- */

typedef enum rj__gql_tok_kind {
    RJ__TOK_SOF,          /* start of file, before the first token */
    RJ__TOK_EOF,          /* end of file */
    RJ__TOK_BANG,         /* ! */
    RJ__TOK_DOLLAR,       /* $ */
    RJ__TOK_AMP,          /* & */
    RJ__TOK_PAREN_L,      /* ( */
    RJ__TOK_PAREN_R,      /* ) */
    RJ__TOK_SPREAD,       /* ... */
    RJ__TOK_COLON,        /* : */
    RJ__TOK_EQUALS,       /* = */
    RJ__TOK_AT,           /* @ */
    RJ__TOK_BRACKET_L,    /* [ */
    RJ__TOK_BRACKET_R,    /* ] */
    RJ__TOK_BRACE_L,      /* { */
    RJ__TOK_PIPE,         /* | */
    RJ__TOK_BRACE_R,      /* } */
    RJ__TOK_NAME,         /* Name */
    RJ__TOK_INT,          /* IntValue */
    RJ__TOK_FLOAT,        /* FloatValue */
    RJ__TOK_STRING,       /* StringValue, decoded */
    RJ__TOK_BLOCK_STRING, /* block StringValue, dedented */
} rj__gql_tok_kind_t;

typedef struct rj__gql_token {
    rj__gql_tok_kind_t kind; /* token kind */
    size_t start;            /* byte offset of its first character */
    size_t end;              /* byte offset one past its last character */
    rj_gql_loc_t loc;        /* line and column of `start` */
    const char *value;       /* NAME/INT/FLOAT: the text; strings: decoded (arena-owned) */
    size_t len;              /* length of `value` */
} rj__gql_token_t;

typedef struct rj__gql_lexer {
    const char *src;         /* source; borrowed */
    size_t len;              /* source length */
    size_t pos;              /* next byte to read */
    uint32_t line;           /* current line, 1-based */
    size_t line_start;       /* offset of the current line's first byte */
    size_t col_line_start;   /* line_start that col_pos/col_units were counted from */
    size_t col_pos;          /* byte offset up to which columns were counted */
    size_t col_units;        /* UTF-16 code units from col_line_start to col_pos */
    rj__gql_arena_t *arena;  /* where decoded strings go */
    rj__gql_token_t tok;     /* the current token */
    size_t ntokens;          /* tokens read so far */
    char msg[256];           /* the error, when advance() fails */
    rj_gql_loc_t err_loc;    /* where it happened */
} rj__gql_lexer_t;

void rj__gql_lexer_init(rj__gql_lexer_t *lx, const char *src, size_t len, rj__gql_arena_t *a);
/** Reads the next token into lx->tok; false with lx->msg/err_loc set on a lexical error. */
bool rj__gql_lexer_advance(rj__gql_lexer_t *lx);
/** Describes a token the way graphql-js does: `"}"`, `Name "foo"`, `<EOF>`. */
void rj__gql_token_desc(const rj__gql_token_t *t, char *out, size_t n);
/** The kind's description: `"}"`, `Name`, `<EOF>`. */
const char *rj__gql_tok_kind_desc(rj__gql_tok_kind_t k);

/* ---- suggestions (validate.c) --------------------------------------------------------- */

/** graphql-js's naturalCompare: byte order, except that runs of digits compare by value. */
int rj__gql_natural_compare(const char *a, const char *b);

/**
 * Appends graphql-js's didYouMean(" Did you mean [sub ]"a", "b", or "c"?") for the
 * candidates in @p options lexically close to @p input (suggestionList), if any.
 *
 * @param sub  a phrase before the names ("the enum value"), or NULL
 */
void rj__gql_did_you_mean(rj_buf_t *b, const char *sub, const char *input,
                          const char *const *options, size_t n);

/* ---- errors ------------------------------------------------------------------------------ */

/** A new error object {"message": msg, "locations": [{line, column}]}; loc may be NULL. */
json_t *rj__gql_error_new(const rj_gql_loc_t *loc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/** Adds a location to an error object's "locations". */
void rj__gql_error_add_loc(json_t *error, rj_gql_loc_t loc);

/* ---- schema ------------------------------------------------------------------------------ */

struct rj_gql_schema {
    int refs;                            /* references held; freed at zero */
    rj__gql_arena_t arena;               /* types, fields and their tables */
    rj_gql_doc_t *sdl;                   /* the user's SDL (its AST is pointed into) */
    rj_gql_doc_t *prelude;               /* built-in scalars, directives, __ types */
    rj_gql_type_t **types;               /* all named types, in rj_gql_schema_type_at order */
    size_t ntypes;                       /* number of types */
    rj__gql_map_t type_index;            /* name -> rj_gql_type_t */
    const rj_gql_type_t **intro_types;   /* __schema.types: graphql-js's type map order */
    size_t nintro_types;                 /* number of intro_types */
    rj_gql_directive_def_t **directives; /* directive definitions, built-ins first */
    size_t ndirectives;                  /* number of directive definitions */
    rj__gql_map_t directive_index;       /* name -> rj_gql_directive_def_t */
    const rj_gql_type_t *roots[3];       /* query, mutation, subscription (or NULL) */
    const char *description;             /* schema block description, or NULL */
    const rj_gql_field_def_t *meta_schema;   /* __schema: __Schema! (query root only) */
    const rj_gql_field_def_t *meta_type;     /* __type(name: String!): __Type (query root) */
    const rj_gql_field_def_t *meta_typename; /* __typename: String! (every composite type) */
};

/**
 * A field of a composite type by name, meta-fields included: __typename on every
 * composite type, __schema and __type on the query root. Borrowed or NULL.
 */
const rj_gql_field_def_t *rj__gql_field_lookup(const rj_gql_schema_t *s, const rj_gql_type_t *t,
                                               const char *name);

/** True for the built-in, specified scalars String, Int, Float, Boolean, ID. */
bool rj__gql_is_builtin_scalar(const char *name);

/* ---- fields and values ------------------------------------------------------------------- */

/** The definition of a top-level fragment by name, or NULL. */
const rj_gql_ast_definition_t *rj__gql_doc_fragment(const rj_gql_doc_t *doc, const char *name);

/**
 * Evaluates @skip/@include on a selection: true when it stays. Variables are the coerced
 * ones; a non-boolean `if` keeps the selection (validation reports it).
 */
bool rj__gql_should_include(const rj_gql_ast_directive_t *dirs, const json_t *variables);

/** One response key's merged field nodes, as CollectFields groups them. */
typedef struct rj__gql_field_group {
    const char *key;                       /* response key */
    const rj_gql_ast_selection_t **nodes;  /* field nodes with this key, in order */
    size_t nnodes;                         /* number of nodes */
    size_t cap;                            /* capacity of `nodes` */
} rj__gql_field_group_t;

typedef struct rj__gql_fields {
    rj__gql_field_group_t *groups;  /* in first-appearance order */
    size_t n;                       /* number of groups */
    size_t cap;                     /* capacity */
    rj__gql_map_t index;            /* response key -> 1 + index into groups */
} rj__gql_fields_t;

/**
 * CollectFields (spec 6.3.2): flattens @p sel for an object of type @p type, following
 * fragment spreads (each at most once) and inline fragments whose type condition applies,
 * honouring @skip/@include. Append to @p out (zero it first); free with ..._fields_deinit.
 */
void rj__gql_collect_fields(const rj_gql_schema_t *s, const rj_gql_doc_t *doc,
                            const rj_gql_type_t *type, const rj_gql_ast_selection_t *sel,
                            const json_t *variables, rj__gql_fields_t *out);
void rj__gql_fields_deinit(rj__gql_fields_t *f);

/**
 * valueFromAST (spec 5.6 / 6.4.1): a literal coerced for @p type, variables substituted from
 * the already-coerced @p variables. Returns a new reference, or NULL when the literal is
 * invalid for the type (the caller words the error).
 */
json_t *rj__gql_value_from_ast(const rj_gql_schema_t *s, const rj_gql_type_ref_t *type,
                               const rj_gql_ast_value_t *v, const json_t *variables);

/**
 * Coerces the variables of @p op from the request's @p inputs (graphql-js
 * coerceVariableValues). Appends errors to @p errors; returns a new object or NULL.
 */
json_t *rj__gql_coerce_variables(const rj_gql_schema_t *s, const rj_gql_ast_definition_t *op,
                                 const json_t *inputs, json_t *errors);

/**
 * Coerces a field's arguments (graphql-js getArgumentValues). On failure returns NULL and
 * sets *error to a new error object located at the offending node.
 */
json_t *rj__gql_coerce_args(const rj_gql_schema_t *s, const rj_gql_input_value_t *defs,
                            size_t ndefs, const rj_gql_ast_argument_t *args,
                            const json_t *variables, rj_gql_loc_t field_loc, json_t **error);

/**
 * Parses a literal for a leaf type (parseLiteral). Returns a new reference, or NULL with a
 * graphql-js message in @p msg (may be empty when the generic message applies).
 */
json_t *rj__gql_parse_literal(const rj_gql_type_t *t, const rj_gql_ast_value_t *v,
                              const json_t *variables, char *msg, size_t n);

/** JavaScript's util.inspect of a JSON value, as graphql-js prints invalid values. */
void rj__gql_inspect(rj_buf_t *b, const json_t *v);

/** Prints a value literal as GraphQL text (graphql-js print()). Appends to @p b. */
void rj__gql_print_value(rj_buf_t *b, const rj_gql_ast_value_t *v);
/** Prints a string as a GraphQL string literal (graphql-js printString). */
void rj__gql_print_string(rj_buf_t *b, const char *s, size_t n);
/** Prints a block string (graphql-js printBlockString). */
void rj__gql_print_block_string(rj_buf_t *b, const char *s, size_t n);

/* ---- introspection ----------------------------------------------------------------------- */

/** Completes a `__schema` or `__type(name:)` root field; returns a new reference. */
json_t *rj__gql_introspect(const rj_gql_schema_t *s, const rj_gql_doc_t *doc,
                           const rj_gql_field_def_t *field, const rj__gql_field_group_t *group,
                           const json_t *args, const json_t *variables);

/** The SDL of the built-in scalars, directives and introspection types. */
extern const char rj__gql_prelude_sdl[];

#endif
