/*
 * subs.h - the pusher's subscription registry: who is watching which read model row.
 *
 * A subscription is one `start` (or `subscribe`) of a GraphQL subscription on one
 * connection: the client's operation id, what it watches, and the prepared operation that
 * shapes each new value into the client's selection. It watches either one row (`X(id:)`,
 * a by-id subscription) or every row of a read model that satisfies a filter
 * (`Xs(filter:)`, a filter subscription). The registry indexes every subscription twice:
 *
 *   - by-id subscriptions by topic, (read model, id), in a hash table, so a change
 *     notification touches only the subscriptions on that row and never scans the others;
 *     filter subscriptions by group, in a per-read-model list: a group gathers the
 *     subscriptions with the same read model, filter and operation text (the caller's
 *     group key), so a change evaluates each distinct filter once and renders each
 *     distinct selection once, however many clients share them. Filters cannot be
 *     indexed by row, so every change of a read model visits each of its groups;
 *   - by owner, a list per connection, so `stop` finds (connection, op id) and a closing
 *     connection drops all of its subscriptions without a search.
 *
 * Both links are intrusive and doubly linked, so every removal is O(1) apart from the
 * owner-list search by op id (a connection holds a handful of operations).
 *
 * The registry is single-threaded: it lives on the libwebsockets service thread, like
 * the connections that own the subscriptions. It knows nothing about sockets, frames or
 * Redis; it stores and finds. It does not evaluate filters either: it hands each group's
 * filter to the caller (protocol.c evaluates it with rj_rs_filter_match).
 */
#ifndef PUSH_SUBS_H
#define PUSH_SUBS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "graphql/graphql.h"

typedef struct push_subs push_subs_t;
typedef struct push_topic push_topic_t;
typedef struct push_sub push_sub_t;

/**
 * The subscriptions of one owner (one connection). Caller-owned storage embedded in the
 * connection; zero-initialise it (or use push_sub_owner_init) before the first add.
 */
typedef struct push_sub_owner {
    push_sub_t *head; /* first subscription, newest first; NULL when none */
    size_t count;     /* number of subscriptions */
    void *data;       /* the owner's own pointer (its connection state); not touched here */
} push_sub_owner_t;

/** One registered subscription. Fields are read-only outside subs.c. */
struct push_sub {
    char *op_id;             /* the client's operation id, from `start` */
    char *read_model;        /* read model watched, e.g. "CartReadModel" */
    char *id;                /* read model id watched; NULL for a filter subscription */
    char *sequence_key;      /* sequenced read models: the one row watched, or NULL for all */
    rj_gql_prepared_t *op;   /* the prepared subscription, owned; may be NULL in tests */
    size_t root;             /* index of the subscribed root field in @c op */
    char *render_key;        /* by id: equal keys render a change alike, or NULL; owned */
    void *pending;           /* the caller's newest undelivered item for it, or NULL; the
                                release hook is called when a subscription with one goes */
    push_sub_owner_t *owner; /* the connection holding it */
    push_topic_t *topic;     /* its (read model, id) topic, or its filter group */
    push_sub_t *topic_prev;  /* neighbours in the topic's (or group's) list */
    push_sub_t *topic_next;
    push_sub_t *owner_prev; /* neighbours in the owner's list */
    push_sub_t *owner_next;
};

/**
 * What a new subscription watches and how it answers. With @c id set it is a by-id
 * subscription; with @c id NULL a filter subscription, and @c group_key is required.
 */
typedef struct push_sub_spec {
    const char *op_id;        /* operation id; copied */
    const char *read_model;   /* read model name; copied */
    const char *id;           /* read model id, or NULL for a filter subscription; copied */
    const char *sequence_key; /* by id: row of a sequenced read model, or NULL; copied */
    const json_t *filter;     /* by filter: the filter, NULL or JSON null for every row;
                                 borrowed, the group keeps a reference */
    const char *group_key;    /* by filter: equal keys (within a read model) share a group,
                                 so they must mean the same filter and selection; copied */
    rj_gql_prepared_t *op;    /* the prepared operation; taken (see push_subs_add) */
    size_t root;              /* index of the subscribed root field in @c op */
    const char *render_key;   /* by id: subscriptions of a row with equal keys render a
                                 change alike (same text, name, variables), or NULL; copied */
} push_sub_spec_t;

/** Creates an empty registry. Never NULL. Ownership: release with push_subs_free(). */
push_subs_t *push_subs_new(void);

/**
 * Called when a subscription whose @c pending is set is removed, before it is freed, so
 * the caller can drop what it was holding for it. Must not add or remove subscriptions.
 */
typedef void (*push_sub_release_fn)(push_sub_t *sub, void *ud);

/** Installs the release hook (NULL: none). */
void push_subs_set_release(push_subs_t *r, push_sub_release_fn fn, void *ud);

/**
 * Frees the registry and every subscription still in it (their prepared operations too).
 * Owners must not be used with it afterwards. NULL is a no-op.
 */
void push_subs_free(push_subs_t *r);

/** Initialises an owner list for @p data (the owner's own pointer, may be NULL). */
void push_sub_owner_init(push_sub_owner_t *owner, void *data);

/**
 * Registers a subscription for @p owner. An existing subscription of the same owner with
 * the same op id is removed first, as subscriptions-transport-ws servers do when a
 * client reuses an id.
 *
 * @param r      the registry
 * @param owner  the owning connection's list; borrowed, must outlive the subscription
 * @param spec   what to watch; its strings are copied, its @c op is taken
 * @return the new subscription, owned by the registry (valid until removed)
 */
push_sub_t *push_subs_add(push_subs_t *r, push_sub_owner_t *owner, const push_sub_spec_t *spec);

/**
 * Removes @p owner's subscription with operation id @p op_id.
 *
 * @return true when one was found and freed
 */
bool push_subs_remove_op(push_subs_t *r, push_sub_owner_t *owner, const char *op_id);

/** Removes and frees every subscription of @p owner. Returns how many there were. */
size_t push_subs_remove_owner(push_subs_t *r, push_sub_owner_t *owner);

/** @p owner's subscription with operation id @p op_id, or NULL. Borrowed. */
push_sub_t *push_subs_find_op(const push_sub_owner_t *owner, const char *op_id);

/**
 * Called for each subscription matching a change. Must not add or remove subscriptions
 * (mark connections for closing instead; they are removed later, outside the walk).
 */
typedef void (*push_sub_match_fn)(push_sub_t *sub, void *ud);

/**
 * Calls @p fn for every by-id subscription on row (@p read_model, @p id) whose sequence key
 * matches @p sequence_key (subscriptions without one match any row of that id).
 *
 * @param sequence_key  the changed row's sequence key, or NULL when the read model is
 *                      not sequenced
 * @return the number of subscriptions @p fn was called for
 */
size_t push_subs_match(push_subs_t *r, const char *read_model, const char *id,
                       const char *sequence_key, push_sub_match_fn fn, void *ud);

/**
 * Called for each filter group of a read model. @p subs is the group's first subscription;
 * the others follow through `topic_next`, and all were registered with the same group key
 * (so the same filter and selection). Must not add or remove subscriptions.
 *
 * @param filter  the group's filter, or NULL for every row; borrowed
 */
typedef void (*push_group_fn)(const json_t *filter, push_sub_t *subs, void *ud);

/**
 * Calls @p fn once for every filter group of @p read_model, whatever the changed row.
 *
 * @return the number of groups @p fn was called for
 */
size_t push_subs_each_group(push_subs_t *r, const char *read_model, push_group_fn fn, void *ud);

/** Total subscriptions registered, by id and by filter (for /metrics). */
size_t push_subs_count(const push_subs_t *r);

/** Number of distinct (read model, id) topics with at least one subscription. */
size_t push_subs_topic_count(const push_subs_t *r);

/** Number of filter groups (distinct read model, filter and selection) in use. */
size_t push_subs_group_count(const push_subs_t *r);

#endif
