/*
 * exec.h - GraphQL request handling in the gateway: from a POST body to a response.
 *
 * Parse the body, get the parsed and validated document from the cache, pick the
 * operation, prepare it (rj_gql_prepare), resolve each root field, complete
 * (rj_gql_complete), answer. Root fields are resolved asynchronously on the loop:
 *
 *   query     <ReadModel>(id[, seq])  one primary-key read on the PostgreSQL pool
 *   query     <ReadModels>(filter)    the deprecated plural query: every matching row
 *   query     List<ReadModels>(filter, limit, sortBy, afterCursor)
 *                                     one page as {items, count, cursor}
 *   query     eventsByEntity(entity, entityID, from, to, limit),
 *             eventsByType(type, from, to, limit)
 *                                     the events API, newest first
 *   query     <Query>(input)          a query handler (@query): authorized here, then its
 *                                     hooks and handler run on the pool's worker thread with
 *                                     a connection for its entity reads (rj_entity_get)
 *   mutation  <Command>(input)        produce the command envelope to `<app>.commands`,
 *                                     wait for the reply on Redis `<app>:reply:<instance>`
 *   query     _service { sdl }        the API as a federation v1 subgraph
 *                                     (rj_app_subgraph_sdl), for federation gateways
 *   query     _entities(representations)
 *                                     read models by key for a federation gateway: one
 *                                     statement per read model for the whole list
 *                                     (entities.h), authorized as <ReadModel>(id) is
 *
 * The read side's statements are built by readside/ (filters, sorts and pages compiled to
 * SQL with every value bound) on the loop thread and run unnamed on the pool; each
 * returns its whole answer as one JSON array.
 *
 * Query root fields run concurrently; mutation root fields one after another, as GraphQL
 * requires. Introspection fields are answered by the engine.
 *
 * Replies arrive on the Redis subscriber's thread; gw_exec_post_reply() queues them and
 * wakes the loop (uv_async_t), which matches them to waiting commands by request id. A
 * command that gets no reply within the request timeout fails with TimeoutError; its
 * outcome is then unknown to the client, as with any timeout (docs/architecture.md).
 *
 * Authentication and authorization, Booster's way (booster-surface.md §2, §9): the
 * `Authorization` header is verified once per request with the app's token verifiers; an
 * invalid token fails the whole request ({"errors": [...]} without "data"), no token is an
 * anonymous request. The user envelope travels in each command envelope's currentUser.
 * Every root field is authorized before anything is done for it (commands before they are
 * produced, read models before they are read, events with their entity's
 * authorizeReadEvents), and read-model before hooks run on by-id, plural and List queries
 * (the latter two see {"filters": ...} and may rewrite it); a denial or a hook failure
 * fails that root field only (a List field is non-null, so its failure nulls "data").
 *
 * What this file deliberately does not do: HTTP (http.c), token cryptography (auth/),
 * SQL for filters and events (readside/), calculated read-model fields (the application
 * API has no way to bind their functions yet, so they resolve to null), and retries of
 * commands (a retry would need the client's consent: commands are not idempotent from
 * the gateway's point of view).
 */
#ifndef GW_EXEC_H
#define GW_EXEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "app/app.h"
#include "auth/auth.h"
#include "consistency.h"
#include "graphql/graphql.h"
#include "http.h"
#include "kafka/kafka.h"
#include "pgpool.h"
#include "readside/readside.h"
#include "rj/status.h"

/* Refusals every GraphQL endpoint of the gateway answers alike (the app's and federation's). */
#define GW_MSG_SUBSCRIPTION                                                                        \
    "This API and protocol does not support \"subscription\" operations, only \"query\" and "      \
    "\"mutation\". Use the socket API for \"subscription\""
#define GW_MSG_GET_MUTATION "Can only perform a mutation operation from a POST request."

typedef struct gw_exec gw_exec_t;

/**
 * What one request may make the gateway do (issue 9: single requests kept the loop busy
 * for minutes, aborted it, or built answers of gigabytes). Each is an option of the daemon
 * (docs/running.md, "Limits"); 0 turns one off.
 */
typedef struct gw_limits {
    int max_fields;         /* selections per document, fragments expanded (rj_gql_limits_t) */
    int max_aliases;        /* aliased fields per document, likewise */
    int max_filter_values;  /* values in one `in` list of a read-model filter */
    int max_cost;           /* estimated rows an operation may read (gw_root_cost, summed) */
    int max_response_bytes; /* stored rows an answer may be built from, in bytes */
    int budget_ms;          /* how long an operation may run before it is answered with an
                               error; what it started finishes unseen */
    int max_id_bytes;       /* longest ID argument or command key, in bytes; 1 to
                               RJ_ID_MAX_BYTES (0: RJ_ID_MAX_BYTES) */
} gw_limits_t;

/** What the executor works with. Pointers are borrowed and must outlive the executor. */
typedef struct gw_exec_opts {
    uv_loop_t *loop;               /* the gateway's loop */
    const rj_app_t *app;           /* the loaded application */
    const char *app_name;          /* topic, channel and schema prefix */
    const char *instance_id;       /* this gateway's reply channel suffix */
    rj_kafka_producer_t *producer; /* produces to `<app>.commands` */
    gw_pgpool_t *pg;               /* reads read models */
    int timeout_ms;                /* how long a mutation waits for its reply */
    gw_limits_t limits;            /* per-request bounds */
    gw_cons_opts_t consistency;    /* how requests wait for their consistency token */
    bool mutation_projected;       /* mutations are answered once their writes are projected */
} gw_exec_opts_t;

/**
 * Builds the executor: the API schema and document cache, the read-model statements (and
 * their tables, created when missing), the reply timer and the reply inbox.
 *
 * @return the executor, or NULL with @p err set (RJ_ESCHEMA: the generated API does not
 *         parse; PostgreSQL errors from preparing the tables)
 *
 * Ownership: end it with gw_exec_stop(), a loop run, then gw_exec_free(). Loop thread.
 */
gw_exec_t *gw_exec_new(const gw_exec_opts_t *opts, rj_error_t *err);

/**
 * Checks the `in` lists of a read-model filter, at any depth (and/or/not included).
 *
 * @param filter      the filter argument, any JSON (NULL or not an object: nothing to check)
 * @param max_values  the most values one list may hold; 0 for no limit
 * @return RJ_OK, or RJ_ETOOBIG with a message naming the list's field and size
 *
 * Pure; any thread.
 */
rj_status_t gw_filter_check(const json_t *filter, int max_values, rj_error_t *err);

/**
 * The rows a plural or List query, or an events query, may read: its `limit`, or the page
 * size when none is given (the deprecated plural query has no limit of its own and is
 * counted as one page; the answer-size limit bounds what it really reads).
 *
 * @param args  the root field's coerced arguments; borrowed
 */
long gw_list_cost(const json_t *args);

/** The Redis channel replies must be published on, `<app>:reply:<instance>`. Borrowed. */
const char *gw_exec_reply_channel(const gw_exec_t *x);

/**
 * Handles one GraphQL request (POST, or GET per GraphQL over HTTP); a gw_http_graphql_cb
 * with @p opaque the executor. A mutation sent with GET is refused with 405 and
 * `Allow: POST` before anything runs. Consumes @p r, at once or when the operation
 * completes.
 */
void gw_exec_handle(void *opaque, gw_responder_t *r, const gw_http_request_t *in);

/**
 * Handles a request the federation executor makes of the application's API in-process
 * (fed.h), with a local responder (gw_responder_new_local(), whose user is verified
 * already): exactly what gw_exec_handle() does for a client - limits, authorization,
 * read models, `_entities`, commands through Kafka - without counting it as a request.
 * Loop thread; may answer before it returns.
 */
void gw_exec_handle_local(gw_exec_t *x, gw_responder_t *r, const gw_http_request_t *in);

/**
 * Queues a reply received on Redis for the loop thread. Replies for unknown request ids
 * (timed out, or for a previous process with the same instance id) are dropped there.
 *
 * @param msg  the reply envelope's text; copied
 *
 * Thread-safe (called on the Redis subscriber's thread) until gw_exec_stop().
 */
void gw_exec_post_reply(gw_exec_t *x, const char *msg, size_t len);

/** Operations in flight plus commands still awaiting their Kafka delivery report. */
size_t gw_exec_busy(const gw_exec_t *x);

/**
 * Fails every command still waiting for a reply ("the gateway is shutting down",
 * code TimeoutError), so their operations complete. For the end of a drain that ran out
 * of time. Read-model queries are left to finish (statement_timeout bounds them).
 */
void gw_exec_abort_waiting(gw_exec_t *x);

/** Closes the timer and the inbox wake-up; run the loop, then gw_exec_free(). */
void gw_exec_stop(gw_exec_t *x);

/**
 * Frees the executor. Nothing may be in flight (gw_exec_busy() == 0) and the producer
 * must be gone (its delivery callbacks point here). NULL is a no-op. Consumes @p x.
 */
void gw_exec_free(gw_exec_t *x);

/* ---- the pure steps, exposed for unit tests ------------------------------------------ */

/** A parsed GraphQL-over-HTTP request. */
typedef struct gw_gql_request {
    json_t *root;               /* the request as a JSON object {query, variables,
                                   operationName}, owned; views below point into it */
    bool get;                   /* it came with GET: queries only */
    const char *query;          /* the query text */
    size_t query_len;           /* its length */
    const json_t *variables;    /* the variables object, or NULL when absent or null */
    const char *operation_name; /* operationName, or NULL when absent, null or not a string */
    const char *idempotency_key; /* extensions.idempotencyKey, or NULL when absent or null */
    const char *consistency_token; /* extensions.consistencyToken, or NULL when absent or null */
} gw_gql_request_t;

/**
 * Reads a request. A POST body is read the way Booster does (express.json() then its
 * dispatcher checks); an application/graphql body is the query text. A GET takes `query`,
 * `variables` (JSON text) and `operationName` from the URL's query string, decoded as a
 * form (gw_query_param()).
 *
 * @param in       the request; borrowed. A POST body whose content type is neither JSON nor
 *                 GraphQL is ignored, as express.json() ignores it: the request has no query
 * @param out      on 0, the request (release with gw_request_deinit)
 * @param response set on a non-zero return to the response body (a new reference)
 * @return 0 when @p out holds a request to execute, else the HTTP status to answer with:
 *         400 for a body that is not a JSON object, and for a GET without a `query`
 *         parameter, with a malformed, duplicated or non-UTF-8 parameter, or with
 *         `variables` that are not JSON; 200 for GraphQL-level request errors (an empty
 *         query, a query that is not a string, an `extensions.idempotencyKey` that is not a
 *         string)
 */
int gw_request_parse(const gw_http_request_t *in, gw_gql_request_t *out, json_t **response);

/** Longest Idempotency-Key accepted, in bytes. */
#define GW_IDEMPOTENCY_KEY_MAX 255

/**
 * Checks an idempotency key: 1 to GW_IDEMPOTENCY_KEY_MAX bytes of visible ASCII (what
 * fits in an HTTP header unquoted; a UUID is the usual choice).
 *
 * @return NULL when @p key is acceptable, else a static message for the client
 */
const char *gw_idempotency_key_check(const char *key, size_t len);

/**
 * The request id of a mutation's root field sent with an idempotency key. The same key
 * from the same user for the same command on the same input and root field gives the
 * same id, so the command processor recognises the retry (its command outbox remembers
 * handled ids) and answers with the first attempt's reply instead of applying it again.
 * The user is part of it so that nobody can learn another user's outcome by guessing
 * their key, and the input so that a key reused for a different mutation is a different
 * request rather than a silent echo of an unrelated answer.
 *
 * @param user     the verified user envelope, or NULL when anonymous; borrowed
 * @param key      the idempotency key, checked by gw_idempotency_key_check()
 * @param command  the command's name
 * @param root     the root field's index in the operation
 * @param args     the field's coerced arguments; borrowed
 * @param out      the request id
 */
void gw_idempotent_request_id(const json_t *user, const char *key, const char *command,
                              size_t root, const json_t *args, char out[RJ_UUID_STRLEN]);

/** Releases a parsed request. */
void gw_request_deinit(gw_gql_request_t *req);

/**
 * graphql-js getOperationAST(): the operation named @p op_name, or the only operation when
 * @p op_name is NULL; NULL when there is no such operation or the choice is ambiguous.
 * Borrowed from @p defs.
 */
const rj_gql_ast_definition_t *gw_select_operation(const rj_gql_ast_definition_t *defs,
                                                   const char *op_name);

/**
 * Verifies a request's `Authorization` header.
 *
 * @param authorization  the header value (@p len bytes), or NULL when absent; borrowed
 * @param now_s          the current time in seconds since the epoch
 * @param user           on 0, the user envelope (a new reference) or NULL for anonymous
 * @param response       on a non-zero return, the whole response (a new reference):
 *                       {"errors":[{"message": reasons, "extensions": {"code": code}}]}
 * @return 0 to go on, else the HTTP status to answer with (200, as Booster)
 */
int gw_request_user(const rj_auth_t *auth, const char *authorization, size_t len, int64_t now_s,
                    json_t **user, json_t **response);

/**
 * Decides a by-id read-model query: authorizes it for @p user, runs the read model's before
 * hooks on the request {"key": {"id": id[, "sequenceKey": {"name", "value"}]}}, and reads
 * the id (and sequence key) to fetch from the request the hooks returned.
 *
 * @param args  the query field's coerced arguments (id, and for a sequenced read model
 *              the argument named after its @sequencedBy field); borrowed
 * @param user  the user envelope or NULL; borrowed
 * @param id    on RJ_OK the id to read (a new string, free() it)
 * @param seq   on RJ_OK the sequence key to read, or NULL for all of them (free() it)
 * @param err   on failure what the root field's error says: the denial (RJ_EAUTH,
 *              NotAuthorizedError), a hook's own message and code, or RJ_EINVAL when no
 *              usable id is left
 */
rj_status_t gw_read_model_key(const rj_app_read_model_t *rm, const json_t *args, const json_t *user,
                              char **id, char **seq, rj_error_t *err);

/**
 * Decides a plural or List read-model query: authorizes it for @p user, runs the read
 * model's before hooks, and builds the statement of the request the hooks returned.
 *
 * The request the authorizer and the hooks see is {"filters": filter} ({} when the client
 * gave none), plus for List queries "sortBy", "limit" and "afterCursor" when given; what
 * the hooks return under those names is what runs.
 *
 * @param args    the query field's coerced arguments (filter; for List also limit, sortBy,
 *                afterCursor); borrowed
 * @param list    true for List<Xs>(...), false for the deprecated plural <Xs>(filter),
 *                which returns every matching row
 * @param user    the user envelope or NULL; borrowed
 * @param sql     cleared, then on RJ_OK the statement (one row, one column: a JSON array)
 * @param params  cleared, then on RJ_OK its parameters
 * @param page    for List, on RJ_OK the page the connection's cursor is computed from;
 *                untouched for the plural query (may be NULL then)
 * @param err     on failure what the root field's error says: the denial (RJ_EAUTH,
 *                NotAuthorizedError), a hook's own message and code, or RJ_EINVAL
 *                (InvalidParameterError) for a malformed page, filter or sortBy
 *
 * Ownership: @p sql and @p params are the caller's. Loop thread (hooks and custom
 * authorizers run here).
 */
rj_status_t gw_read_model_search(const rj_app_read_model_t *rm, const json_t *args, bool list,
                                 const json_t *user, rj_buf_t *sql, rj_rs_params_t *params,
                                 rj_rs_page_t *page, rj_error_t *err);

/**
 * Decides an events API query: authorizes it with the entity's authorizeReadEvents (for
 * eventsByType the entity the event type belongs to, i.e. the one reducing it; the
 * authorizer of a CUSTOM attribute sees @p args) and builds its statement.
 *
 * @param by_type  true for eventsByType(type, from, to, limit), false for
 *                 eventsByEntity(entity, entityID, from, to, limit)
 * @param args     the field's coerced arguments; borrowed
 * @param user     the user envelope or NULL; borrowed
 * @param sql, params  as gw_read_model_search
 * @param err      on failure: RJ_EAUTH (NotAuthorizedError, "Access denied for this
 *                 resource"), RJ_ENOTFOUND (NotFoundError) for an undeclared entity or
 *                 event type, RJ_EINVAL for a missing one
 */
rj_status_t gw_events_search(const rj_app_t *app, bool by_type, const json_t *args,
                             const json_t *user, rj_buf_t *sql, rj_rs_params_t *params,
                             rj_error_t *err);

/**
 * Builds the Kafka message of a command.
 *
 * @param args        the mutation field's coerced arguments; "input" (absent or null = {})
 *                    becomes the envelope's input; borrowed
 * @param user        the verified user envelope, the envelope's currentUser; NULL for
 *                    anonymous (currentUser null); borrowed
 * @param request_id  the fresh request id; borrowed
 * @param reply_to    the reply channel; borrowed
 * @param now_ms      issue time, wall clock in ms
 * @param key         on RJ_OK, the message key (a new string, free() it): the input's
 *                    entity key when the command declares one, else the request id
 * @param value       on RJ_OK, the envelope text (a new string, free() it)
 * @return RJ_OK, or RJ_ESCHEMA when the declared key field is missing or not a
 *         string/number (message for the client in @p err)
 */
rj_status_t gw_command_message(const rj_app_command_t *cmd, const json_t *args, const json_t *user,
                               const char *request_id, const char *reply_to, int64_t now_ms,
                               char **key, char **value, rj_error_t *err);

/** Adds "extensions": {} to every error object of @p errors lacking one (Booster's shape). */
void gw_errors_decorate(json_t *errors);

#endif
