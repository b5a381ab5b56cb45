/*
 * schema.c - `ramjet schema print [--app path]`: prints the GraphQL API that the gateway
 * serves for an application, i.e. rj_app_api_sdl(), the SDL generated from the app's own
 * schema with Booster's names.
 *
 * The application is loaded exactly as a daemon loads it (rj_app_load), so what is printed
 * is what clients see, not a re-derivation; nothing is connected to (no Kafka, PostgreSQL
 * or Redis). The SDL goes to stdout and nothing else does, so the output can be piped into
 * tools (graphql-js's buildSchema in tests/oracle, codegen, schema diffing).
 */
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/app.h"
#include "cli.h"
#include "config/config.h"
#include "core/core.h"
#include "devkey.h"

typedef struct schema_conf {
    char *app; /* application library; NULL: ../lib/libshop.so next to this binary */
} schema_conf_t;

static const rj_conf_opt_t schema_opts[] = {
    {"app", RJ_CONF_STR, NULL, offsetof(schema_conf_t, app),
     "application library (default: ../lib/libshop.so next to this binary)"},
};
#define SCHEMA_NOPTS (sizeof schema_opts / sizeof schema_opts[0])

static const char schema_summary[] =
    "ramjet schema print: prints the GraphQL API (SDL) the gateway serves for an application.";

/* The default application: ../lib/libshop.so next to this binary, as `ramjet dev` uses. */
static char *
default_app_path(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return rj_xstrdup("libshop.so");
    exe[n] = '\0';
    return rj_xasprintf("%s/../lib/libshop.so", dirname(exe));
}

static void
schema_usage(FILE *out)
{
    fprintf(out, "usage: ramjet schema print [--app path]\n\n");
    rj_config_print_help(out, schema_opts, SCHEMA_NOPTS, "ramjet schema print", schema_summary);
}

int
cli_schema_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        schema_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "print") != 0) {
        fprintf(stderr, "ramjet schema: unknown action '%s'\n\n", argv[1]);
        schema_usage(stderr);
        return 2;
    }

    schema_conf_t conf = {0};
    rj_error_t err = {0};
    /* argv + 1: the option parser skips its argv[0], here "print". */
    if (rj_config_load(schema_opts, SCHEMA_NOPTS, &conf, argc - 1, argv + 1, "ramjet schema print",
                       schema_summary, &err) != RJ_OK) {
        fprintf(stderr, "ramjet schema print: %s\n", err.msg);
        rj_config_deinit(schema_opts, SCHEMA_NOPTS, &conf);
        return 2;
    }

    char *path = conf.app != NULL && *conf.app != '\0' ? rj_xstrdup(conf.app) : default_app_path();
    int rc = 0;
    dev_key_supply(path); /* printing the API verifies no token: the dev key will do */
    rj_app_t *app = rj_app_load(path, &err);
    if (app == NULL) {
        fprintf(stderr, "ramjet schema print: could not load application %s: %s\n", path, err.msg);
        rc = 1;
    } else {
        const char *sdl = rj_app_api_sdl(app);
        size_t len = strlen(sdl);
        fwrite(sdl, 1, len, stdout);
        if (len > 0 && sdl[len - 1] != '\n')
            fputc('\n', stdout);
        if (fflush(stdout) != 0)
            rc = 1;
        rj_app_free(app);
    }
    free(path);
    rj_config_deinit(schema_opts, SCHEMA_NOPTS, &conf);
    return rc;
}
