/*
 * cli.h - the subcommands of the `ramjet` command-line tool.
 *
 * Each subcommand is one entry point with main()'s signature, called with
 * argv[0] set to the subcommand's name; main.c dispatches through a table of
 * them, so adding one (`schema`, `replay`) is a new file plus a table row.
 */
#ifndef RJ_TOOLS_CLI_H
#define RJ_TOOLS_CLI_H

/**
 * `ramjet dev`: runs PostgreSQL, Redis, the dev Kafka broker and the six
 * daemons under one supervisor until SIGINT/SIGTERM (dev.c).
 *
 * @param argc  number of arguments, including argv[0] ("dev")
 * @param argv  the subcommand's arguments; borrowed
 * @return the process exit status: 0 when everything stopped cleanly
 */
int cli_dev_main(int argc, char **argv);

/**
 * `ramjet schema print [--app path]`: loads the application and prints the GraphQL SDL
 * of the API the gateway serves (rj_app_api_sdl) on stdout (schema.c).
 *
 * @param argc  number of arguments, including argv[0] ("schema")
 * @param argv  the subcommand's arguments; borrowed
 * @return 0 on success, 1 when the application cannot be loaded, 2 on a usage error
 */
int cli_schema_main(int argc, char **argv);

/**
 * `ramjet replay <ReadModel> [projector options]`: rebuilds a read model from the event
 * store and swaps it in, by exec'ing `ramjet-projector --replay <ReadModel>` (replay.c).
 *
 * @param argc  number of arguments, including argv[0] ("replay")
 * @param argv  the subcommand's arguments; borrowed
 * @return only on failure to start the projector (1) or a usage error (2); otherwise the
 *         process becomes the projector, whose exit status is the command's
 */
int cli_replay_main(int argc, char **argv);

/**
 * `ramjet new <dir>` scaffolds an application (SDL, C handlers, a CMakeLists using the
 * installed Ramjet package, a test); `ramjet new command|event|entity|read-model NAME`
 * adds a piece to one (new.c).
 *
 * @param argc  number of arguments, including argv[0] ("new")
 * @param argv  the subcommand's arguments; borrowed
 * @return 0 on success, 1 when a file cannot be written or the piece does not fit the
 *         application, 2 on a usage error
 */
int cli_new_main(int argc, char **argv);

#endif
