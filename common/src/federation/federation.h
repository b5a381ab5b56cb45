/*
 * federation/federation.h - Apollo Federation v1 for the gateway (and, for subscriptions,
 * the pusher): the gateway configuration file, reading the services' SDL, and composing
 * it into one schema plus the routing facts the query planner needs.
 *
 * Why common/ and not services/gateway/: the pusher reads the same configuration file
 * and will complete federated subscription events with the same composition and planner,
 * and services never depend on each other. Nothing here touches an event loop: the
 * configuration and composition are pure functions of their input, which is what lets
 * the unit tests drive them with SDL fixtures; only rj_fed_fetch_sdl() does I/O, blocking,
 * once at start.
 *
 * The composed schema is an ordinary rj_gql_schema_t built from SDL that composition
 * prints, so validation, introspection and GraphiQL work on it unchanged. The federation
 * machinery (_service, _entities, _Service, _Entity, _Any, _FieldSet, @key, @external,
 * @requires, @provides, @extends) never reaches that SDL; it lives in rj_fed_graph_t.
 */
#ifndef RJ_FEDERATION_H
#define RJ_FEDERATION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "graphql/graphql.h"
#include "rj/status.h"

/* ---- configuration (--gateway-config) -------------------------------------------------- */

/** One service of the configuration file's `services` array. */
typedef struct rj_fed_service_conf {
    char *name;                 /* `name`: unique, names the service in errors and logs */
    char **urls;                /* `url`: one endpoint or several, used round robin */
    size_t nurls;               /* number of urls (at least 1) */
    char *ws_url;               /* `wsUrl`: subscriptions endpoint, or NULL */
    bool mandatory;             /* `mandatory`: no start without this service's SDL */
    json_t *init_headers;       /* `initHeaders`: {"name": "value"} sent on every request,
                                   or NULL */
    int keep_alive_ms;          /* `keepAlive`: how long an idle connection stays open */
    int keep_alive_timeout_ms;  /* `keepAliveTimeout`: likewise; the larger one wins */
    int connections;            /* `connections`: most connections open to the service */
    bool allow_batched_queries; /* `allowBatchedQueries`: the service takes a JSON array of
                                   operations in one request */
    char *schema;               /* `schema`: SDL used instead of fetching `_service`, or NULL */
} rj_fed_service_conf_t;

/** The whole configuration file. */
typedef struct rj_fed_conf {
    rj_fed_service_conf_t *services; /* `services`, in file order (the composition order) */
    size_t nservices;                /* number of services (at least 1) */
    int polling_interval_ms;         /* `pollingInterval`: re-read SDL this often; 0: never */
    int retry_services_count;        /* `retryServicesCount`: start-up retries of a
                                        non-mandatory service that could not be read */
    int retry_services_interval_ms;  /* `retryServicesInterval`: pause between them */
    json_t *subscription;            /* `subscription`, kept as given for the pusher, or NULL */
} rj_fed_conf_t;

/**
 * Reads a gateway configuration from JSON text.
 *
 * @param text    the JSON; borrowed
 * @param len     its length
 * @param origin  how the text is named in messages (the file's path)
 * @param conf    caller-owned storage, filled on RJ_OK, zeroed otherwise
 * @param err     on failure names the offending key by its path, e.g.
 *                `gw.json: services[1].url: expected a string or an array of strings`
 * @return RJ_OK, or RJ_EINVAL for malformed JSON, an unknown key, a wrong type, a value
 *         out of range, a missing required key or a duplicate service name
 *
 * Ownership: release with rj_fed_conf_deinit().
 */
rj_status_t rj_fed_conf_parse(const char *text, size_t len, const char *origin, rj_fed_conf_t *conf,
                              rj_error_t *err);

/** rj_fed_conf_parse() of a file's contents; RJ_EIO when it cannot be read. */
rj_status_t rj_fed_conf_load(const char *path, rj_fed_conf_t *conf, rj_error_t *err);

/** Frees what rj_fed_conf_parse() stored in @p conf and zeroes it. */
void rj_fed_conf_deinit(rj_fed_conf_t *conf);

/** Prints the file's keys as Markdown tables (docs/federation.md is built from them). */
void rj_fed_conf_print_markdown(FILE *out);

/* ---- composition ---------------------------------------------------------------------- */

/** Most services one composition takes (service sets are 64-bit masks). */
#define RJ_FED_MAX_SERVICES 64

/** A field's owner when any service that returns its parent also resolves it (value types). */
#define RJ_FED_SHARED (-1)

/** One service's SDL, the input of composition. */
typedef struct rj_fed_sdl {
    const char *name; /* the service's name; borrowed */
    const char *sdl;  /* its federation SDL (`_service { sdl }`); borrowed */
    size_t len;       /* length of sdl */
} rj_fed_sdl_t;

/** A field set of @key, @requires or @provides: as written and parsed. */
typedef struct rj_fed_fieldset {
    int service;                              /* the service whose SDL declares it */
    const char *text;                         /* as written: "id organization { id }" */
    const rj_gql_ast_selection_t *selections; /* parsed; fields only, nested as written */
} rj_fed_fieldset_t;

/** Where one field of the composed schema is resolved. Lives as long as its graph. */
typedef struct rj_fed_field {
    const char *name;           /* field name */
    int owner;                  /* the service that resolves it, or RJ_FED_SHARED */
    uint64_t external;          /* services that declare it @external */
    rj_fed_fieldset_t requires; /* @requires of the owner (selections NULL: none): fields of
                                   the parent to fetch first and send in representations */
    rj_fed_fieldset_t provides; /* @provides of the owner (selections NULL: none): fields of
                                   the returned entity the owner answers itself */
} rj_fed_field_t;

/** A named type of the composition. Lives as long as its graph. */
typedef struct rj_fed_type {
    const char *name;        /* type name (root types renamed to Query/Mutation/Subscription) */
    rj_gql_type_kind_t kind; /* its kind */
    int origin;              /* the service defining (not extending) it; -1 for root types
                                and value types defined by several services */
    uint64_t services;       /* services that declare the type at all */
    rj_fed_fieldset_t *keys; /* every @key of every service, in configuration order */
    size_t nkeys;            /* number of keys; 0: not an entity */
    rj_fed_field_t *fields;  /* OBJECT, INTERFACE: fields of the public schema */
    size_t nfields;          /* number of fields */
} rj_fed_type_t;

/** A composition: the public schema and the routing facts of every type. Immutable. */
typedef struct rj_fed_graph rj_fed_graph_t;

/**
 * Composes services' SDL as Apollo Federation v1 does.
 *
 * @param sdls  the services, in configuration order (root fields merge in this order)
 * @param n     how many (1 to RJ_FED_MAX_SERVICES)
 * @param err   on failure the first composition error, naming service, type and field
 * @return a new graph, or NULL with RJ_ESCHEMA (invalid SDL or composition) or RJ_EINVAL
 *
 * Ownership: copies what it needs from @p sdls; release with rj_fed_graph_free().
 */
rj_fed_graph_t *rj_fed_compose(const rj_fed_sdl_t *sdls, size_t n, rj_error_t *err);

/** Frees a graph. NULL is a no-op. Its schema lives on while someone holds a reference. */
void rj_fed_graph_free(rj_fed_graph_t *g);

/** The composed public schema. Borrowed; rj_gql_schema_ref() it to keep it longer. */
rj_gql_schema_t *rj_fed_graph_schema(const rj_fed_graph_t *g);

/** The composed schema as the SDL it was built from. Borrowed. */
const char *rj_fed_graph_sdl(const rj_fed_graph_t *g);

/** Number of services, and the i-th one's name. Borrowed. */
size_t rj_fed_graph_nservices(const rj_fed_graph_t *g);
const char *rj_fed_graph_service_name(const rj_fed_graph_t *g, size_t i);

/** A type's routing facts by name, or NULL (built-in scalars, introspection types). */
const rj_fed_type_t *rj_fed_graph_type(const rj_fed_graph_t *g, const char *name);

/** A field's routing facts by name, or NULL. */
const rj_fed_field_t *rj_fed_type_field(const rj_fed_type_t *t, const char *name);

/* ---- reading the services ------------------------------------------------------------- */

/**
 * A service's SDL: its configured `schema`, or asked with `{ _service { sdl } }` of each of
 * its URLs in turn until one answers. Blocks up to @p timeout_ms per URL.
 *
 * @param sdl  on RJ_OK a new string (free() it)
 * @return RJ_OK; RJ_ERETRY (unreachable), RJ_EPROTO (not a GraphQL answer with an SDL),
 *         RJ_ETOOBIG (an answer above 16 MiB)
 */
rj_status_t rj_fed_fetch_sdl(const rj_fed_service_conf_t *svc, int timeout_ms, char **sdl,
                             rj_error_t *err);

struct curl_slist;

/**
 * The headers of every request to @p svc: Content-Type: application/json, no
 * `Expect: 100-continue`, and its `initHeaders`. Ownership: a new list;
 * curl_slist_free_all() it.
 */
struct curl_slist *rj_fed_service_headers(const rj_fed_service_conf_t *svc);

/**
 * Reads every service's SDL (with the configuration's retries) and composes them. A
 * service that stays unreadable stops the start when mandatory, else is left out.
 *
 * @param local    a service answered in-process (the gateway's application), composed
 *                 first, as service 0 of the graph, or NULL; borrowed. Its SDL is given,
 *                 never fetched
 * @param present  if not NULL, on success a new array (free() it): for each configured
 *                 service, whether it is in the composition. Service indexes of the graph
 *                 count @p local, then only those present, in configuration order.
 * @return a new graph, or NULL with @p err set
 */
rj_fed_graph_t *rj_fed_load(const rj_fed_conf_t *conf, const rj_fed_sdl_t *local, int timeout_ms,
                            bool **present, rj_error_t *err);

/* ---- planning -------------------------------------------------------------------------- */

/**
 * One request of a plan to one service. A root fetch asks the service for its root
 * fields; an entity fetch asks `_entities(representations:)` for the fields it owns of
 * the objects a parent fetch returned at `path`, all of them in one call.
 *
 * The subgraph documents use the client's response keys, so answers merge into one tree
 * keyed as the client asked; what the gateway adds for itself (key and @requires fields)
 * is aliased `_rj_<field>`, so it never collides with a client's alias, and __typename is
 * added plainly where an entity boundary or an abstract type needs it.
 */
typedef struct rj_fed_fetch rj_fed_fetch_t;
struct rj_fed_fetch {
    int service;                         /* the service asked */
    bool entities;                       /* an _entities fetch (else a root fetch) */
    char *query;                         /* the document sent */
    char **variables;                    /* the client's variables the document uses */
    char **variable_defs;                /* each one's definition: "$n: Int = 2" */
    size_t nvariables;                   /* number of variables */
    char *selection;                     /* entities: "... on T { ... }", what _entities asks */
    size_t depth;                        /* 0 for root fetches, parent's + 1 for children */
    char **path;                         /* entities: response keys from the root to the objects,
                                            lists crossed implicitly */
    const char **path_types;             /* entities: per path key, the object type whose
                                            field it is, when objects of other types may
                                            stand there too (union/interface members);
                                            else NULL. Borrowed from the schema */
    size_t npath;                        /* length of path */
    const char *type;                    /* entities: the objects' type (others are skipped) */
    const rj_gql_ast_selection_t **reps; /* entities: field sets a representation carries
                                            (the key, then each @requires) */
    size_t nreps;                        /* number of field sets */
    rj_fed_fetch_t **children;           /* fetches that need this one's answer */
    size_t nchildren;                    /* number of children */
    size_t id;                           /* index in the plan's flat list */
};

/** The fetches of one operation. Immutable after rj_fed_plan_new(); cache and share it. */
typedef struct rj_fed_plan {
    rj_fed_fetch_t **roots; /* root fetches, in order */
    size_t nroots;          /* number of root fetches */
    bool serial;            /* a mutation: root fetches run one after another */
    rj_fed_fetch_t **all;   /* every fetch, parents before children */
    size_t nall;            /* number of fetches */
} rj_fed_plan_t;

/** Most fetches one plan may hold, and most selections it may print. */
#define RJ_FED_PLAN_MAX_FETCHES 256
#define RJ_FED_PLAN_MAX_SELECTIONS 20000

/**
 * Plans an operation of a document validated against rj_fed_graph_schema(@p g).
 *
 * @param op   the operation to plan (one of @p doc's definitions); borrowed
 * @return a new plan, or NULL with @p err set (RJ_ETOOBIG past the bounds above,
 *         RJ_EINVAL for what the planner cannot route)
 *
 * Ownership: the plan points into @p g and @p doc: keep both alive while it lives.
 */
rj_fed_plan_t *rj_fed_plan_new(const rj_fed_graph_t *g, const rj_gql_doc_t *doc,
                               const rj_gql_ast_definition_t *op, rj_error_t *err);

/** Frees a plan. NULL is a no-op. */
void rj_fed_plan_free(rj_fed_plan_t *plan);

/* ---- running a plan --------------------------------------------------------------------- */

/**
 * One plan being run for one request: which fetches are due, what they send, and the
 * tree their answers merge into. Transport-free: the caller sends the requests it is
 * given, however it likes, and delivers the answers back; so the same run serves the
 * gateway's HTTP client and the unit tests.
 */
typedef struct rj_fed_run rj_fed_run_t;

/**
 * A request the caller must send, as POST body {"query", "variables"}. The entity fetches
 * of one service at one level (depth) go out together in one request, each under its own
 * alias of `_entities`, so a service is asked once per level however many paths lead to it.
 * To a service that takes batched queries (rj_fed_run_set_batched) they go instead as a
 * JSON array of {"query", "variables"}, one per fetch, and its answer is a JSON array.
 */
typedef struct rj_fed_request {
    size_t id;    /* what to deliver the answer with */
    int service;  /* the service to send it to */
    json_t *body; /* the JSON body; owned by the request (rj_fed_request_deinit) */
} rj_fed_request_t;

/**
 * Starts running @p plan with the request's coerced @p variables (borrowed; copied as
 * needed). The plan must outlive the run.
 */
rj_fed_run_t *rj_fed_run_new(const rj_fed_plan_t *plan, const rj_fed_graph_t *g,
                             const json_t *variables);

/**
 * Names the services that take batched queries (`allowBatchedQueries`): bit i set for
 * service i of the graph. Their entity fetches of one level go as one request whose body
 * is a JSON array of the fetches' documents, answered by an array. Call it before the
 * first rj_fed_run_next(); by default no service takes them.
 */
void rj_fed_run_set_batched(rj_fed_run_t *run, uint64_t services);

/**
 * Moves the requests that are due now into @p out (up to @p max). Fetches with nothing
 * to ask (no objects at their path) complete at once, without a request.
 *
 * @return how many were stored
 */
size_t rj_fed_run_next(rj_fed_run_t *run, rj_fed_request_t *out, size_t max);

/** Releases a request's body. */
void rj_fed_request_deinit(rj_fed_request_t *r);

/**
 * Delivers a request's answer: its data merged into the tree, its errors kept with the
 * client's paths and extensions.serviceName.
 *
 * @param answer   the service's JSON answer (an array for a batched request), or NULL when
 *                 the request failed; taken
 * @param failure  when @p answer is NULL, why (e.g. "timeout after 5000 ms")
 */
void rj_fed_run_deliver_take(rj_fed_run_t *run, size_t id, json_t *answer, const char *failure);

/** True when no fetch is due or in flight any more. */
bool rj_fed_run_done(const rj_fed_run_t *run);

/**
 * The merged answers: data (an object keyed by the client's response keys) and the
 * errors collected, a JSON array. Borrowed from the run.
 */
const json_t *rj_fed_run_data_get(const rj_fed_run_t *run);
const json_t *rj_fed_run_errors_get(const rj_fed_run_t *run);

/**
 * The paths of the entities their services answered null for (unknown to them): the
 * objects stay, their fields the service did not give are null, and a non-null one among
 * them nulls its parent without an error (rj_gql_prepared_add_lost_take), as
 * @apollo/gateway and @mercuriusjs/gateway answer. Borrowed from the run.
 */
const json_t *rj_fed_run_lost_get(const rj_fed_run_t *run);

/** Frees a run (done or not). NULL is a no-op. */
void rj_fed_run_free(rj_fed_run_t *run);

#endif
