/*
 * replay.c - `ramjet replay <ReadModel> [options]`: rebuilds one read model from the event
 * store and swaps it in, with no moment where queries see it empty (docs/running.md;
 * docs/architecture.md, "Rebuilding a read model").
 *
 * The work is the projector's: projections must run exactly as the live projector runs
 * them (its row cache, join keys and version rules) and must be excluded from it while the
 * table is swapped, so the code lives with it (services/projector/replay.c) and this
 * command execs `ramjet-projector --replay <ReadModel>` from the same directory as this
 * binary, passing the remaining options through. Configuration is therefore the
 * projector's own table: RAMJET_PG_URL, RAMJET_APP, RAMJET_APP_NAME, RAMJET_KAFKA_BROKERS,
 * RAMJET_REDIS_URL or the matching flags (`ramjet-projector --help`). Without RAMJET_APP
 * or --app, the application is ../lib/libshop.so next to this binary, as for
 * `ramjet schema print`.
 *
 * Deliberately not here: any of the rebuild itself; linking the projector's sources into
 * this tool would make a second copy of the daemon to keep in step.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "core/core.h"

static void
replay_usage(FILE *out)
{
    fprintf(out,
            "usage: ramjet replay <ReadModel> [projector options]\n\n"
            "Rebuilds <ReadModel> from the event store into a fresh table and swaps it in,\n"
            "while the projectors keep running; queries never see it empty. Prints what it\n"
            "did; exits 0 when the new table is in place, 1 when nothing was changed (the\n"
            "error says why), 2 for an unknown read model or bad options.\n\n"
            "Configuration is ramjet-projector's (see `ramjet-projector --help`), e.g.\n"
            "  RAMJET_PG_URL / --pg-url            PostgreSQL\n"
            "  RAMJET_APP / --app                  the application library\n"
            "  RAMJET_APP_NAME / --app-name        schema and topic prefix\n"
            "  RAMJET_KAFKA_BROKERS, RAMJET_REDIS_URL   where changed rows are announced\n"
            "  RAMJET_REPLAY_WAIT_MS / --replay-wait-ms how long to wait for the event store\n");
}

static bool
has_app_option(int argc, char **argv)
{
    const char *env = getenv("RAMJET_APP");
    if (env != NULL && *env != '\0')
        return true;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--app") == 0 || strncmp(argv[i], "--app=", 6) == 0)
            return true;
    return false;
}

int
cli_replay_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        replay_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (argv[1][0] == '-') {
        fprintf(stderr, "ramjet replay: the read model comes first, got '%s'\n\n", argv[1]);
        replay_usage(stderr);
        return 2;
    }

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        fprintf(stderr, "ramjet replay: could not find this binary's directory: %s\n",
                strerror(errno));
        return 1;
    }
    exe[n] = '\0';
    const char *dir = dirname(exe);
    char *projector = rj_xasprintf("%s/ramjet-projector", dir);

    /* ramjet-projector --replay <ReadModel> [--app <default>] <the rest> */
    char **args = rj_xcalloc((size_t)argc + 6, sizeof *args);
    size_t k = 0;
    args[k++] = projector;
    args[k++] = "--replay";
    args[k++] = argv[1];
    char *app = NULL;
    if (!has_app_option(argc, argv)) {
        app = rj_xasprintf("%s/../lib/libshop.so", dir);
        args[k++] = "--app";
        args[k++] = app;
    }
    for (int i = 2; i < argc; i++)
        args[k++] = argv[i];
    args[k] = NULL;
    fflush(NULL);
    execv(projector, args);
    fprintf(stderr, "ramjet replay: could not run %s: %s\n", projector, strerror(errno));
    free(app);
    free(args);
    free(projector);
    return 1;
}
