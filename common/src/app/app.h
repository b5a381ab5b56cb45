/*
 * app/app.h - the loaded application: its model, its handlers, and its generated API.
 *
 * A daemon calls rj_app_load() once at start with the path of the application's
 * shared library (RAMJET_APP). The loader dlopen()s it, checks its API version,
 * runs its RJ_APP_DEFINE entry point (which binds handlers by name through the
 * public calls in ramjet.h), reads and parses the application's SDL, builds the
 * model below, checks that every binding refers to something declared, and
 * generates the GraphQL API schema the gateway serves. After rj_app_load()
 * returns, the model is immutable: every function here that takes a
 * `const rj_app_t *` may be called from any thread concurrently.
 *
 * The application SDL (Ramjet's app schema language, docs/app-sdl.md):
 *
 *   enum Role @roles { Admin UserWithEmail }             roles, once
 *   type Money { cents: Float!  currency: String! }        value type (no directive)
 *   type Cart @entity(authorizeReadEvents: ALL) { ... }    entity; [Role] list or omitted = nobody
 *   type CartItemChanged @event(entity: "Cart", key: "cartId") { ... }
 *   input ChangeCartItem @command(authorize: ALL, entity: "Cart", key: "cartId",
 *                                 returns: "JSON!") { ... }
 *                        authorize: ALL | [Role, ...] | CUSTOM; omitted = deny everyone;
 *                        entity/key optional (then keyed by request id);
 *                        returns optional, default "JSON!"
 *   input CartTotalQuantity @query(authorize: ALL, returns: "Float!") { ... }
 *                        a query handler; returns required
 *   type CartReadModel @readModel(authorize: ALL) {
 *       id: ID!
 *       cartItemsSize: Float @calculated(dependsOn: ["cartItems"])
 *       at: String @sequencedBy                            at most one field
 *   }
 *
 * What this module deliberately does not do: it never touches Kafka, PostgreSQL
 * or Redis (the daemons move the envelopes this model produces), it does not
 * verify tokens (auth does, with the verifiers listed here), and it does not
 * validate handler outputs against the SDL (GraphQL output coercion happens in
 * the gateway, where the client's selection is known).
 */
#ifndef RJ_APP_H
#define RJ_APP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ramjet.h"
#include "rj/status.h"

typedef struct rj_gql_schema rj_gql_schema_t; /* graphql/graphql.h */
typedef struct rj_auth rj_auth_t;             /* auth/auth.h */

/* ---- the model (read-only after rj_app_load; all strings owned by the app) ---- */

/** Who may run a command, read a read model or read an entity's events. */
typedef enum rj_app_auth_kind {
    RJ_APP_AUTH_NOBODY, /* attribute omitted: deny everyone (Booster's default) */
    RJ_APP_AUTH_ALL,    /* authorize: ALL: anyone, anonymous included */
    RJ_APP_AUTH_ROLES,  /* authorize: [Role, ...]: a user holding at least one of them */
    RJ_APP_AUTH_CUSTOM, /* authorize: CUSTOM: an application function decides */
} rj_app_auth_kind_t;

typedef struct rj_app_auth {
    rj_app_auth_kind_t kind; /* see rj_app_auth_kind_t */
    char **roles;            /* for RJ_APP_AUTH_ROLES: declared role names */
    size_t n_roles;          /* number of roles */
    rj_authorizer_fn custom; /* for RJ_APP_AUTH_CUSTOM: the bound authorizer; never NULL
                                after load for commands and read models */
} rj_app_auth_t;

/** One field of a type, command input, event, entity or read model. */
typedef struct rj_app_field {
    char *name;         /* field name as declared */
    char *type;         /* GraphQL type as written in the app SDL, e.g. "[CartItem!]!" */
    char *named_type;   /* innermost named type, e.g. "CartItem" */
    bool non_null;      /* the outermost type is non-null */
    bool list;          /* the outermost (under non-null) type is a list */
    bool calculated;    /* @calculated: an output-only, not stored, not filterable field */
    char **depends_on;  /* @calculated(dependsOn: [...]) stored fields it needs */
    size_t n_depends_on; /* number of depends_on entries */
    rj_calculated_fn calculate; /* @calculated on a read model: the bound function; never
                                   NULL after load */
} rj_app_field_t;

/** A plain object type without directives (Money, Address, CartItem). */
typedef struct rj_app_type {
    char *name;              /* type name */
    rj_app_field_t *fields;  /* in declaration order */
    size_t n_fields;         /* number of fields */
    bool used_in_input;      /* referenced (transitively) by a command: gets an <Name>Input */
} rj_app_type_t;

typedef struct rj_app_entity rj_app_entity_t;
typedef struct rj_app_read_model rj_app_read_model_t;

typedef struct rj_app_command {
    char *name;                    /* command name = mutation field name */
    rj_app_field_t *fields;        /* input fields in declaration order (may be none) */
    size_t n_fields;               /* number of input fields */
    const rj_app_entity_t *entity; /* @command(entity:) or NULL: keyed by request id */
    char *key;                     /* @command(key:) the input field holding the entity id, or NULL */
    rj_app_auth_t authorize;       /* @command(authorize:) */
    char *returns;                 /* mutation return type, "JSON!" by default */
    rj_command_fn handler;         /* bound with rj_app_on_command; never NULL after load */
    rj_command_hook_fn *hooks;     /* before hooks, in binding order */
    size_t n_hooks;                /* number of before hooks */
} rj_app_command_t;

/** A query handler (Booster's @Query): `input <Name> @query(authorize:, returns:)`. */
typedef struct rj_app_query {
    char *name;                /* query name = Query field name */
    rj_app_field_t *fields;    /* input fields in declaration order (may be none) */
    size_t n_fields;           /* number of input fields */
    rj_app_auth_t authorize;   /* @query(authorize:) */
    char *returns;             /* the field's GraphQL type; required (Booster refuses void) */
    rj_query_fn handler;       /* bound with rj_app_on_query; never NULL after load */
    rj_query_hook_fn *hooks;   /* before hooks, in binding order */
    size_t n_hooks;            /* number of before hooks */
} rj_app_query_t;

typedef struct rj_app_event {
    char *name;                    /* event type name */
    rj_app_field_t *fields;        /* payload fields */
    size_t n_fields;               /* number of fields */
    const rj_app_entity_t *entity; /* the entity it belongs to */
    char *key;                     /* payload field holding the entity id */
} rj_app_event_t;

typedef struct rj_app_reducer {
    const rj_app_event_t *event; /* the event it folds */
    rj_reducer_fn fn;            /* bound with rj_app_on_reduce */
} rj_app_reducer_t;

typedef struct rj_app_projection {
    const rj_app_read_model_t *read_model; /* the read model written */
    const rj_app_entity_t *entity;         /* the entity projected */
    char *join_field;                      /* entity field whose value is the read model id;
                                              NULL for a read-model-query join key */
    rj_join_query_fn join_query;           /* the read-model-query join key (bound with
                                              rj_app_on_project_query), or NULL */
    rj_projection_fn fn;                   /* bound with rj_app_on_project[_query] */
    bool join_is_array;                    /* the join field is a list: one id per element
                                              (Booster's array join key) */
    const rj_app_t *app;                   /* the app it belongs to (its global error
                                              handler sees the projection's failures) */
} rj_app_projection_t;

struct rj_app_entity {
    char *name;                        /* entity type name */
    rj_app_field_t *fields;            /* state fields */
    size_t n_fields;                   /* number of fields */
    rj_app_auth_t authorize_read_events; /* @entity(authorizeReadEvents:) */
    rj_app_reducer_t *reducers;        /* one per event reduced, in binding order */
    size_t n_reducers;                 /* number of reducers */
    const rj_app_projection_t **projections; /* projections whose source is this entity */
    size_t n_projections;              /* number of projections */
};

struct rj_app_read_model {
    char *name;                    /* read model type name = query field name */
    rj_app_field_t *fields;        /* declared fields, calculated ones included */
    size_t n_fields;               /* number of fields */
    rj_app_auth_t authorize;       /* @readModel(authorize:) */
    const char *sequenced_by;      /* the @sequencedBy field's name, or NULL */
    rj_app_projection_t *projections; /* projections into it, in binding order */
    size_t n_projections;             /* number of projections */
    rj_read_model_hook_fn *hooks;     /* before hooks, in binding order */
    size_t n_hooks;                   /* number of before hooks */
};

typedef struct rj_app_verifier {
    char *issuer;              /* the "iss" it trusts (a custom verifier's name) */
    char *pem;                 /* PEM public key, or NULL */
    char *jwks_uri;            /* JWKS URI, or NULL */
    rj_token_verify_fn custom; /* the application's own verifier, or NULL */
    rj_token_check_fn check;   /* an extra check after a standard verifier's, or NULL */
    char *roles_claim;         /* claim holding the roles, default "custom:role" */
} rj_app_verifier_t;

/* ---- loading ---- */

/**
 * Loads an application library and builds its model.
 *
 * @param path  path of the shared library (e.g. build/lib/libshop.so); borrowed
 * @param err   filled on failure; may be NULL
 * @return the application, or NULL on failure (RJ_ENOTFOUND: the library or its SDL
 *         could not be opened; RJ_EINVAL: wrong API version or missing entry point;
 *         RJ_ESCHEMA: the SDL does not parse or a binding names something undeclared)
 *
 * Ownership: the caller owns the result; release with rj_app_free(). The library
 * stays loaded until then. Call from one thread, before handlers run.
 */
rj_app_t *rj_app_load(const char *path, rj_error_t *err);

/** Unloads the application and frees its model. NULL is a no-op. */
void rj_app_free(rj_app_t *app);

/** The application name (the topic and table prefix); borrowed from @p app. */
const char *rj_app_name_get(const rj_app_t *app);

/** The application SDL as read (file contents or the embedded string); borrowed. */
const char *rj_app_sdl_get(const rj_app_t *app);

/* ---- lookups (NULL when not declared; results borrowed from @p app) ---- */

const rj_app_command_t *rj_app_command(const rj_app_t *app, const char *name);
const rj_app_query_t *rj_app_query(const rj_app_t *app, const char *name);
const rj_app_event_t *rj_app_event(const rj_app_t *app, const char *name);
const rj_app_entity_t *rj_app_entity(const rj_app_t *app, const char *name);
const rj_app_read_model_t *rj_app_read_model(const rj_app_t *app, const char *name);
const rj_app_type_t *rj_app_type(const rj_app_t *app, const char *name);
/** True when @p role is a declared role. */
bool rj_app_role_exists(const rj_app_t *app, const char *role);
/** The reducer of @p event on @p entity, or NULL. */
const rj_app_reducer_t *rj_app_entity_reducer(const rj_app_entity_t *entity, const char *event);

/* ---- iteration, in declaration order (index < count; results borrowed) ---- */

size_t rj_app_command_count(const rj_app_t *app);
const rj_app_command_t *rj_app_command_at(const rj_app_t *app, size_t i);
size_t rj_app_query_count(const rj_app_t *app);
const rj_app_query_t *rj_app_query_at(const rj_app_t *app, size_t i);
size_t rj_app_event_count(const rj_app_t *app);
const rj_app_event_t *rj_app_event_at(const rj_app_t *app, size_t i);
size_t rj_app_entity_count(const rj_app_t *app);
const rj_app_entity_t *rj_app_entity_at(const rj_app_t *app, size_t i);
size_t rj_app_read_model_count(const rj_app_t *app);
const rj_app_read_model_t *rj_app_read_model_at(const rj_app_t *app, size_t i);
size_t rj_app_type_count(const rj_app_t *app);
const rj_app_type_t *rj_app_type_at(const rj_app_t *app, size_t i);
size_t rj_app_role_count(const rj_app_t *app);
const char *rj_app_role_at(const rj_app_t *app, size_t i);
size_t rj_app_verifier_count(const rj_app_t *app);
const rj_app_verifier_t *rj_app_verifier_at(const rj_app_t *app, size_t i);

/* ---- authentication, authorization and ids ---- */

/**
 * The application's token verifiers (its rj_app_token_verifier_* declarations,
 * with the clock leeway of RAMJET_JWT_LEEWAY_S read at load), ready for
 * rj_auth_verify_authorization(). Borrowed from @p app; immutable, any thread.
 */
const rj_auth_t *rj_app_token_auth(const rj_app_t *app);

/* The message of every authorization denial (Booster's NotAuthorizedError). */
#define RJ_APP_ACCESS_DENIED "Access denied for this resource"

/**
 * Decides an authorize attribute for a user, running a custom authorizer with
 * @p input NULL. Prefer rj_app_authorize(), which passes the input and reports why.
 *
 * @param auth  the attribute (command, read model or entity events)
 * @param user  the user envelope {id, username, roles, claims} or NULL/JSON null for
 *              anonymous; borrowed
 * @return true when allowed. RJ_APP_AUTH_CUSTOM without a bound authorizer (entities'
 *         authorizeReadEvents have no binding) is denied: default deny.
 */
bool rj_app_auth_allows(const rj_app_auth_t *auth, const json_t *user);

/**
 * Decides an authorize attribute for a user and a request, as Booster's authorizers:
 * ALL allows, a role list allows a user holding one of the roles, CUSTOM asks the bound
 * authorizer, an omitted attribute denies.
 *
 * @param user   the user envelope or NULL/JSON null for anonymous; borrowed
 * @param input  what the custom authorizer sees (the command input or the read-model
 *               request); borrowed, may be NULL
 * @param err    on denial: status RJ_EAUTH, the message RJ_APP_ACCESS_DENIED or the custom
 *               authorizer's own, the code NotAuthorizedError or the one it set
 * @return RJ_OK when allowed, else RJ_EAUTH
 *
 * Any thread (custom authorizers must be thread-safe, as every handler).
 */
rj_status_t rj_app_authorize(const rj_app_auth_t *auth, const json_t *user, const json_t *input,
                             rj_error_t *err);

/**
 * Runs a read model's before hooks in binding order.
 *
 * @param request  {"key": {...}} or {"filters": {...}}; borrowed
 * @param user     the user envelope or NULL/JSON null; borrowed
 * @param out      on RJ_OK the request to run (a new reference; @p request itself, with a
 *                 new reference, when there are no hooks)
 * @param err      on failure the hook's message unchanged ("before hook <n> of read model
 *                 <X> failed" when it set none) and its code (none for a plain failure,
 *                 which the gateway shows as "extensions": {}, as Booster does)
 * @return RJ_OK; the hook's status; RJ_EHANDLER when a hook returned no request or a
 *         non-object
 */
rj_status_t rj_app_run_read_model_hooks(const rj_app_read_model_t *rm, const json_t *request,
                                        const json_t *user, json_t **out, rj_error_t *err);

/**
 * Formats an entity or read-model id held in a JSON value: a string as is, an
 * integer in decimal, a real with %.17g.
 *
 * @return a new string (free() it), or NULL when @p v is NULL or not a string/number
 */
char *rj_app_id_string(const json_t *v);

/**
 * The partition key of a command: the value of its key field in @p input when the
 * command declares entity/key, else NULL (the caller then keys by request id).
 *
 * @param input  the command input; borrowed
 * @param out    on RJ_OK a new string (free() it) or NULL
 * @return RJ_OK, or RJ_ESCHEMA when the key field is missing or not a string/number
 */
rj_status_t rj_app_command_key(const rj_app_command_t *cmd, const json_t *input, char **out,
                               rj_error_t *err);

/* ---- running handlers (any thread; the model is immutable) ---- */

/**
 * Runs a command: its before hooks in binding order, then its handler.
 *
 * @param name        command name; RJ_ENOTFOUND when undeclared
 * @param input       the command input object (JSON null or NULL = {}); borrowed
 * @param user        the user envelope or NULL/JSON null when anonymous; borrowed
 * @param request_id  the request id, visible to the handler; borrowed
 * @param result      on RJ_OK the mutation's result, a new reference (`true` when the
 *                    handler set none); untouched on failure
 * @param events      on RJ_OK a new array of {"type","entity","entityId","value"} in
 *                    registration order (entityId is the string form of the event's key
 *                    field); untouched on failure
 * @param err         on failure the message for the client: a hook's or handler's own
 *                    message unchanged, or "command handler <name> failed" when it set none,
 *                    as the global error handler left it (ramjet.h, rj_error_handler_t)
 * @return RJ_OK; RJ_ENOTFOUND; RJ_ESCHEMA when a registered event is undeclared or its key
 *         field is missing or not a string/number; or the hook's/handler's status (or the
 *         one the global error handler chose). A failure the handler swallowed is RJ_OK
 *         with result `true` and the events registered before it (none for a hook's)
 */
rj_status_t rj_app_run_command(const rj_app_t *app, const char *name, const json_t *input,
                               const json_t *user, const char *request_id, json_t **result,
                               json_t **events, rj_error_t *err);

/**
 * Reads one entity's current state for a handler's rj_entity_get(): the daemon's storage,
 * behind a function so this module stays free of it (common/src/entity has the
 * PostgreSQL half).
 *
 * @param opaque  rj_app_reader_t.opaque
 * @param entity  a declared entity type name; @p id a non-empty id; both borrowed
 * @param state   on RJ_OK the state (a new reference), or NULL when it has no events
 * @return RJ_OK or the failure, with @p err set; called on the handler's thread
 */
typedef rj_status_t (*rj_app_entity_read_fn)(void *opaque, const char *entity, const char *id,
                                             json_t **state, rj_error_t *err);

/**
 * Searches a read model for a handler's rj_read_models_search().
 *
 * @param rm      the read model; @p filter its filter (NULL: every row); both borrowed
 * @param limit   at most this many rows, 0 for all of them
 * @param items   on RJ_OK a new JSON array of the stored values, ordered by id
 * @return RJ_OK or the failure, with @p err set (RJ_EINVAL for a malformed filter)
 */
typedef rj_status_t (*rj_app_read_model_search_fn)(void *opaque, const rj_app_read_model_t *rm,
                                                   const json_t *filter, size_t limit,
                                                   json_t **items, rj_error_t *err);

/** Where a handler's reads go: the daemon's storage. */
typedef struct rj_app_reader {
    rj_app_entity_read_fn entity;            /* rj_entity_get */
    rj_app_read_model_search_fn read_models; /* rj_read_models_search */
    void *opaque;                            /* their first argument */
} rj_app_reader_t;

/**
 * rj_app_run_command, with the handler's reads (rj_entity_get, rj_read_models_search)
 * served by @p reader (borrowed; NULL: they fail with RJ_EINVAL, as in rj_app_run_command).
 */
rj_status_t rj_app_run_command_reading(const rj_app_t *app, const rj_app_reader_t *reader,
                                       const char *name, const json_t *input, const json_t *user,
                                       const char *request_id, json_t **result, json_t **events,
                                       rj_error_t *err);

/**
 * Runs a query: its before hooks in binding order, then its handler. Authorization is the
 * caller's (rj_app_authorize with the query's attribute), before this.
 *
 * @param reader      serves the handler's reads; borrowed, may be NULL
 * @param name        query name; RJ_ENOTFOUND when undeclared
 * @param input       the query's input object (JSON null or NULL = {}); borrowed
 * @param user        the user envelope or NULL/JSON null when anonymous; borrowed
 * @param request_id  an id for this request, visible to the handler; borrowed
 * @param result      on RJ_OK the field's value, a new reference (JSON null when the
 *                    handler set none); untouched on failure
 * @param err         on failure a hook's or the handler's own message unchanged, or
 *                    "query handler <name> failed" when it set none, as the global error
 *                    handler left it
 * @return RJ_OK; RJ_ENOTFOUND; or the hook's/handler's status (or the one the global error
 *         handler chose). A failure the handler swallowed is RJ_OK with result JSON null
 */
rj_status_t rj_app_run_query(const rj_app_t *app, const rj_app_reader_t *reader,
                             const char *name, const json_t *input, const json_t *user,
                             const char *request_id, json_t **result, rj_error_t *err);

/**
 * Folds one event into an entity's state with the bound reducer.
 *
 * @param entity      entity type name
 * @param event_type  event type name
 * @param event       the event payload (the envelope's "value"); borrowed
 * @param current     the state before, or NULL/JSON null for the first event; borrowed
 * @param out         on RJ_OK the new state, a new reference. When the global error
 *                    handler swallowed the failure, the event is skipped: *out is the
 *                    unchanged state (a new reference to @p current), or NULL when
 *                    @p current is none
 * @return RJ_OK; RJ_ENOTFOUND when no reducer is bound (the handler's on_event_error sees
 *         it); or the reducer's status (its message, or "reducer <Entity>.<Event> failed";
 *         its on_reducer_error sees it), as the global error handler left them
 */
rj_status_t rj_app_reduce(const rj_app_t *app, const char *entity, const char *event_type,
                          const json_t *event, const json_t *current, json_t **out,
                          rj_error_t *err);

/** What a projection asked for. */
typedef enum rj_app_project_action {
    RJ_APP_PROJECT_WRITE,   /* store the returned read model (version + 1) and notify */
    RJ_APP_PROJECT_DELETE,  /* the projection returned RJ_DELETE: delete the row */
    RJ_APP_PROJECT_NOTHING, /* the projection returned RJ_NOTHING: no write, no notification */
} rj_app_project_action_t;

/**
 * The read-model id a projection writes for an entity state: the string form of
 * the state's join field, or NULL when it is missing, null, false or "" (Booster
 * skips the projection then, with a warning). Free() the result. NULL for a
 * read-model-query join key (join_query), whose ids come from the read side.
 */
char *rj_app_projection_id(const rj_app_projection_t *proj, const json_t *entity);

/**
 * Every read-model id a projection runs for on an entity state: one for a scalar
 * join field, one per element (in order, duplicates and empty ones dropped) for an
 * array join field (join_is_array). Daemons should prefer this to
 * rj_app_projection_id, which only knows scalar join fields.
 *
 * @return a new JSON array of strings, empty when there is nothing to project (always for
 *         a read-model-query join key: see rj_app_projection_query)
 */
json_t *rj_app_projection_ids(const rj_app_projection_t *proj, const json_t *entity);

/**
 * Runs a projection's read-model-query join key (proj->join_query must be set).
 *
 * @param entity  the entity's new state; borrowed
 * @param filter  on RJ_OK the filter (a new reference, a JSON object), or NULL when the
 *                join key asked to skip the projection
 * @return RJ_OK; RJ_ESCHEMA when the join key returned a non-object; or its status (its
 *         message, or "join key of projection <ReadModel> from <Entity> failed"), as the
 *         global error handler's on_projection_error left them; a failure it swallowed is
 *         RJ_OK with *filter NULL (skip the projection)
 */
rj_status_t rj_app_projection_query(const rj_app_projection_t *proj, const json_t *entity,
                                    json_t **filter, rj_error_t *err);

/**
 * Runs one projection.
 *
 * @param proj     from entity->projections or read_model->projections
 * @param entity   the entity's new state; borrowed
 * @param id       the read model id (rj_app_projection_id); borrowed
 * @param current  the stored read model, or NULL; borrowed
 * @param action   on RJ_OK what to do
 * @param out      on RJ_OK with RJ_APP_PROJECT_WRITE the read model (a new reference,
 *                 an object); NULL for the other actions
 * @return RJ_OK; RJ_ESCHEMA when the projection returned NULL or a non-object; or the
 *         projection's status (its message, or "projection <ReadModel> from <Entity> failed"),
 *         as the global error handler's on_projection_error left them; a failure it
 *         swallowed is RJ_OK with RJ_APP_PROJECT_NOTHING
 */
rj_status_t rj_app_project(const rj_app_projection_t *proj, const json_t *entity, const char *id,
                           const json_t *current, rj_app_project_action_t *action, json_t **out,
                           rj_error_t *err);

/* ---- the generated GraphQL API ---- */

/**
 * The GraphQL SDL of the API the gateway serves, generated with Booster's names
 * (value types and read models as object types, <Type>Input and <Command>Input input
 * types, Query/Mutation/Subscription roots, scalar JSON). Borrowed from @p app.
 */
const char *rj_app_api_sdl(const rj_app_t *app);

/**
 * The API as an Apollo Federation v1 subgraph, what `{ _service { sdl } }` answers:
 * rj_app_api_sdl() with every read model an entity keyed by its id, `@key(fields: "id")`
 * (a sequenced read model by `"id <sequence field>"`: one id names many rows) and the
 * roots extended (`extend type Query`, as federation 1 services write them), laid out as
 * graphql-js's print() lays out a document, which is what @apollo/subgraph answers for a
 * federation 1 schema: no federation definitions, no trailing new line. Borrowed.
 */
const char *rj_app_subgraph_sdl(const rj_app_t *app);

/**
 * The SDL of the schema the gateway serves: rj_app_subgraph_sdl() plus what
 * @apollo/subgraph's buildSubgraphSchema adds to a federation 1 subgraph (`_FieldSet`, the
 * federation directives, `_Service`, `_Any`, `_Entity` and the Query fields
 * `_entities(representations: [_Any!]!): [_Entity]!` and `_service: _Service!`), so that
 * they are in its introspection as in a subgraph's. Borrowed from @p app.
 */
const char *rj_app_served_sdl(const rj_app_t *app);

/** rj_app_api_sdl() parsed by the GraphQL engine; borrowed from @p app. */
const rj_gql_schema_t *rj_app_api_schema(const rj_app_t *app);

/**
 * Installs the application's calculated-field functions as field resolvers of @p schema
 * (one parsed from rj_app_api_sdl(), not yet shared): completing a selected @calculated
 * field then calls its function with the read model, and a failure becomes a GraphQL
 * field error at that field's path. rj_app_api_schema() has them already; a daemon that
 * parses its own copy of the API calls this once, before serving.
 *
 * @return RJ_OK, or RJ_ESCHEMA when @p schema lacks a read model's calculated field
 */
rj_status_t rj_app_install_calculated(const rj_app_t *app, rj_gql_schema_t *schema,
                                      rj_error_t *err);

#endif
