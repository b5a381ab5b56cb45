/*
 * main.c - the `ramjet` command-line tool: a table of subcommands.
 *
 *   ramjet dev [options]    run the whole suite on this machine (dev.c)
 *   ramjet schema print     print the application's generated GraphQL API (schema.c)
 *   ramjet replay <RM>      rebuild a read model from the event store and swap it in (replay.c)
 *   ramjet new <dir>        scaffold an application, or add a piece to one (new.c)
 *
 * Each subcommand parses its own options from its own config table
 * (config/config.h), so `ramjet <command> --help` documents it; this file only
 * picks the subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "core/core.h"
#include "log/log.h"

/* One subcommand: its name on the command line, entry point and one-line summary. */
typedef struct cli_command {
    const char *name;                 /* first argument that selects it */
    int (*main_fn)(int argc, char **argv); /* called with argv[0] = name */
    const char *summary;              /* one line for `ramjet --help` */
} cli_command_t;

static const cli_command_t cli_commands[] = {
    {"dev", cli_dev_main,
     "run PostgreSQL, Redis, a dev Kafka broker and all daemons under one supervisor"},
    {"schema", cli_schema_main, "print the GraphQL API (SDL) generated for an application"},
    {"replay", cli_replay_main,
     "rebuild a read model from the event store and swap it in (no empty window)"},
    {"new", cli_new_main,
     "scaffold an application (new <dir>) or add a command, event, entity or read model"},
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: ramjet <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
        fprintf(out, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(out, "\n`ramjet <command> --help` lists a command's options.\n");
}

int
main(int argc, char **argv)
{
    rj_core_init();
    rj_log_init("ramjet");
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
        if (strcmp(argv[1], cli_commands[i].name) == 0)
            return cli_commands[i].main_fn(argc - 1, argv + 1);
    fprintf(stderr, "ramjet: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
