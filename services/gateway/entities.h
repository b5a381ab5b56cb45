/*
 * entities.h - the application's API as an Apollo Federation v1 subgraph: how the gateway
 * answers `_entities(representations: [_Any!]!): [_Entity]!` for its read models, so that
 * @apollo/gateway and @mercuriusjs/gateway can federate a Ramjet application.
 *
 * A gateway sends every entity of one type it needs at one depth in one call; answering it
 * with one read per representation would make a list of a thousand carts a thousand round
 * trips to PostgreSQL. So the representations are first decided one by one exactly as the
 * by-id query decides its argument (gw_read_model_key: the read model's authorizer, then
 * its before hooks), then grouped by read model into batches, each read with ONE statement
 * that binds all of its keys as two text arrays; the rows are put back in representation
 * order, null where no row matched.
 *
 * This file is the pure part (deciding, grouping, the statement, placing the rows), so
 * that unit tests can check it without a loop or a database; exec.c runs the batches on
 * the PostgreSQL pool. `_service { sdl }` needs nothing here: it is
 * rj_app_subgraph_sdl().
 */
#ifndef GW_ENTITIES_H
#define GW_ENTITIES_H

#include <jansson.h>
#include <stddef.h>

#include "app/app.h"

/** The representations of one read model in an `_entities` call: one statement. */
typedef struct gw_entity_batch {
    const rj_app_read_model_t *rm; /* the read model (its typename) */
    size_t n;                      /* representations it answers */
    size_t cap;                    /* room in the arrays below */
    size_t *slots;                 /* their indexes in the representations list */
    char **ids;                    /* their ids, as the before hooks left them */
    char **seqs;                   /* their sequence keys; "" for a read model that is not
                                      sequenced (the table's seq of its one row per id) */
} gw_entity_batch_t;

/** An `_entities` call decided: what to read, and what failed before any read. */
typedef struct gw_entity_plan {
    gw_entity_batch_t *batches; /* one per read model asked for, in order of first mention */
    size_t n_batches;           /* their number */
    json_t *errors;             /* [{"index", "message", "code"}] for the representations
                                   refused, in representation order; owned */
} gw_entity_plan_t;

/**
 * Decides each representation {"__typename": T, "id": ..., [<sequence field>: ...]}: T must
 * be a read model, the id (and for a sequenced read model its sequence key, the entity's
 * second key field) a string or number of at most @p max_id_bytes bytes, and the read
 * model's authorizer and before hooks must accept it as they would `T(id:)`. Those that
 * pass go into their read model's batch; the others into plan->errors, with the message
 * and code `T(id:)` would have failed with (NotAuthorizedError, a hook's own).
 *
 * @param representations  the coerced argument, a JSON array; borrowed
 * @param user             the user envelope or NULL; borrowed
 * @param out              the plan; release it with gw_entity_plan_deinit()
 *
 * Loop thread (custom authorizers and before hooks run here).
 */
void gw_entity_plan_build(const rj_app_t *app, const json_t *representations, const json_t *user,
                          size_t max_id_bytes, gw_entity_plan_t *out);

/**
 * Records in plan->errors that representation @p index failed (its entry will be null):
 * for a refusal, or a batch whose read failed. @p message and @p code are copied.
 */
void gw_entity_plan_refuse(gw_entity_plan_t *plan, size_t index, const char *message,
                           const char *code);

/** Frees what a plan holds. */
void gw_entity_plan_deinit(gw_entity_plan_t *plan);

/**
 * The statement that reads a batch from read-model table @p table ($1: the ids, $2: the
 * sequence keys, both text array literals as gw_entity_batch_params gives them): one row,
 * one column, a JSON array of [id, seq, value] for the keys that have a row.
 *
 * Ownership: returns a new string; free() it.
 */
char *gw_entity_batch_sql(const char *table);

/** The batch's two parameters: text array literals of its ids and sequence keys (free()). */
void gw_entity_batch_params(const gw_entity_batch_t *b, char **ids, char **seqs);

/**
 * Puts the rows a batch read into @p result: each representation of the batch whose key
 * has a row gets a copy of its value with "__typename" set (what resolves the _Entity
 * union), a representation without a row stays as it is (null). Rows that are not
 * [id, seq, value] triples are ignored.
 *
 * @param rows    the statement's answer; borrowed
 * @param result  an array of one slot per representation; modified
 */
void gw_entity_batch_place(const gw_entity_batch_t *b, const json_t *rows, json_t *result);

#endif
