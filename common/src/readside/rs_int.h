/*
 * readside/rs_int.h - private to common/src/readside: the filter vocabulary shared by the
 * SQL compiler (filter_sql.c) and the in-memory evaluator (filter_match.c), so both read a
 * filter object the same way.
 */
#ifndef RJ_RS_INT_H
#define RJ_RS_INT_H

#include <jansson.h>
#include <stdbool.h>

/** What a key of a filter object means. */
typedef enum rj__rs_op {
    RJ__RS_FIELD,       /* not an operator: a field name, its value filters that field */
    RJ__RS_AND,         /* and: [F], all hold over the same object */
    RJ__RS_OR,          /* or: [F], one holds */
    RJ__RS_NOT,         /* not: F */
    RJ__RS_IS_DEFINED,  /* isDefined: Boolean, the path exists (null included) or not */
    RJ__RS_EQ,          /* eq */
    RJ__RS_NE,          /* ne */
    RJ__RS_LT,          /* lt */
    RJ__RS_LTE,         /* lte */
    RJ__RS_GT,          /* gt */
    RJ__RS_GTE,         /* gte */
    RJ__RS_IN,          /* in: [V] */
    RJ__RS_BEGINS_WITH, /* beginsWith: literal prefix */
    RJ__RS_CONTAINS,    /* contains: literal substring */
    RJ__RS_REGEX,       /* regex: POSIX regular expression */
    RJ__RS_IREGEX,      /* iRegex: case-insensitive regex */
    RJ__RS_INCLUDES,    /* includes: an array element equals / contains the operand */
} rj__rs_op_t;

/** Classifies a filter key. */
rj__rs_op_t rj__rs_op(const char *key);

/** True for the comparisons lt, lte, gt, gte. */
static inline bool
rj__rs_op_is_order(rj__rs_op_t op)
{
    return op == RJ__RS_LT || op == RJ__RS_LTE || op == RJ__RS_GT || op == RJ__RS_GTE;
}

/** True for a JSON object or array (jsonb's containers). */
static inline bool
rj__rs_is_container(const json_t *v)
{
    return json_is_object(v) || json_is_array(v);
}

#endif
