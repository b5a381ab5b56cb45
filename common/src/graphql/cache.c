/*
 * graphql/cache.c - a bounded LRU of parsed and validated documents keyed by query text.
 *
 * Clients send the same few queries over and over (Apollo and GraphiQL do), so the gateway
 * and the pusher look documents up here and skip parsing and validation on a hit. Entries
 * hold a document reference; a document handed out stays valid after eviction because the
 * caller holds its own reference.
 *
 * Deliberately not done: caching failures (an invalid query costs a parse each time, which
 * keeps garbage from evicting good entries), and locking (one cache per event loop).
 */
#include <stdlib.h>
#include <string.h>

#include "graphql/gql_int.h"

typedef struct entry {
    char *query;              /* the query text (owned), the key */
    size_t len;               /* its length */
    uint64_t hash;            /* rj_hash of the text */
    rj_gql_doc_t *doc;        /* the validated document (one reference) */
    struct entry *chain;      /* next entry in the same bucket */
    struct entry *prev, *next; /* LRU list: head is the most recently used */
} entry_t;

struct rj_gql_cache {
    rj_gql_schema_t *schema;  /* referenced; what documents are validated against */
    rj_gql_limits_t limits;   /* parser limits */
    size_t capacity;          /* maximum number of entries */
    size_t n;                 /* entries held */
    entry_t **buckets;        /* hash buckets, nbuckets of them */
    size_t nbuckets;          /* a power of two >= 2 * capacity */
    entry_t *head, *tail;     /* most and least recently used */
    uint64_t hits, misses;    /* counters for /metrics */
};

rj_gql_cache_t *
rj_gql_cache_new(rj_gql_schema_t *s, size_t capacity, const rj_gql_limits_t *lim)
{
    rj_gql_cache_t *c = rj_xcalloc(1, sizeof(*c));
    c->schema = rj_gql_schema_ref(s);
    c->limits = lim != NULL ? *lim : rj_gql_default_limits;
    c->capacity = capacity > 0 ? capacity : 1;
    c->nbuckets = 16;
    while (c->nbuckets < c->capacity * 2)
        c->nbuckets *= 2;
    c->buckets = rj_xcalloc(c->nbuckets, sizeof(*c->buckets));
    return c;
}

static void
lru_unlink(rj_gql_cache_t *c, entry_t *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void
lru_push_front(rj_gql_cache_t *c, entry_t *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head != NULL)
        c->head->prev = e;
    c->head = e;
    if (c->tail == NULL)
        c->tail = e;
}

static void
entry_free(entry_t *e)
{
    rj_gql_doc_free(e->doc);
    free(e->query);
    free(e);
}

static void
evict(rj_gql_cache_t *c, entry_t *e)
{
    entry_t **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(c, e);
    c->n--;
    entry_free(e);
}

void
rj_gql_cache_free(rj_gql_cache_t *c)
{
    if (c == NULL)
        return;
    entry_t *e = c->head;
    while (e != NULL) {
        entry_t *next = e->next;
        entry_free(e);
        e = next;
    }
    free(c->buckets);
    rj_gql_schema_free(c->schema);
    free(c);
}

/* The error of a document over max_fields or max_aliases, or NULL. */
static json_t *
check_counts(const rj_gql_limits_t *lim, const rj_gql_doc_t *doc)
{
    if (lim->max_fields == 0 && lim->max_aliases == 0)
        return NULL;
    size_t selections = 0, aliases = 0;
    rj_gql_document_count(doc, &selections, &aliases);
    json_t *e = NULL;
    if (lim->max_aliases > 0 && aliases > lim->max_aliases)
        e = rj__gql_error_new(NULL,
                              "The document has %s%zu aliased fields (fragments expanded), more "
                              "than the limit of %zu.",
                              aliases == SIZE_MAX ? "more than " : "",
                              aliases == SIZE_MAX ? SIZE_MAX - 1 : aliases, lim->max_aliases);
    else if (lim->max_fields > 0 && selections > lim->max_fields)
        e = rj__gql_error_new(NULL,
                              "The document selects %s%zu fields and fragment spreads (fragments "
                              "expanded), more than the limit of %zu.",
                              selections == SIZE_MAX ? "more than " : "",
                              selections == SIZE_MAX ? SIZE_MAX - 1 : selections, lim->max_fields);
    if (e != NULL) {
        rj_error_t err = {.status = RJ_ETOOBIG};
        json_object_set_new(e, "extensions", json_pack("{s:s}", "code", rj_error_code(&err)));
    }
    return e;
}

rj_gql_doc_t *
rj_gql_cache_check(const rj_gql_cache_t *c, const char *query, size_t len, json_t **errors)
{
    if (errors != NULL)
        *errors = NULL;
    json_t *err = NULL;
    rj_gql_doc_t *doc = rj_gql_parse(query, len, &c->limits, &err);
    if (doc != NULL && (err = check_counts(&c->limits, doc)) != NULL) {
        rj_gql_doc_free(doc);
        doc = NULL;
    }
    if (doc == NULL) {
        if (errors != NULL) {
            *errors = json_array();
            json_array_append_new(*errors, err);
        } else {
            json_decref(err);
        }
        return NULL;
    }
    json_t *verrors = rj_gql_validate(c->schema, doc);
    if (verrors != NULL) {
        rj_gql_doc_free(doc);
        if (errors != NULL)
            *errors = verrors;
        else
            json_decref(verrors);
        return NULL;
    }
    return doc;
}

rj_gql_doc_t *
rj_gql_cache_get(rj_gql_cache_t *c, const char *query, size_t len, json_t **errors)
{
    if (errors != NULL)
        *errors = NULL;
    uint64_t h = rj_hash(query, len);
    for (entry_t *e = c->buckets[h & (c->nbuckets - 1)]; e != NULL; e = e->chain) {
        if (e->hash == h && e->len == len && memcmp(e->query, query, len) == 0) {
            c->hits++;
            lru_unlink(c, e);
            lru_push_front(c, e);
            return rj_gql_doc_ref(e->doc);
        }
    }
    c->misses++;
    rj_gql_doc_t *doc = rj_gql_cache_check(c, query, len, errors);
    if (doc == NULL)
        return NULL;
    if (c->n == c->capacity)
        evict(c, c->tail);
    entry_t *e = rj_xcalloc(1, sizeof(*e));
    e->query = rj_xmalloc(len + 1);
    memcpy(e->query, query, len);
    e->query[len] = '\0';
    e->len = len;
    e->hash = h;
    e->doc = rj_gql_doc_ref(doc);
    e->chain = c->buckets[h & (c->nbuckets - 1)];
    c->buckets[h & (c->nbuckets - 1)] = e;
    lru_push_front(c, e);
    c->n++;
    return doc;
}

size_t
rj_gql_cache_size(const rj_gql_cache_t *c)
{
    return c->n;
}

uint64_t
rj_gql_cache_hits(const rj_gql_cache_t *c)
{
    return c->hits;
}

uint64_t
rj_gql_cache_misses(const rj_gql_cache_t *c)
{
    return c->misses;
}
