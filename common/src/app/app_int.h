/*
 * app/app_int.h - private to common/src/app: the application struct and the steps
 * of loading that live in separate files.
 *
 * An rj_app_t goes through two phases. While the application's RJ_APP_DEFINE runs,
 * the public calls of ramjet.h only *record* what they are given (bindings by name,
 * the schema source, verifiers); nothing can be checked yet, because the SDL may be
 * set last. Then the loader parses the SDL into the model and resolves every
 * recorded binding against it, reporting the first one that names nothing. After
 * that the struct is never written again.
 */
#ifndef RJ_APP_INT_H
#define RJ_APP_INT_H

#include "app/app.h"
#include "graphql/graphql.h"

/* ---- recorded bindings (declaration phase) ---- */

typedef struct rj__app_cmd_binding {
    char *command;     /* command name as given */
    rj_command_fn fn;  /* the handler */
} rj__app_cmd_binding_t;

typedef struct rj__app_hook_binding {
    char *command;          /* command name as given */
    rj_command_hook_fn fn;  /* the before hook */
} rj__app_hook_binding_t;

/* One rj_app_on_query, rj_app_before_query or rj_app_authorize_query call: exactly one
 * of the three functions is set. Kept in call order, so hooks keep theirs. */
typedef struct rj__app_query_binding {
    char *query;                 /* query name as given */
    rj_query_fn handler;         /* rj_app_on_query */
    rj_query_hook_fn hook;       /* rj_app_before_query */
    rj_authorizer_fn authorizer; /* rj_app_authorize_query */
} rj__app_query_binding_t;

typedef struct rj__app_reduce_binding {
    char *entity;      /* entity name as given */
    char *event;       /* event name as given */
    rj_reducer_fn fn;  /* the reducer */
} rj__app_reduce_binding_t;

typedef struct rj__app_project_binding {
    char *read_model;     /* read model name as given */
    char *entity;         /* entity name as given */
    char *join_field;     /* entity field holding the read model id; NULL with join_query */
    rj_join_query_fn join_query; /* read-model-query join key, or NULL for a join field */
    rj_projection_fn fn;  /* the projection */
} rj__app_project_binding_t;

typedef struct rj__app_calc_binding {
    char *read_model;    /* read model name as given */
    char *field;         /* field name as given */
    rj_calculated_fn fn; /* the function */
} rj__app_calc_binding_t;

/* What an authorizer binding authorizes. */
typedef enum rj__app_authorizer_kind {
    RJ__APP_AUTHZ_COMMAND,     /* @command(authorize: CUSTOM) */
    RJ__APP_AUTHZ_READ_MODEL,  /* @readModel(authorize: CUSTOM) */
    RJ__APP_AUTHZ_READ_EVENTS, /* @entity(authorizeReadEvents: CUSTOM) */
} rj__app_authorizer_kind_t;

typedef struct rj__app_authorizer_binding {
    char *name;                     /* command, read model or entity name as given */
    rj__app_authorizer_kind_t kind; /* what it names */
    rj_authorizer_fn fn;            /* the authorizer */
} rj__app_authorizer_binding_t;

typedef struct rj__app_rm_hook_binding {
    char *read_model;         /* read model name as given */
    rj_read_model_hook_fn fn; /* the before hook */
} rj__app_rm_hook_binding_t;

struct rj_app {
    /* where it came from */
    void *dl;             /* dlopen() handle, or NULL for an app built in-process */
    char *lib_path;       /* the library path as given to rj_app_load */
    char *lib_dir;        /* its directory: relative schema files resolve against it */

    /* declaration phase */
    char *name;        /* rj_app_name(), or derived from the library file name */
    char *schema_file; /* rj_app_schema_file() as given, or NULL */
    char *sdl;         /* the SDL text (file contents or rj_app_schema_string) */
    char *decl_error;  /* first misuse of the declaration API, reported by the loader */
    rj__app_cmd_binding_t *cmd_bindings;               /* rj_app_on_command calls */
    size_t n_cmd_bindings;                             /* number of them */
    rj__app_hook_binding_t *hook_bindings;             /* rj_app_before_command calls, in order */
    size_t n_hook_bindings;                            /* number of them */
    rj__app_query_binding_t *query_bindings;           /* rj_app_*_query calls, in order */
    size_t n_query_bindings;                           /* number of them */
    rj__app_reduce_binding_t *reduce_bindings;         /* rj_app_on_reduce calls */
    size_t n_reduce_bindings;                          /* number of them */
    rj__app_project_binding_t *project_bindings;       /* rj_app_on_project calls */
    size_t n_project_bindings;                         /* number of them */
    rj_app_verifier_t *verifiers;                      /* token verifiers */
    size_t n_verifiers;                                /* number of them */
    rj__app_authorizer_binding_t *authorizer_bindings; /* rj_app_authorize_* calls */
    size_t n_authorizer_bindings;                      /* number of them */
    rj__app_rm_hook_binding_t *rm_hook_bindings; /* rj_app_before_read_model calls, in order */
    size_t n_rm_hook_bindings;                   /* number of them */
    rj__app_calc_binding_t *calc_bindings;       /* rj_app_calculated_field calls */
    size_t n_calc_bindings;                      /* number of them */
    rj_auth_t *auth;                             /* the verifiers, built at the end of loading */
    rj_logger_fn logger;                         /* rj_app_logger, or NULL */
    rj_app_log_level_t log_level;                /* rj_app_log_level, when log_level_set */
    bool log_level_set;                          /* rj_app_log_level was called */
    char *log_prefix;                            /* rj_app_log_prefix, or NULL */
    rj_error_handler_t error_handler;            /* rj_app_error_handler (all NULL: none) */
    bool has_error_handler;                      /* rj_app_error_handler was called */

    /* the model (built by rj__app_model_build; arrays never reallocated afterwards,
     * so pointers between them stay valid) */
    char **roles;                  /* declared roles */
    size_t n_roles;                /* number of roles */
    rj_app_type_t *types;          /* value types */
    size_t n_types;                /* number of value types */
    rj_app_command_t *commands;    /* commands */
    size_t n_commands;             /* number of commands */
    rj_app_query_t *queries;       /* query handlers */
    size_t n_queries;              /* number of query handlers */
    rj_app_event_t *events;        /* events */
    size_t n_events;               /* number of events */
    rj_app_entity_t *entities;     /* entities */
    size_t n_entities;             /* number of entities */
    rj_app_read_model_t *read_models; /* read models */
    size_t n_read_models;          /* number of read models */
    char **enums_sdl;              /* user enums and scalars, printed, copied to the API */
    size_t n_enums_sdl;            /* number of them */
    char **scalars;                /* names of user-declared scalars and enums */
    size_t n_scalars;              /* number of them */

    /* the generated API */
    char *api_sdl;                 /* rj_app_api_sdl() */
    char *subgraph_sdl;            /* rj_app_subgraph_sdl() */
    char *served_sdl;              /* rj_app_served_sdl() */
    rj_gql_schema_t *api_schema;   /* rj_app_api_schema() */
};

/** A new, empty app in the declaration phase. */
rj_app_t *rj__app_new(void);

/** Records the first declaration-API misuse (later ones are dropped). */
void rj__app_decl_error(rj_app_t *app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Parses app->sdl and builds the model (roles, types, commands, events, entities, read models). */
rj_status_t rj__app_model_build(rj_app_t *app, rj_error_t *err);

/** Frees everything rj__app_model_build allocated (a partly built model too). */
void rj__app_model_free(rj_app_t *app);

/** Resolves the recorded bindings against the model and checks completeness. */
rj_status_t rj__app_bind(rj_app_t *app, rj_error_t *err);

/** Generates app->api_sdl and parses it into app->api_schema. */
rj_status_t rj__app_api_build(rj_app_t *app, rj_error_t *err);

/**
 * Finishes an app whose declaration phase is over: reads the schema file when one was
 * named, builds the model, binds, generates the API. Used by rj_app_load and by tests
 * that declare an app in-process.
 */
rj_status_t rj__app_finish(rj_app_t *app, rj_error_t *err);

/**
 * Makes the application's logging declarations (logger, level, prefix) the process's:
 * rj_app_load does this for the app a daemon runs. A level set by RAMJET_LOG_LEVEL wins.
 * Call before other threads log.
 */
void rj__app_apply_logging(const rj_app_t *app);

/** Puts stderr back if @p app's logger is installed: its library is about to be unloaded. */
void rj__app_release_logging(const rj_app_t *app);

/* ---- the global error handler (errors.c) ----
 * Each runs the application's global error handler on a failure that run.c is about to
 * report: the specific callback, then on_error. @p err holds the error in and out. They
 * return RJ_OK when the handler swallowed it (@p err is then cleared), else the status
 * to report (err->status). With no handler installed they return err->status at once,
 * building no context. Any thread. */

/** A command's (@p query false) or a query's before hook or handler failed. */
rj_status_t rj__app_handler_error(const rj_app_t *app, bool query, const char *name,
                                  const json_t *input, const json_t *user,
                                  const char *request_id, rj_error_t *err);

/** A reducer failed (@p event_error false), or no reducer folds the event (true). */
rj_status_t rj__app_reducer_error(const rj_app_t *app, bool event_error, const char *entity,
                                  const char *event_type, const json_t *event,
                                  const json_t *snapshot, rj_error_t *err);

/** A projection (@p id and @p current may be NULL) or its join key failed. */
rj_status_t rj__app_projection_error(const rj_app_projection_t *proj, const json_t *entity,
                                     const char *id, const json_t *current, rj_error_t *err);

#endif
