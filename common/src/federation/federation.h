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

#endif
