/*
 * graphql/ast.h - the syntax tree of a GraphQL document (GraphQL spec, October 2021).
 *
 * One set of node types covers both executable documents (operations, fragments) and
 * type-system documents (SDL: type, input, enum, scalar, interface, union, schema and
 * directive definitions, and their `extend` forms). Every node carries the line and
 * column (both 1-based, columns counted in bytes) where it starts, for error locations.
 *
 * Sequences are singly linked through `next`, in source order: the parser appends as it
 * reads, and every consumer walks them front to back, so arrays would buy nothing.
 *
 * All nodes and strings live in the arena of the rj_gql_doc_t that owns them and die with
 * it; nothing here is freed on its own. Nodes are read-only after parsing. This header
 * deliberately holds no behaviour: parsing, printing and evaluation live in graphql.h.
 */
#ifndef RJ_GQL_AST_H
#define RJ_GQL_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** A source position. */
typedef struct rj_gql_loc {
    uint32_t line;   /* 1-based line */
    uint32_t column; /* 1-based column, in bytes */
} rj_gql_loc_t;

/** The three operation types. */
typedef enum rj_gql_op_type {
    RJ_GQL_OP_QUERY,        /* query (also the `{ ... }` shorthand) */
    RJ_GQL_OP_MUTATION,     /* mutation */
    RJ_GQL_OP_SUBSCRIPTION, /* subscription */
} rj_gql_op_type_t;

/* ---- values -------------------------------------------------------------------------- */

typedef enum rj_gql_value_kind {
    RJ_GQL_VALUE_VARIABLE, /* $name: `str` is the name without '$' */
    RJ_GQL_VALUE_INT,      /* `str` is the literal text, e.g. "-12" */
    RJ_GQL_VALUE_FLOAT,    /* `str` is the literal text, e.g. "1.5e3" */
    RJ_GQL_VALUE_STRING,   /* `str`/`len` the decoded UTF-8 (may hold NUL) */
    RJ_GQL_VALUE_BOOLEAN,  /* `boolean` */
    RJ_GQL_VALUE_NULL,     /* null */
    RJ_GQL_VALUE_ENUM,     /* `str` is the enum value name */
    RJ_GQL_VALUE_LIST,     /* `items` */
    RJ_GQL_VALUE_OBJECT,   /* `fields` */
} rj_gql_value_kind_t;

typedef struct rj_gql_ast_value rj_gql_ast_value_t;

/** One `name: value` entry of an object literal. */
typedef struct rj_gql_ast_object_field {
    const char *name;                     /* field name */
    rj_gql_loc_t loc;                     /* position of the name */
    rj_gql_ast_value_t *value;            /* the value; never NULL */
    struct rj_gql_ast_object_field *next; /* next entry, or NULL */
} rj_gql_ast_object_field_t;

/** A value literal (arguments, defaults, directive arguments). */
struct rj_gql_ast_value {
    rj_gql_value_kind_t kind;          /* which of the members below is meaningful */
    rj_gql_loc_t loc;                  /* where the literal starts */
    const char *str;                   /* variable/enum name, number text or string bytes */
    size_t len;                        /* length of `str` in bytes */
    bool boolean;                      /* RJ_GQL_VALUE_BOOLEAN */
    bool block;                        /* RJ_GQL_VALUE_STRING written as a """block string""" */
    rj_gql_ast_value_t *items;         /* RJ_GQL_VALUE_LIST: first item, linked by `next` */
    rj_gql_ast_object_field_t *fields; /* RJ_GQL_VALUE_OBJECT: first entry */
    rj_gql_ast_value_t *next;          /* next item of the enclosing list, or NULL */
};

/* ---- type references ----------------------------------------------------------------- */

typedef enum rj_gql_type_ref_kind {
    RJ_GQL_TYPE_NAMED,    /* `name` */
    RJ_GQL_TYPE_LIST,     /* [of_type] */
    RJ_GQL_TYPE_NON_NULL, /* of_type! */
} rj_gql_type_ref_kind_t;

/** A type as written at a use site: `ID`, `[CartItem!]!`. Shared by the AST and the schema. */
typedef struct rj_gql_type_ref {
    rj_gql_type_ref_kind_t kind;      /* named, list or non-null wrapper */
    rj_gql_loc_t loc;                 /* where it starts */
    const char *name;                 /* RJ_GQL_TYPE_NAMED: the type name; NULL otherwise */
    struct rj_gql_type_ref *of_type;  /* list/non-null: the wrapped type; NULL for named */
} rj_gql_type_ref_t;

/* ---- arguments and directives -------------------------------------------------------- */

/** One `name: value` argument of a field or directive. */
typedef struct rj_gql_ast_argument {
    const char *name;                 /* argument name */
    rj_gql_loc_t loc;                 /* position of the name */
    rj_gql_ast_value_t *value;        /* the value; never NULL */
    struct rj_gql_ast_argument *next; /* next argument, or NULL */
} rj_gql_ast_argument_t;

/** A directive application, `@name(args)`, on any node that takes directives. */
typedef struct rj_gql_ast_directive {
    const char *name;                  /* name without '@' */
    rj_gql_loc_t loc;                  /* position of the '@' */
    rj_gql_ast_argument_t *args;       /* first argument, or NULL */
    struct rj_gql_ast_directive *next; /* next directive on the same node, or NULL */
} rj_gql_ast_directive_t;

/* ---- executable definitions ---------------------------------------------------------- */

typedef enum rj_gql_selection_kind {
    RJ_GQL_SEL_FIELD,           /* alias: name(args) @dirs { ... } */
    RJ_GQL_SEL_FRAGMENT_SPREAD, /* ...Name @dirs */
    RJ_GQL_SEL_INLINE_FRAGMENT, /* ... on Type @dirs { ... } */
} rj_gql_selection_kind_t;

/** One entry of a selection set. */
typedef struct rj_gql_ast_selection {
    rj_gql_selection_kind_t kind;            /* which form */
    rj_gql_loc_t loc;                        /* field: alias or name; fragments: the "..." */
    const char *alias;                       /* field alias, or NULL */
    const char *name;                        /* field name, or the spread fragment's name */
    const char *type_condition;              /* inline fragment's `on Type`, or NULL */
    rj_gql_loc_t name_loc;                   /* field or spread fragment name */
    rj_gql_loc_t type_condition_loc;         /* the type condition's name */
    rj_gql_loc_t selections_loc;             /* the '{' of the sub-selections */
    rj_gql_ast_argument_t *args;             /* field arguments, or NULL */
    rj_gql_ast_directive_t *directives;      /* directives, or NULL */
    struct rj_gql_ast_selection *selections; /* sub-selections, or NULL when none */
    struct rj_gql_ast_selection *next;       /* next selection in the same set, or NULL */
} rj_gql_ast_selection_t;

/** A variable definition of an operation: `$name: Type = default @dirs`. */
typedef struct rj_gql_ast_variable {
    const char *name;                   /* name without '$' */
    rj_gql_loc_t loc;                   /* position of the '$' */
    rj_gql_loc_t name_loc;              /* position of the name after the '$' */
    rj_gql_type_ref_t *type;            /* declared type; never NULL */
    rj_gql_ast_value_t *default_value;  /* default, or NULL */
    rj_gql_ast_directive_t *directives; /* directives, or NULL */
    struct rj_gql_ast_variable *next;   /* next variable, or NULL */
} rj_gql_ast_variable_t;

/* ---- type-system definitions --------------------------------------------------------- */

/** An argument definition or an input object field: `"desc" name: Type = default @dirs`. */
typedef struct rj_gql_ast_input_value {
    const char *description;              /* description string, or NULL */
    const char *name;                     /* name */
    rj_gql_loc_t loc;                     /* position of the name */
    rj_gql_type_ref_t *type;              /* type; never NULL */
    rj_gql_ast_value_t *default_value;    /* default, or NULL */
    rj_gql_ast_directive_t *directives;   /* directives, or NULL */
    struct rj_gql_ast_input_value *next;  /* next one, or NULL */
} rj_gql_ast_input_value_t;

/** A field definition of an object type or interface. */
typedef struct rj_gql_ast_field_def {
    const char *description;             /* description, or NULL */
    const char *name;                    /* field name */
    rj_gql_loc_t loc;                    /* position of the name */
    rj_gql_ast_input_value_t *args;      /* argument definitions, or NULL */
    rj_gql_type_ref_t *type;             /* result type; never NULL */
    rj_gql_ast_directive_t *directives;  /* directives, or NULL */
    struct rj_gql_ast_field_def *next;   /* next field, or NULL */
} rj_gql_ast_field_def_t;

/** An enum value definition. */
typedef struct rj_gql_ast_enum_value {
    const char *description;             /* description, or NULL */
    const char *name;                    /* value name */
    rj_gql_loc_t loc;                    /* position of the name */
    rj_gql_ast_directive_t *directives;  /* directives, or NULL */
    struct rj_gql_ast_enum_value *next;  /* next value, or NULL */
} rj_gql_ast_enum_value_t;

/** A bare name in a list: implemented interfaces, union members, directive locations. */
typedef struct rj_gql_ast_name {
    const char *name;             /* the name */
    rj_gql_loc_t loc;             /* its position */
    struct rj_gql_ast_name *next; /* next name, or NULL */
} rj_gql_ast_name_t;

/** `query: Query` inside `schema { ... }`. */
typedef struct rj_gql_ast_root_op {
    rj_gql_op_type_t op;             /* which root */
    const char *type_name;           /* the named object type */
    rj_gql_loc_t loc;                /* position of the operation keyword */
    struct rj_gql_ast_root_op *next; /* next entry, or NULL */
} rj_gql_ast_root_op_t;

typedef enum rj_gql_def_kind {
    RJ_GQL_DEF_OPERATION,    /* query/mutation/subscription or the `{}` shorthand */
    RJ_GQL_DEF_FRAGMENT,     /* fragment Name on Type { ... } */
    RJ_GQL_DEF_SCHEMA,       /* schema { query: Q ... } (and `extend schema`) */
    RJ_GQL_DEF_SCALAR,       /* scalar Name */
    RJ_GQL_DEF_OBJECT,       /* type Name implements A & B { fields } */
    RJ_GQL_DEF_INTERFACE,    /* interface Name implements A { fields } */
    RJ_GQL_DEF_UNION,        /* union Name = A | B */
    RJ_GQL_DEF_ENUM,         /* enum Name { VALUES } */
    RJ_GQL_DEF_INPUT_OBJECT, /* input Name { fields } */
    RJ_GQL_DEF_DIRECTIVE,    /* directive @name(args) repeatable on LOCATIONS */
} rj_gql_def_kind_t;

/**
 * A top-level definition. One struct for all kinds keeps the parser and the walkers flat;
 * each member states the kinds it applies to and is NULL/zero for the others.
 */
typedef struct rj_gql_ast_definition {
    rj_gql_def_kind_t kind;               /* which definition */
    rj_gql_loc_t loc;                     /* first token (after the description) */
    bool extend;                          /* written as `extend ...` (type-system kinds) */
    bool shorthand;                       /* operation written as a bare `{ ... }` */
    bool repeatable;                      /* directive definition marked `repeatable` */
    rj_gql_op_type_t op;                  /* OPERATION: its type */
    const char *description;              /* type-system kinds: description, or NULL */
    const char *name;                     /* operation (NULL when anonymous), fragment, type
                                             or directive name */
    rj_gql_ast_variable_t *variables;     /* OPERATION: variable definitions */
    const char *type_condition;           /* FRAGMENT: `on Type` */
    rj_gql_loc_t name_loc;                /* position of `name` (when there is one) */
    rj_gql_loc_t type_condition_loc;      /* FRAGMENT: position of the type condition */
    rj_gql_ast_directive_t *directives;   /* directives applied to the definition */
    rj_gql_ast_selection_t *selections;   /* OPERATION, FRAGMENT: selection set */
    rj_gql_ast_field_def_t *fields;       /* OBJECT, INTERFACE: field definitions */
    rj_gql_ast_input_value_t *input_values; /* INPUT_OBJECT: fields; DIRECTIVE: arguments */
    rj_gql_ast_name_t *interfaces;        /* OBJECT, INTERFACE: `implements` list */
    rj_gql_ast_name_t *members;           /* UNION: member types; DIRECTIVE: locations */
    rj_gql_ast_enum_value_t *enum_values; /* ENUM: values */
    rj_gql_ast_root_op_t *root_ops;       /* SCHEMA: root operation types */
    struct rj_gql_ast_definition *next;   /* next definition, or NULL */
} rj_gql_ast_definition_t;

#endif
