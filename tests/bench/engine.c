/*
 * engine.c - a micro-benchmark of the GraphQL engine (common/src/graphql) on the schema the
 * gateway really serves: examples/shop's generated API.
 *
 * For two typical requests, a by-id read-model query (CartReadModel(id) with a nested
 * selection, a fragment and a variable) and a filtered ListCartReadModels page of 20 items,
 * it measures each step the gateway takes per request, then the whole CPU path with and
 * without the document cache:
 *
 *   parse               rj_gql_parse() + rj_gql_doc_free()
 *   validate            rj_gql_validate() of a parsed document
 *   prepare+complete    rj_gql_prepare() with the variables, the root value set as the read
 *                       side would deliver it, rj_gql_complete(), the response serialised
 *   cache get (hit)     rj_gql_cache_get() of a cached query text
 *   request, uncached   parse + validate + prepare + complete + serialise
 *   request, cache hit  cache get + prepare + complete + serialise (the gateway's steady
 *                       state: clients send the same few query texts)
 *
 * Each figure is the best of three timed runs of at least --seconds each (after a warm-up),
 * so a scheduler hiccup on a shared machine does not become the result.
 *
 * What it deliberately does not measure: HTTP, PostgreSQL and Kafka (scripts/bench measures
 * the whole stack), and the gateway's authorization and hooks (they depend on the app).
 * It is built with the tree but never run by the test suite: `scripts/bench --engine`.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/app.h"
#include "core/core.h"
#include "graphql/graphql.h"
#include "json/envelope.h"

/* The by-id query: what a cart page asks for. */
static const char BY_ID_QUERY[] = "query Cart($id: ID!) {\n"
                                  "  CartReadModel(id: $id) {\n"
                                  "    id\n"
                                  "    cartItems { ...Item }\n"
                                  "    shippingAddress { firstName lastName country state "
                                  "postalCode address }\n"
                                  "    payment { id confirmationToken }\n"
                                  "    cartItemsIds\n"
                                  "  }\n"
                                  "}\n"
                                  "fragment Item on CartItem { productId quantity }\n";

/* The List query: a filtered page, as an admin list or a search box asks for. */
static const char LIST_QUERY[] = "query Carts($filter: ListCartReadModelFilter, $limit: Int) {\n"
                                 "  ListCartReadModels(filter: $filter, limit: $limit) {\n"
                                 "    items {\n"
                                 "      id\n"
                                 "      cartItems { ...Item }\n"
                                 "      shippingAddress { firstName lastName country postalCode }\n"
                                 "    }\n"
                                 "    count\n"
                                 "    cursor\n"
                                 "  }\n"
                                 "}\n"
                                 "fragment Item on CartItem { productId quantity }\n";

#define LIST_PAGE 20 /* items in the List query's page */

/* One request to measure. */
typedef struct workload {
    const char *name;  /* shown in the table */
    const char *query; /* the query text */
    json_t *variables; /* its variables; owned */
    json_t *value;     /* the root field's value, as the read side returns it; owned */
} workload_t;

/* What every timed step works with. */
typedef struct bench {
    rj_gql_schema_t *schema; /* the shop's API schema */
    rj_gql_cache_t *cache;   /* warm with both queries */
    const workload_t *w;     /* the request being measured */
    rj_gql_doc_t *doc;       /* w's parsed document (for validate and prepare) */
    double seconds;          /* minimum duration of one timed run */
} bench_t;

/* Reports a failure and exits: a benchmark that measured the wrong thing must not print. */
__attribute__((format(printf, 1, 2), noreturn)) static void
die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench-engine: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* One cart read model, shaped as the projector stores it. */
static json_t *
cart_value(int i)
{
    json_t *items = json_array();
    json_t *ids = json_array();
    for (int k = 0; k < 3; k++) {
        char product[32];
        snprintf(product, sizeof product, "product-%d", k + 1);
        json_array_append_new(
            items, json_pack("{s:s, s:f}", "productId", product, "quantity", (double)(k + 1)));
        json_array_append_new(ids, json_string(product));
    }
    char id[32];
    snprintf(id, sizeof id, "cart-%d", i);
    return json_pack("{s:s, s:o, s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:n, s:o}", "id", id,
                     "cartItems", items, "shippingAddress", "firstName", "Ada", "lastName",
                     "Lovelace", "country", "UK", "state", "London", "postalCode", "NW1", "address",
                     "12 St James's Square", "payment", "cartItemsIds", ids);
}

/* The root field's response with the workload's value, serialised as the gateway would. */
static void
prepare_complete(const bench_t *b, bool check)
{
    rj_gql_prepared_t *prep = NULL;
    json_t *errors = NULL;
    if (rj_gql_prepare(b->schema, b->doc, NULL, b->w->variables, &prep, &errors) != RJ_OK) {
        char *text = rj_json_dumps(errors);
        die("could not prepare the query: %s", text);
    }
    rj_gql_prepared_set_result_take(prep, 0, json_incref(b->w->value));
    json_t *response = rj_gql_complete(prep);
    char *text = rj_json_dumps(response);
    if (check && (json_object_get(response, "errors") != NULL ||
                  !json_is_object(json_object_get(response, "data"))))
        die("the query did not complete cleanly: %s", text);
    free(text);
    json_decref(response);
    rj_gql_prepared_free(prep);
}

static void
step_parse(const bench_t *b)
{
    rj_gql_doc_free(rj_gql_parse(b->w->query, strlen(b->w->query), NULL, NULL));
}

static void
step_validate(const bench_t *b)
{
    json_decref(rj_gql_validate(b->schema, b->doc));
}

static void
step_prepare_complete(const bench_t *b)
{
    prepare_complete(b, false);
}

static void
step_cache_get(const bench_t *b)
{
    rj_gql_doc_free(rj_gql_cache_get(b->cache, b->w->query, strlen(b->w->query), NULL));
}

static void
step_request_uncached(const bench_t *b)
{
    rj_gql_doc_t *doc = rj_gql_parse(b->w->query, strlen(b->w->query), NULL, NULL);
    json_t *errors = rj_gql_validate(b->schema, doc);
    RJ_ASSERT(errors == NULL);
    bench_t with = *b;
    with.doc = doc;
    prepare_complete(&with, false);
    rj_gql_doc_free(doc);
}

static void
step_request_cached(const bench_t *b)
{
    rj_gql_doc_t *doc = rj_gql_cache_get(b->cache, b->w->query, strlen(b->w->query), NULL);
    bench_t with = *b;
    with.doc = doc;
    prepare_complete(&with, false);
    rj_gql_doc_free(doc);
}

typedef void (*step_fn)(const bench_t *b);

/*
 * Runs @p step in batches until @p seconds have passed; returns the time per operation in
 * microseconds. Batches double until one takes a millisecond, so the clock is read rarely.
 */
static double
timed_run(const bench_t *b, step_fn step, double seconds, uint64_t *ops_out)
{
    uint64_t ops = 0;
    uint64_t batch = 1;
    int64_t start = rj_mono_us();
    int64_t elapsed = 0;
    while (elapsed < (int64_t)(seconds * 1e6)) {
        int64_t t0 = rj_mono_us();
        for (uint64_t i = 0; i < batch; i++)
            step(b);
        ops += batch;
        if (rj_mono_us() - t0 < 1000)
            batch *= 2;
        elapsed = rj_mono_us() - start;
    }
    *ops_out = ops;
    return (double)elapsed / (double)ops;
}

static void
measure(const bench_t *b, const char *what, step_fn step)
{
    uint64_t ops = 0;
    timed_run(b, step, b->seconds / 4, &ops); /* warm-up: caches, allocator, branch history */
    double best = 0;
    uint64_t best_ops = 0;
    for (int run = 0; run < 3; run++) {
        double us = timed_run(b, step, b->seconds, &ops);
        if (run == 0 || us < best) {
            best = us;
            best_ops = ops;
        }
    }
    printf("| %-10s | %-20s | %12.0f | %9.2f | %10llu |\n", b->w->name, what, 1e6 / best, best,
           (unsigned long long)best_ops);
    fflush(stdout);
}

static void
usage(FILE *to)
{
    fputs("usage: bench-engine [--app PATH] [--seconds S]\n"
          "\n"
          "  --app PATH    the application library (default $RAMJET_BUILD_DIR/lib/libshop.so)\n"
          "  --seconds S   minimum duration of each timed run (default 1; three runs per row,\n"
          "                the best is shown)\n",
          to);
}

int
main(int argc, char **argv)
{
    const char *app_path = NULL;
    char *default_path = NULL;
    double seconds = 1.0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--app") == 0 && i + 1 < argc) {
            app_path = argv[++i];
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            char *end;
            errno = 0;
            seconds = strtod(argv[++i], &end);
            if (errno != 0 || *end != '\0' || !(seconds > 0 && seconds <= 600))
                die("invalid --seconds: %s (a number of seconds, 0 < S <= 600)", argv[i]);
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (app_path == NULL) {
        const char *dir = getenv("RAMJET_BUILD_DIR");
        if (dir == NULL)
            die("%s", "set RAMJET_BUILD_DIR to the build directory, or pass --app PATH");
        default_path = rj_xasprintf("%s/lib/libshop.so", dir);
        app_path = default_path;
        /* The shop trusts no token key by default; the benchmark verifies none. */
        char *key = rj_xasprintf("%s/lib/shop-keys/public.pem", dir);
        setenv("SHOP_BOOSTER_PUBLIC_KEY_FILE", key, 0);
        free(key);
    }

    rj_error_t err = {0};
    rj_app_t *app = rj_app_load(app_path, &err);
    if (app == NULL)
        die("could not load the application: %s", err.msg);
    /* The gateway builds its schema from the generated SDL the same way (exec.c). */
    const char *sdl = rj_app_api_sdl(app);
    rj_gql_schema_t *schema = rj_gql_schema_from_sdl(sdl, strlen(sdl), &err);
    if (schema == NULL)
        die("could not build the API schema: %s", err.msg);

    json_t *items = json_array();
    for (int i = 0; i < LIST_PAGE; i++)
        json_array_append_new(items, cart_value(i));
    workload_t workloads[] = {
        {.name = "by id",
         .query = BY_ID_QUERY,
         .variables = json_pack("{s:s}", "id", "cart-1"),
         .value = cart_value(1)},
        {.name = "List",
         .query = LIST_QUERY,
         .variables =
             json_pack("{s:{s:{s:s}, s:{s:{s:s}}}, s:i}", "filter", "id", "beginsWith", "cart-",
                       "shippingAddress", "country", "eq", "UK", "limit", LIST_PAGE),
         .value = json_pack("{s:o, s:i, s:{s:s}}", "items", items, "count", LIST_PAGE, "cursor",
                            "id", "cart-19")},
    };

    rj_gql_cache_t *cache = rj_gql_cache_new(schema, 1024, NULL);
    printf("GraphQL engine, examples/shop API; best of 3 runs of >= %.1f s each\n\n", seconds);
    printf("| %-10s | %-20s | %12s | %9s | %10s |\n", "query", "step", "ops/s", "us/op",
           "ops (run)");
    printf("|------------|----------------------|--------------|-----------|------------|\n");

    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++) {
        const workload_t *w = &workloads[i];
        json_t *errors = NULL;
        rj_gql_doc_t *doc = rj_gql_parse(w->query, strlen(w->query), NULL, &errors);
        if (doc == NULL)
            die("could not parse the query: %s", rj_json_dumps(errors));
        errors = rj_gql_validate(schema, doc);
        if (errors != NULL)
            die("the query is not valid for the shop's API: %s", rj_json_dumps(errors));
        rj_gql_doc_free(rj_gql_cache_get(cache, w->query, strlen(w->query), NULL));

        bench_t b = {.schema = schema, .cache = cache, .w = w, .doc = doc, .seconds = seconds};
        prepare_complete(&b, true); /* the figures mean nothing if the answer is wrong */

        measure(&b, "parse", step_parse);
        measure(&b, "validate", step_validate);
        measure(&b, "prepare+complete", step_prepare_complete);
        measure(&b, "cache get (hit)", step_cache_get);
        measure(&b, "request, uncached", step_request_uncached);
        measure(&b, "request, cache hit", step_request_cached);
        rj_gql_doc_free(doc);
    }
    printf("\ncache: %llu hits, %llu misses\n", (unsigned long long)rj_gql_cache_hits(cache),
           (unsigned long long)rj_gql_cache_misses(cache));

    for (size_t i = 0; i < sizeof workloads / sizeof workloads[0]; i++) {
        json_decref(workloads[i].variables);
        json_decref(workloads[i].value);
    }
    rj_gql_cache_free(cache);
    rj_gql_schema_free(schema);
    rj_app_free(app);
    free(default_path);
    return 0;
}
