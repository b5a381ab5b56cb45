/*
 * projector/replay.h - `ramjet-projector --replay <ReadModel>` (what `ramjet replay` runs):
 * rebuilds one read model from the event store into a fresh table and swaps it in, while
 * the live projectors keep running. docs/architecture.md ("Rebuilding a read model") has
 * the design; replay.c the steps.
 */
#ifndef PROJ_REPLAY_H
#define PROJ_REPLAY_H

#include <stddef.h>

#include "app/app.h"

/** What a replay needs; every pointer borrowed for the call. */
typedef struct proj_replay_opts {
    const char *read_model;    /* the read model to rebuild, as declared */
    const char *app_name;      /* schema, topic and channel prefix; lock key */
    const char *pg_url;        /* PostgreSQL */
    const char *kafka_brokers; /* for the <app>.readmodels envelopes of changed rows */
    const char *redis_url;     /* for the notifications of changed rows */
    size_t query_max_matches;  /* the projector's --query-max-matches */
    int wait_ms;               /* how long to wait for the event store to catch up */
} proj_replay_opts_t;

/**
 * Rebuilds @p o->read_model and swaps it in; prints what it did on stdout, or why not on
 * stderr.
 *
 * @param app  the loaded application; borrowed
 * @return the process exit status: 0 done; 1 failed (PostgreSQL, the event store behind,
 *         a stop requested), nothing changed; 2 the read model is not declared
 *
 * Runs on the main thread; blocks until done. SIGTERM (rj_proc_stopping) abandons it.
 */
int proj_replay_main(const rj_app_t *app, const proj_replay_opts_t *o);

#endif
