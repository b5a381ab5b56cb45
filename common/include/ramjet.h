/*
 * ramjet.h - the API a Ramjet application is written against.
 *
 * An application is a GraphQL SDL file plus C handlers in a shared library. Every
 * daemon dlopen()s the same library and calls its one entry point, declared with
 * RJ_APP_DEFINE, which names the schema and binds handlers by name. Handlers take
 * and return jansson values; the ownership of each is stated on its typedef.
 *
 * This header deliberately exposes nothing of Kafka, PostgreSQL or Redis: they
 * stay behind the app model, so an application builds against this file alone.
 */
#ifndef RAMJET_H
#define RAMJET_H

#include <jansson.h>
#include <stdbool.h>

#include "rj/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when a handler signature or the entry point changes incompatibly. */
#define RJ_APP_API_VERSION 1

typedef struct rj_app rj_app_t;                   /* the application being declared */
typedef struct rj_handler_ctx rj_handler_ctx_t;   /* one command or query invocation */
typedef rj_handler_ctx_t rj_command_ctx_t;         /* a command handler's invocation */
typedef rj_handler_ctx_t rj_query_ctx_t;           /* a query handler's invocation */

/*
 * Sentinels a projection returns instead of a read model. They are static,
 * immortal json_t values (incref/decref are no-ops on them), compared by pointer.
 */
RJ_EXPORT extern json_t rj__delete_sentinel;
RJ_EXPORT extern json_t rj__nothing_sentinel;
#define RJ_DELETE (&rj__delete_sentinel)   /* delete the read model */
#define RJ_NOTHING (&rj__nothing_sentinel) /* leave it as it is; notify nobody */

/**
 * Handles one command.
 *
 * @param ctx     the invocation: register events with rj_command_register_take(), read
 *                entities with rj_entity_get(); borrowed
 * @param input   the command's input object after before hooks; borrowed
 * @param result  on RJ_OK, optionally set to the mutation's result (a new reference);
 *                left NULL means "no result" and the client sees `true` (Booster's
 *                `result ?? true`); json_null() is a GraphQL null, for a nullable
 *                `returns` type such as "Cart"
 * @param err     on failure, the message the client sees
 * @return RJ_OK, or any error status (reported to the client, no event is stored; an
 *         application's global error handler may replace or swallow it, rj_error_handler_t)
 *
 * Runs on the command processor's thread; may call rj_command_* on @p ctx only.
 */
typedef rj_status_t (*rj_command_fn)(rj_command_ctx_t *ctx, const json_t *input, json_t **result,
                                     rj_error_t *err);

/**
 * Answers one query (Booster's @Query handler), declared in the SDL with
 * `input <Name> @query(authorize: ..., returns: "...")`.
 *
 * @param ctx     the invocation: read entities with rj_entity_get(); borrowed. A query
 *                registers no events (rj_command_register_take fails on it)
 * @param input   the query's input object after before hooks; borrowed
 * @param result  on RJ_OK, the query field's value (a new reference); left NULL it is
 *                GraphQL null
 * @param err     on failure, the message the client sees (at path [<Name>])
 * @return RJ_OK, or any error status (reported to the client)
 *
 * Runs on a gateway worker thread, concurrently with itself and other handlers; must be
 * thread-safe, and safe to run again (the gateway reruns it when its PostgreSQL
 * connection broke under an entity read).
 */
typedef rj_status_t (*rj_query_fn)(rj_query_ctx_t *ctx, const json_t *input, json_t **result,
                                   rj_error_t *err);

/**
 * Rewrites or rejects a command's input before its handler runs (a before hook).
 *
 * @param input  the input; borrowed
 * @param user   the current user envelope or NULL when anonymous; borrowed
 * @param out    on RJ_OK, the input to continue with (a new reference)
 */
typedef rj_status_t (*rj_command_hook_fn)(const json_t *input, const json_t *user, json_t **out,
                                          rj_error_t *err);

/** A query's before hook: the same contract as a command's, run on the gateway's worker. */
typedef rj_command_hook_fn rj_query_hook_fn;

/**
 * Folds one event into an entity's state.
 *
 * @param event    event payload; borrowed
 * @param current  state before the event, or NULL for the entity's first event; borrowed
 * @param out      on RJ_OK the new state, a new reference; untouched otherwise
 * @return RJ_OK, or an error status (the event is skipped and reported, as the global
 *         error handler leaves it: rj_error_handler_t)
 *
 * Runs on a reducer worker thread; must not block or keep pointers to its arguments.
 */
typedef rj_status_t (*rj_reducer_fn)(const json_t *event, const json_t *current, json_t **out,
                                     rj_error_t *err);

/**
 * Projects an entity into one read model.
 *
 * @param entity   the entity's new state; borrowed
 * @param id       the read model's id the projection runs for (from the join key); may be
 *                 NULL for a read-model-query join key with no match
 * @param current  the read model as stored now, or NULL; borrowed
 * @param out      on RJ_OK: a new read model (new reference), RJ_DELETE or RJ_NOTHING
 */
typedef rj_status_t (*rj_projection_fn)(const json_t *entity, const char *id, const json_t *current,
                                        json_t **out, rj_error_t *err);

/**
 * A read-model-query join key (Booster's `entity => FilterFor<ReadModel> | undefined`):
 * says which stored read models an entity state projects into.
 *
 * @param entity  the entity's new state; borrowed
 * @param filter  on RJ_OK: a filter over the read model in the read side's filter
 *                language (the coerced `ListXFilter` shape, e.g. {"customerId": {"eq":
 *                "c1"}}), a new reference; or left NULL to skip the projection entirely
 * @return RJ_OK, or an error status (the snapshot goes to dead letters, as for a
 *         failing projection)
 *
 * The projection then runs once per matching read model with (entity, its id, it), or,
 * when nothing matches, once with (entity, NULL, NULL); a read model returned for that
 * call has no id to be stored under and is reported as an error. Runs on a projector
 * thread; must not block or keep pointers to its arguments.
 */
typedef rj_status_t (*rj_join_query_fn)(const json_t *entity, json_t **filter, rj_error_t *err);

/**
 * Computes a calculated read-model field (`@calculated`, Booster's getters) when a client
 * selects it. The value is never stored, filtered on or sorted by.
 *
 * @param read_model  the stored read model (the fields named in dependsOn among them);
 *                    borrowed
 * @param out         on RJ_OK the value, a new reference (NULL or JSON null: null); it is
 *                    completed against the field's declared GraphQL type
 * @param err         on failure, the message of the GraphQL field error (at the field's
 *                    path; the field becomes null, with the usual non-null propagation)
 *
 * Runs on the gateway's and the pusher's loop threads, possibly concurrently in other
 * processes; must be fast, must not block or keep pointers to its arguments.
 */
typedef rj_status_t (*rj_calculated_fn)(const json_t *read_model, json_t **out, rj_error_t *err);

/**
 * Decides whether a user may run a command or read a read model declared with
 * `authorize: CUSTOM` (Booster's authorizer functions).
 *
 * @param user   the current user envelope {id, username, roles, claims, header}, or NULL
 *               when anonymous; borrowed
 * @param input  the command's input (before hooks have not run yet), or the read-model
 *               request ({"key": {"id": ...}} or {"filters": {...}}); borrowed, may be NULL
 * @param err    on denial, optionally the message the client sees; left empty it is
 *               "Access denied for this resource". The code is err's code when set with
 *               rj_error_set_code, else NotAuthorizedError.
 * @return RJ_OK to allow; any error status denies
 *
 * Runs on the gateway's and the pusher's loop threads, possibly concurrently with itself
 * in other processes; must not block or keep pointers to its arguments.
 */
typedef rj_status_t (*rj_authorizer_fn)(const json_t *user, const json_t *input, rj_error_t *err);

/**
 * Rewrites or rejects a read-model request before it runs (a read-model before hook),
 * for queries and subscriptions alike.
 *
 * @param request  {"key": {"id": ..., ...}} for a by-id request, or {"filters": {...}} for
 *                 a filtered one (a by-id subscription arrives as {"filters": {"id":
 *                 {"eq": id}}}); borrowed
 * @param user     the current user envelope or NULL when anonymous; borrowed
 * @param out      on RJ_OK, the request to continue with (a new reference; return a copy
 *                 of @p request to leave it as it is)
 * @param err      on failure, the message the client sees (at path [<ReadModel>])
 * @return RJ_OK, or any error status to fail the request
 */
typedef rj_status_t (*rj_read_model_hook_fn)(const json_t *request, const json_t *user,
                                             json_t **out, rj_error_t *err);

/**
 * An extra check on a token that a public-key or JWKS verifier accepted (its signature,
 * algorithm, nbf, exp and issuer all good): an audience, a revocation list, a claim
 * the application requires. Booster users write this as a verifier class that extends
 * PublicKeyTokenVerifier or JwksUriTokenVerifier and checks more after `super.verify`.
 *
 * @param header  the token's JWT header; borrowed
 * @param claims  its payload; borrowed
 * @param err     on refusal, the reason the client reads, joined with the other
 *                verifiers' as usual (empty: "JsonWebTokenError: token refused"); a code
 *                set to BoosterTokenExpiredError or BoosterTokenNotBeforeError makes the
 *                request fail with that code, as an expired token does
 * @return RJ_OK to accept; any error status refuses the token
 *
 * Runs on the gateway's and the pusher's loop threads: must be quick and must not block.
 */
typedef rj_status_t (*rj_token_check_fn)(const json_t *header, const json_t *claims,
                                         rj_error_t *err);

/**
 * A token verifier the application implements whole (Booster's custom TokenVerifier),
 * for tokens no standard verifier understands: opaque API keys, HS256 with a shared
 * secret, a session store.
 *
 * @param token   the token as presented (without "Bearer "), NUL-terminated, at most
 *                16 KiB; borrowed
 * @param header  on RJ_OK optionally a header object for the user envelope (a new
 *                reference); may be left NULL
 * @param claims  on RJ_OK the claims (a new reference, an object): the user envelope's
 *                id is `sub`, its roles the verifier's roles claim, as for JWTs
 * @param err     on refusal, as for rj_token_check_fn
 * @return RJ_OK to accept; any error status refuses
 *
 * Runs on the gateway's and the pusher's loop threads: must be quick and must not block.
 */
typedef rj_status_t (*rj_token_verify_fn)(const char *token, json_t **header, json_t **claims,
                                          rj_error_t *err);

/* ---- declaring the application (called from RJ_APP_DEFINE only) ---- */

/** Sets the application's SDL from a file path, resolved relative to the library's directory. */
RJ_EXPORT void rj_app_schema_file(rj_app_t *app, const char *path);
/** Sets the application's SDL from a string; copied. */
RJ_EXPORT void rj_app_schema_string(rj_app_t *app, const char *sdl);
/** Sets the application name, the prefix of its topics and tables (default: the library name). */
RJ_EXPORT void rj_app_name(rj_app_t *app, const char *name);
RJ_EXPORT void rj_app_on_command(rj_app_t *app, const char *command, rj_command_fn fn);
RJ_EXPORT void rj_app_before_command(rj_app_t *app, const char *command, rj_command_hook_fn fn);
/**
 * Binds the handler of a query declared with `input <Name> @query(...)`. Every query needs
 * exactly one; the application fails to load otherwise.
 */
RJ_EXPORT void rj_app_on_query(rj_app_t *app, const char *query, rj_query_fn fn);
/** Adds a before hook to a query; hooks run in binding order, after authorization. */
RJ_EXPORT void rj_app_before_query(rj_app_t *app, const char *query, rj_query_hook_fn fn);
/** Binds the authorizer of a query declared with `@query(authorize: CUSTOM)`. */
RJ_EXPORT void rj_app_authorize_query(rj_app_t *app, const char *query, rj_authorizer_fn fn);
RJ_EXPORT void rj_app_on_reduce(rj_app_t *app, const char *entity, const char *event,
                                rj_reducer_fn fn);
/** Projects @p entity into @p read_model; the read model id is the entity field @p join_field. */
RJ_EXPORT void rj_app_on_project(rj_app_t *app, const char *read_model, const char *entity,
                                 const char *join_field, rj_projection_fn fn);
/**
 * Projects @p entity into every stored @p read_model that the filter @p join returns for
 * the entity's state matches (a read-model-query join key, see rj_join_query_fn); at most
 * one projection per (read model, entity) pair, whichever rj_app_on_project* binds it.
 */
RJ_EXPORT void rj_app_on_project_query(rj_app_t *app, const char *read_model, const char *entity,
                                       rj_join_query_fn join, rj_projection_fn fn);
/**
 * Binds the function of the read-model field @p field declared with `@calculated`. Every
 * @calculated field needs exactly one; binding one to an undeclared or stored field makes
 * the application fail to load.
 */
RJ_EXPORT void rj_app_calculated_field(rj_app_t *app, const char *read_model, const char *field,
                                       rj_calculated_fn fn);
/**
 * Binds the authorizer of a command declared with `@command(authorize: CUSTOM)`. Binding
 * one to a command with another authorize attribute, or leaving a CUSTOM command without
 * one, makes the application fail to load.
 */
RJ_EXPORT void rj_app_authorize_command(rj_app_t *app, const char *command, rj_authorizer_fn fn);
/**
 * Binds the authorizer of an entity's events API access, declared with
 * `@entity(authorizeReadEvents: CUSTOM)` (Booster's authorizeReadEvents function). Its
 * input is the events query's arguments: {"entity", "entityID", "from", "to", "limit"}
 * for eventsByEntity, {"type", "from", "to", "limit"} for eventsByType.
 */
RJ_EXPORT void rj_app_authorize_read_events(rj_app_t *app, const char *entity,
                                            rj_authorizer_fn fn);
/** Binds the authorizer of a read model declared with `@readModel(authorize: CUSTOM)`. */
RJ_EXPORT void rj_app_authorize_read_model(rj_app_t *app, const char *read_model,
                                           rj_authorizer_fn fn);
/** Adds a before hook to a read model; hooks run in binding order, after authorization. */
RJ_EXPORT void rj_app_before_read_model(rj_app_t *app, const char *read_model,
                                        rj_read_model_hook_fn fn);
/**
 * Trusts RS256/ES256 tokens of @p issuer signed by the PEM public key @p pem (copied);
 * roles are read from claim @p roles_claim (NULL: "custom:role").
 */
RJ_EXPORT void rj_app_token_verifier_public_key(rj_app_t *app, const char *issuer,
                                                const char *pem, const char *roles_claim);
/**
 * Trusts RS256/ES256 tokens of @p issuer signed by a key of the JWKS at @p jwks_uri
 * (http:// or https://; copied), as Booster's JwksUriTokenVerifier: the token header's
 * `kid` picks the key, whose type picks the algorithm (RSA: RS256, EC P-256: ES256).
 * Roles are read from claim @p roles_claim (NULL: "custom:role"). The JWKS is fetched
 * when the application loads, again on an unknown kid (at most once per
 * RAMJET_JWKS_MIN_REFRESH_S, default 30 s) and when older than 10 minutes.
 */
RJ_EXPORT void rj_app_token_verifier_jwks(rj_app_t *app, const char *issuer,
                                          const char *jwks_uri, const char *roles_claim);

/**
 * Adds @p fn as an extra check to every public-key and JWKS verifier of @p issuer
 * declared before this call (at least one must be; one check per verifier).
 */
RJ_EXPORT void rj_app_token_verifier_check(rj_app_t *app, const char *issuer,
                                           rj_token_check_fn fn);
/**
 * Trusts the tokens @p fn accepts. Verifiers are tried in declaration order and the first
 * that accepts wins, so a custom verifier may sit before or after standard ones. @p name
 * names it in logs; roles are read from claim @p roles_claim (NULL: "custom:role").
 */
RJ_EXPORT void rj_app_token_verifier_custom(rj_app_t *app, const char *name,
                                            rj_token_verify_fn fn, const char *roles_claim);

/* ---- inside a command handler (the user and request id work in a query's too) ---- */

/**
 * Registers an event; it is stored when the handler returns RJ_OK.
 *
 * @param type   the event type name, declared in the SDL with @event
 * @param value  the event payload; taken (consumed even on failure)
 */
RJ_EXPORT rj_status_t rj_command_register_take(rj_command_ctx_t *ctx, const char *type,
                                               json_t *value, rj_error_t *err);
/** The current user envelope ({id, username, roles, claims}) or NULL; borrowed from ctx. */
RJ_EXPORT const json_t *rj_command_user_peek(const rj_command_ctx_t *ctx);
/** The request id of this command; borrowed from ctx. */
RJ_EXPORT const char *rj_command_request_id(const rj_command_ctx_t *ctx);

/* ---- inside a command or query handler ---- */

/**
 * Reads an entity's current state: its latest snapshot with every later event folded in
 * by the application's own reducers (Booster's `Booster.entity(Class, id)`), so a handler
 * never sees an entity older than a write already acknowledged to a client.
 *
 * The events the reducer has not folded yet are read from the event store or, while the
 * event-store writer lags, from the command processor's outbox. In a command handler the
 * events registered by earlier commands of the same processor batch are folded in too,
 * in order; the events this handler itself registered are not (as in Booster: they are
 * stored when it returns). A reducer that fails skips its event, as the reducer daemon
 * does, so the state is the one the next snapshot will hold.
 *
 * @param ctx     the handler's context (command or query); borrowed
 * @param entity  entity type name, declared with @entity; borrowed
 * @param id      entity id; borrowed
 * @param state   on RJ_OK the state, or NULL when the entity has no events. Borrowed from
 *                @p ctx: valid until the handler returns (json_incref() it to return it
 *                as a result); never modify it
 * @param err     on failure the reason, which a handler may pass on to the client
 * @return RJ_OK; RJ_ENOTFOUND when @p entity is not declared; RJ_EINVAL for an empty id;
 *         RJ_EINTERNAL when a version between the snapshot and the newest one is found
 *         nowhere (the state cannot be trusted, so none is returned); a storage error
 *         (RJ_ERETRY, RJ_EIO) when PostgreSQL failed
 *
 * Blocks on PostgreSQL, on the handler's thread.
 */
RJ_EXPORT rj_status_t rj_entity_get(rj_handler_ctx_t *ctx, const char *entity, const char *id,
                                    const json_t **state, rj_error_t *err);

/**
 * Searches a read model with the read side's filter language, as a client's
 * `<ReadModels>(filter:)` query does (Booster's `Booster.readModel(X).filter(...).search()`),
 * but without authorization or before hooks: the handler is the application itself.
 *
 * Read models are projected asynchronously, so the rows are as stored now and may lag
 * behind the entities (use rj_entity_get for the current state of one entity).
 * Calculated fields are not included.
 *
 * @param ctx         the handler's context (command or query); borrowed
 * @param read_model  read model name, declared with @readModel; borrowed
 * @param filter      e.g. {"name": {"beginsWith": "A"}} (docs/app-sdl.md, booster-surface
 *                    §4); NULL for every row; borrowed
 * @param limit       at most this many rows; 0 for all of them
 * @param items       on RJ_OK a JSON array of the stored values, ordered by id. Borrowed
 *                    from @p ctx, valid until the handler returns; never modify it
 * @return RJ_OK; RJ_ENOTFOUND when @p read_model is not declared; RJ_EINVAL for a malformed
 *         filter; a storage error (RJ_ERETRY, RJ_EIO: e.g. an invalid regular expression)
 *
 * Blocks on PostgreSQL, on the handler's thread.
 */
RJ_EXPORT rj_status_t rj_read_models_search(rj_handler_ctx_t *ctx, const char *read_model,
                                            const json_t *filter, size_t limit,
                                            const json_t **items, rj_error_t *err);

/* ---- the global error handler (Booster's @GlobalErrorHandler) ---- */

/**
 * Sees, and may replace or swallow, one error of an application function.
 *
 * @param context  what failed, a JSON object (docs/app-sdl.md, "The global error
 *                 handler"); its "kind" is "commandHandler", "queryHandler", "reducer",
 *                 "projection" or "event", the rest depends on the kind:
 *                 commandHandler {command, input, user, requestId};
 *                 queryHandler {query, input, user, requestId} (input as the client sent
 *                 it, before hooks; user null when anonymous);
 *                 reducer {entity, entityId, eventType, event, snapshot} (snapshot: the
 *                 state before the event, or null);
 *                 event {entity, entityId, eventType, event} (an event no reducer folds);
 *                 projection {readModel, readModelId, entity, entityId, entityState,
 *                 current} (readModelId and current null when the failure came before a
 *                 read model was chosen, e.g. in a read-model-query join key).
 *                 Borrowed, valid for the call only; never modify it
 * @param err      in: the error (status, message, code); out: the error to report. Edit
 *                 it to replace it (rj_error_set gives a new message and clears the
 *                 code; rj_error_set_code sets one), or leave it as it is
 * @return RJ_OK to swallow the error (what that means depends on the kind: see
 *         rj_error_handler_t); any error status keeps it, as edited in @p err, with
 *         that status (a status without a message keeps the message it came with)
 *
 * Runs on whatever thread the failing function ran on: gateway workers (queries),
 * the command processor, reducer and projector threads, and every handler that reads
 * an entity (rj_entity_get folds events, so reducer errors are seen there too),
 * concurrently and in several processes. Must be thread-safe, quick, and must not
 * keep pointers to its arguments.
 */
typedef rj_status_t (*rj_error_handler_fn)(const json_t *context, rj_error_t *err);

/**
 * The global error handler: optional callbacks, any of them NULL. For each error the
 * specific callback runs first; then, unless it swallowed the error, on_error runs
 * with the error as the specific one left it (or as it came, when there is none).
 *
 * What a swallowed error becomes:
 * - command: the mutation succeeds with `true` (Booster's `result ?? true`; whatever
 *   the handler set as result is dropped). The events a handler registered before it
 *   failed are stored, as Booster's register is flushed after its catch; a failing
 *   before hook leaves none, as the handler never ran.
 * - query: the query field is null (Booster returns the undefined result as it is),
 *   which a non-null return type turns into GraphQL's usual null error.
 * - reducer and event: the event is skipped as if it had not happened (the state stays
 *   as it was, the version advances); not dead-lettered, logged at debug.
 * - projection: nothing is written for that read model (as RJ_NOTHING); not
 *   dead-lettered, logged at debug.
 * A replaced error goes where the original would have: to the client (commands,
 * queries) or to the log and dead letters (reducers, events, projections).
 *
 * Authorization denials and read-model before hooks never reach the handler (as in
 * Booster). A command may reach it more than once: the command processor reruns a
 * batch whose storage failed, and the verdict of the failed attempt is discarded.
 * Booster's onDispatchEventHandlerError and onScheduledCommandHandlerError have no
 * counterpart yet: Ramjet has no event handlers or scheduled commands.
 */
typedef struct rj_error_handler {
    rj_error_handler_fn on_command_handler_error; /* a command's before hook or handler */
    rj_error_handler_fn on_query_handler_error;   /* a query's before hook or handler */
    rj_error_handler_fn on_reducer_error;         /* a reducer */
    rj_error_handler_fn on_projection_error;      /* a projection or its join key */
    rj_error_handler_fn on_event_error;           /* an event no reducer folds */
    rj_error_handler_fn on_error;                 /* every error not swallowed above */
} rj_error_handler_t;

/**
 * Installs the application's global error handler (at most one per application).
 *
 * @param handler  the callbacks; copied, at least one must be set
 */
RJ_EXPORT void rj_app_error_handler(rj_app_t *app, const rj_error_handler_t *handler);

/* ---- logging ---- */

/* Severity of a log line; the values are those of Ramjet's own logger. */
typedef enum rj_app_log_level {
    RJ_APP_LOG_DEBUG,
    RJ_APP_LOG_INFO,
    RJ_APP_LOG_WARN,
    RJ_APP_LOG_ERROR,
    RJ_APP_LOG_FATAL, /* the process is about to exit */
} rj_app_log_level_t;

/**
 * Receives every log line of the process, Ramjet's own and the application's, instead of
 * stderr (Booster's config.logger): for structured logs, a log shipper, a test.
 *
 * @param prefix   the daemon, with the application's prefix if one is set
 *                 ("ramjet-gateway", "shop:ramjet-gateway")
 * @param module   the part of the daemon or application that logs ("kafka", "app")
 * @param message  the message, without timestamp, level or prefix
 *
 * Called from any thread, concurrently, possibly while the caller holds locks: must be
 * thread-safe, quick, and must not log itself. The strings live for the call only.
 */
typedef void (*rj_logger_fn)(rj_app_log_level_t level, const char *prefix, const char *module,
                             const char *message);

/**
 * Sends every log line to @p fn (see rj_logger_fn) in every daemon that loads the app,
 * for as long as the app stays loaded (a daemon that unloads it logs to stderr again).
 */
RJ_EXPORT void rj_app_logger(rj_app_t *app, rj_logger_fn fn);
/** The least severity logged (default info); RAMJET_LOG_LEVEL, when set, wins. */
RJ_EXPORT void rj_app_log_level(rj_app_t *app, rj_app_log_level_t level);
/** A prefix put before the daemon's name in every line ("[shop:ramjet-gateway]"). */
RJ_EXPORT void rj_app_log_prefix(rj_app_t *app, const char *prefix);

/**
 * Logs a line from application code, in the daemon's format or through its logger:
 * `2026-11-22T10:00:00.123Z WARN  [ramjet-commands]|<module>: <message>`. Any thread.
 * Never log secrets or whole tokens.
 */
RJ_EXPORT void rj_log_write(rj_app_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the entry point ---- */

/*
 * RJ_APP_DEFINE(app) { ... } defines the library's entry point. The loader checks
 * rj_app_api_version against its own RJ_APP_API_VERSION before calling it.
 */
#define RJ_APP_DEFINE(var)                                                                         \
    __attribute__((visibility("default"))) const int rj_app_api_version = RJ_APP_API_VERSION;    \
    __attribute__((visibility("default"))) void rj_app_define(rj_app_t *var);                     \
    void rj_app_define(rj_app_t *var)

#ifdef __cplusplus
}
#endif
#endif
