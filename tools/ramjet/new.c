/*
 * new.c - `ramjet new`: scaffolds an application and adds pieces to it, as Booster's
 * `boost new:*` does.
 *
 *   ramjet new <dir> [--name NAME]                      an application, with a sample
 *   ramjet new event NAME --entity E --key K [--fields f:Type ...]
 *   ramjet new entity NAME [--fields ...] [--reduces Event ...]
 *   ramjet new command NAME [--fields ...] [--registers Event]
 *   ramjet new read-model NAME [--fields ...] [--projects Entity[:joinField]]
 *
 * A piece is appended to the application's one *.graphql file and, unless it is an
 * event, written as src/<piece>.c and listed in src/pieces.h (newtmpl.c explains the
 * layout); --dir names the application directory (default: the current one). Nothing
 * existing is overwritten and nothing is written until the arguments check out, so a
 * refused command leaves the application as it was.
 *
 * What it deliberately does not do: parse the schema (only the key of an event an entity
 * reduces is looked up, with a pattern that matches what `ramjet new event` writes), or
 * take options from RAMJET_* variables as the daemons' config tables do: a code
 * generator's inputs belong on its command line.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "core/core.h"
#include "newtmpl.h"

/* The command line of one `ramjet new`; every string is borrowed from argv. */
typedef struct new_args {
    const char *dir;       /* --dir: the application's directory ("." by default) */
    const char *name;      /* --name: the application's name (default: from <dir>) */
    const char *entity;    /* --entity: the entity an event belongs to */
    const char *key;       /* --key: the event field holding the entity id */
    const char *registers; /* --registers: the event a command registers */
    const char *projects;  /* --projects: Entity[:joinField] a read model is projected from */
    const char **fields;   /* --fields: name:Type, ... */
    size_t nfields;        /* entries of fields */
    const char **reduces;  /* --reduces: events an entity folds */
    size_t nreduces;       /* entries of reduces */
} new_args_t;

/* An application directory a piece is added to. */
typedef struct new_app {
    char *dir;    /* the directory; owned */
    char *schema; /* its one *.graphql file; owned */
    char *sdl;    /* that file's text; owned */
} new_app_t;

static void
new_usage(FILE *out)
{
    fprintf(out, "usage: ramjet new <dir> [--name NAME]\n"
                 "       ramjet new event NAME --entity ENTITY --key FIELD [--fields f:Type ...]\n"
                 "       ramjet new entity NAME [--fields f:Type ...] [--reduces EVENT ...]\n"
                 "       ramjet new command NAME [--fields f:Type ...] [--registers EVENT]\n"
                 "       ramjet new read-model NAME [--fields f:Type ...] [--projects "
                 "ENTITY[:FIELD]]\n"
                 "\n"
                 "The first form scaffolds an application in <dir> (SDL, C handlers, a CMakeLists\n"
                 "using find_package(Ramjet), a test) with a sample: the Note entity, its\n"
                 "NoteWritten event, the WriteNote command and NoteReadModel. The others add a\n"
                 "piece to the application in --dir (default: the current directory). Types are\n"
                 "GraphQL (String!, Float, [ID!]!); a field without one is a String.\n");
}

/* True when @p s is a GraphQL name that is also usable in C: [A-Za-z_][A-Za-z0-9_]*. */
static bool
is_name(const char *s)
{
    if (s == NULL || !(isalpha((unsigned char)*s) || *s == '_'))
        return false;
    for (; *s != '\0'; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return false;
    return true;
}

/* "NoteReadModel" -> "note_read_model": the piece's file and function names. */
static char *
snake_case(const char *name)
{
    char *out = rj_xmalloc(2 * strlen(name) + 1), *o = out;
    for (const char *p = name; *p != '\0'; p++) {
        if (isupper((unsigned char)*p) && p != name && !isupper((unsigned char)p[-1]))
            *o++ = '_';
        *o++ = (char)tolower((unsigned char)*p);
    }
    *o = '\0';
    return out;
}

/* ---- the command line ---- */

/* Collects the values after a multi-valued option, up to the next --option. */
static int
take_list(int argc, char **argv, int i, const char **list, size_t *n)
{
    while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0)
        list[(*n)++] = argv[++i];
    return i;
}

/* Parses the options in argv[0..argc); returns false (with a message) on a bad one. */
static bool
args_parse(int argc, char **argv, new_args_t *a)
{
    static const struct {
        const char *flag;
        size_t offset;
    } singles[] = {
        {"--dir", offsetof(new_args_t, dir)},
        {"--name", offsetof(new_args_t, name)},
        {"--entity", offsetof(new_args_t, entity)},
        {"--key", offsetof(new_args_t, key)},
        {"--registers", offsetof(new_args_t, registers)},
        {"--projects", offsetof(new_args_t, projects)},
    };
    a->fields = rj_xcalloc((size_t)argc + 1, sizeof *a->fields);
    a->reduces = rj_xcalloc((size_t)argc + 1, sizeof *a->reduces);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--fields") == 0) {
            i = take_list(argc, argv, i, a->fields, &a->nfields);
            continue;
        }
        if (strcmp(argv[i], "--reduces") == 0) {
            i = take_list(argc, argv, i, a->reduces, &a->nreduces);
            continue;
        }
        size_t k = 0;
        while (k < sizeof singles / sizeof singles[0] && strcmp(argv[i], singles[k].flag) != 0)
            k++;
        if (k == sizeof singles / sizeof singles[0] || i + 1 == argc) {
            fprintf(stderr, "ramjet new: %s '%s'\n",
                    k == sizeof singles / sizeof singles[0] ? "unknown argument" : "no value for",
                    argv[i]);
            return false;
        }
        *(const char **)((char *)a + singles[k].offset) = argv[++i];
    }
    return true;
}

static void
args_free(new_args_t *a)
{
    free(a->fields);
    free(a->reduces);
}

/* ---- files ---- */

/* Writes a new file (never over an existing one) from a template; false on failure. */
static bool
write_new(const char *path, const char *tmpl, const char *const *vars)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        fprintf(stderr, "ramjet new: could not create %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    newtmpl_render(f, tmpl, vars);
    if (fclose(f) != 0) {
        fprintf(stderr, "ramjet new: could not write %s: %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

/* Appends a rendered template to an existing file; false on failure. */
static bool
append(const char *path, const char *tmpl, const char *const *vars)
{
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        fprintf(stderr, "ramjet new: could not open %s: %s\n", path, strerror(errno));
        return false;
    }
    newtmpl_render(f, tmpl, vars);
    if (fclose(f) != 0) {
        fprintf(stderr, "ramjet new: could not write %s: %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

/* The whole of a file, NUL-terminated, or NULL (errno set). */
static char *
read_all(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, m);
    fclose(m);
    fclose(f);
    return buf;
}

/* ---- the application a piece goes into ---- */

/* Finds the one *.graphql in @p dir; NULL (with a message) when there is not exactly one. */
static char *
find_schema(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "ramjet new: could not open %s: %s\n", dir, strerror(errno));
        return NULL;
    }
    char *found = NULL;
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len > 8 && strcmp(e->d_name + len - 8, ".graphql") == 0 && count++ == 0)
            found = rj_xasprintf("%s/%s", dir, e->d_name);
    }
    closedir(d);
    if (count != 1) {
        fprintf(stderr,
                "ramjet new: %s holds %d *.graphql files, not one: is it an app "
                "`ramjet new <dir>` made? (--dir names another)\n",
                dir, count);
        free(found);
        return NULL;
    }
    return found;
}

static bool
app_open(new_app_t *app, const char *dir)
{
    *app = (new_app_t){.dir = rj_xstrdup(dir)};
    char *pieces = rj_xasprintf("%s/src/pieces.h", dir);
    bool ok = access(pieces, W_OK) == 0;
    if (!ok)
        fprintf(stderr, "ramjet new: no %s: is %s an app `ramjet new <dir>` made?\n", pieces, dir);
    free(pieces);
    if (ok && (app->schema = find_schema(dir)) != NULL)
        app->sdl = read_all(app->schema);
    return ok && app->sdl != NULL;
}

static void
app_close(new_app_t *app)
{
    free(app->dir);
    free(app->schema);
    free(app->sdl);
}

/*
 * Matches the POSIX extended regex @p pattern against the schema and copies sub-match 1
 * into a new string; NULL when nothing matches. The callers build patterns around names
 * is_name() accepted, so a name cannot carry regex syntax.
 */
static char *
sdl_match(const new_app_t *app, const char *pattern)
{
    regex_t re;
    regmatch_t m[2];
    char *out = NULL;
    if (regcomp(&re, pattern, REG_EXTENDED) == 0) {
        if (regexec(&re, app->sdl, 2, m, 0) == 0 && m[1].rm_so >= 0)
            out = rj_xstrndup(app->sdl + m[1].rm_so, (size_t)(m[1].rm_eo - m[1].rm_so));
        regfree(&re);
    }
    return out;
}

static bool
sdl_declares(const new_app_t *app, const char *name)
{
    char *pattern = rj_xasprintf(
        "(^|[^A-Za-z0-9_])(type|input|enum|scalar)[[:space:]]+%s([^A-Za-z0-9_]|$)", name);
    char *hit = sdl_match(app, pattern);
    bool found = hit != NULL;
    free(hit);
    free(pattern);
    return found;
}

/* The `key:` of `type <event> @event(...)`, or NULL. */
static char *
sdl_event_key(const new_app_t *app, const char *event)
{
    char *pattern = rj_xasprintf(
        "type[[:space:]]+%s[[:space:]]+@event\\([^)]*key:[[:space:]]*\"([^\"]+)\"", event);
    char *key = sdl_match(app, pattern);
    free(pattern);
    return key;
}

/* ---- pieces ---- */

/* "  name: Type\n" per --fields entry (String when no type), skipping @p skip; NULL if bad. */
static char *
fields_sdl(const new_args_t *a, const char *skip)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    bool ok = true;
    for (size_t i = 0; i < a->nfields && ok; i++) {
        const char *colon = strchr(a->fields[i], ':');
        char *name = colon != NULL ? rj_xstrndup(a->fields[i], (size_t)(colon - a->fields[i]))
                                   : rj_xstrdup(a->fields[i]);
        const char *type = colon != NULL ? colon + 1 : "String";
        ok = is_name(name) && *type != '\0' &&
             strspn(type, "[]!_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "abcdefghijklmnopqrstuvwxyz0123456789") == strlen(type);
        if (!ok)
            fprintf(stderr, "ramjet new: bad field '%s' (want name:Type)\n", a->fields[i]);
        else if (skip == NULL || strcmp(name, skip) != 0)
            fprintf(m, "  %s: %s\n", name, type);
        free(name);
    }
    fclose(m);
    if (!ok) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Checks a new piece's name against the schema; false (with a message) if it cannot be added. */
static bool
piece_check(const new_app_t *app, const char *kind, const char *name)
{
    if (!is_name(name)) {
        fprintf(stderr, "ramjet new %s: '%s' is not a GraphQL name\n", kind, name);
        return false;
    }
    if (sdl_declares(app, name)) {
        fprintf(stderr, "ramjet new %s: %s already declares %s\n", kind, app->schema, name);
        return false;
    }
    return true;
}

/* Writes src/<file>.c and lists the piece in src/pieces.h. */
static bool
piece_write(const new_app_t *app, const char *file, const char *tmpl, const char *const *vars)
{
    char *path = rj_xasprintf("%s/src/%s.c", app->dir, file);
    char *pieces = rj_xasprintf("%s/src/pieces.h", app->dir);
    const char *const line_vars[] = {"FILE", file, NULL};
    bool ok = write_new(path, tmpl, vars) && append(pieces, "PIECE(@FILE@)\n", line_vars);
    if (ok)
        printf("created %s\n", path);
    free(path);
    free(pieces);
    return ok;
}

/* Appends to the schema and keeps the in-memory copy in step, for the next piece. */
static bool
schema_append(new_app_t *app, const char *tmpl, const char *const *vars)
{
    if (!append(app->schema, tmpl, vars))
        return false;
    free(app->sdl);
    app->sdl = read_all(app->schema);
    printf("added to %s\n", app->schema);
    return app->sdl != NULL;
}

static bool
new_event(new_app_t *app, const char *name, const new_args_t *a)
{
    if (!piece_check(app, "event", name))
        return false;
    if (!is_name(a->entity) || !is_name(a->key)) {
        fprintf(stderr, "ramjet new event: --entity and --key must name the entity and the "
                        "field holding its id\n");
        return false;
    }
    char *fields = fields_sdl(a, a->key);
    const char *const vars[] = {"NAME", name,     "ENTITY", a->entity, "KEY",
                                a->key, "FIELDS", fields,   NULL};
    bool ok = fields != NULL && schema_append(app, newtmpl_event_sdl, vars);
    free(fields);
    return ok;
}

/* The reducer functions and their bindings for every --reduces event, or false. */
static bool
entity_reducers(const new_app_t *app, const char *name, const new_args_t *a, FILE *fns, FILE *binds)
{
    for (size_t i = 0; i < a->nreduces; i++) {
        const char *event = a->reduces[i];
        char *key = is_name(event) ? sdl_event_key(app, event) : NULL;
        if (key == NULL) {
            fprintf(stderr,
                    "ramjet new entity: %s declares no event %s with a key (add it "
                    "first: ramjet new event %s --entity %s --key ...)\n",
                    app->schema, event, event, name);
            return false;
        }
        char *snake = snake_case(event);
        char *fn = rj_xasprintf("reduce_%s", snake);
        const char *const vars[] = {"EVENT", event, "EVENT_FN", fn, "KEY", key, NULL};
        newtmpl_render(fns, newtmpl_reducer_c, vars);
        fprintf(binds, "    rj_app_on_reduce(app, \"%s\", \"%s\", %s);\n", name, event, fn);
        free(fn);
        free(snake);
        free(key);
    }
    if (a->nreduces == 0)
        fprintf(binds, "    (void)app; /* rj_app_on_reduce(app, \"%s\", <event>, <fn>); */\n",
                name);
    return true;
}

static bool
new_entity(new_app_t *app, const char *name, const new_args_t *a)
{
    if (!piece_check(app, "entity", name))
        return false;
    char *fields = fields_sdl(a, "id");
    char *fns = NULL, *binds = NULL;
    size_t fns_len = 0, binds_len = 0;
    FILE *f = open_memstream(&fns, &fns_len), *b = open_memstream(&binds, &binds_len);
    bool ok = fields != NULL && entity_reducers(app, name, a, f, b);
    fclose(f);
    fclose(b);
    char *file = snake_case(name);
    const char *const sdl_vars[] = {"NAME", name, "FIELDS", fields, NULL};
    const char *const c_vars[] = {"NAME", name,       "FILE", file, "REDUCERS",
                                  fns,    "BINDINGS", binds,  NULL};
    ok = ok && piece_write(app, file, newtmpl_entity_c, c_vars) &&
         schema_append(app, newtmpl_entity_sdl, sdl_vars);
    free(file);
    free(fns);
    free(binds);
    free(fields);
    return ok;
}

static bool
new_command(new_app_t *app, const char *name, const new_args_t *a)
{
    if (!piece_check(app, "command", name))
        return false;
    if (a->registers != NULL && (!is_name(a->registers) || !sdl_declares(app, a->registers))) {
        fprintf(stderr, "ramjet new command: %s declares no event %s (ramjet new event first)\n",
                app->schema, a->registers);
        return false;
    }
    char *fields = fields_sdl(a, NULL);
    if (fields == NULL)
        return false;
    char *body = *fields != '\0' ? rj_xasprintf(" {\n%s}", fields) : rj_xstrdup("");
    char *file = snake_case(name);
    char *fn = rj_xasprintf("handle_%s", file);
    char *summary = a->registers != NULL ? rj_xasprintf("registers %s", a->registers)
                                         : rj_xstrdup("registers nothing yet");
    char *action = a->registers != NULL
                       ? rj_xasprintf("    return rj_command_register_take(ctx, \"%s\", "
                                      "json_deep_copy(input), err);\n",
                                      a->registers)
                       : rj_xstrdup("    return RJ_OK;\n");
    const char *const sdl_vars[] = {"NAME", name, "BODY", body, NULL};
    const char *const c_vars[] = {"NAME",    name,    "FILE",   file,   "FN", fn,
                                  "SUMMARY", summary, "ACTION", action, NULL};
    bool ok = piece_write(app, file, newtmpl_command_c, c_vars) &&
              schema_append(app, newtmpl_command_sdl, sdl_vars);
    free(action);
    free(summary);
    free(fn);
    free(file);
    free(body);
    free(fields);
    return ok;
}

static bool
new_read_model(new_app_t *app, const char *name, const new_args_t *a)
{
    if (!piece_check(app, "read-model", name))
        return false;
    char *entity = a->projects != NULL ? rj_xstrdup(a->projects) : NULL;
    char *colon = entity != NULL ? strchr(entity, ':') : NULL;
    if (colon != NULL)
        *colon = '\0';
    const char *join = colon != NULL ? colon + 1 : "id";
    if (entity != NULL && (!is_name(entity) || !is_name(join) || !sdl_declares(app, entity))) {
        fprintf(stderr,
                "ramjet new read-model: --projects wants a declared Entity[:joinField], "
                "not '%s'\n",
                a->projects);
        free(entity);
        return false;
    }
    char *fields = fields_sdl(a, "id");
    char *file = snake_case(name);
    char *entity_snake = entity != NULL ? snake_case(entity) : NULL;
    char *fn = rj_xasprintf("project_%s", entity_snake != NULL ? entity_snake : file);
    const char *const sdl_vars[] = {"NAME", name, "FIELDS", fields, NULL};
    const char *const c_vars[] = {"NAME", name, "FILE", file, "ENTITY", entity,
                                  "JOIN", join, "FN",   fn,   NULL};
    bool ok =
        fields != NULL &&
        piece_write(app, file, entity != NULL ? newtmpl_readmodel_c : newtmpl_readmodel_none_c,
                    c_vars) &&
        schema_append(app, newtmpl_readmodel_sdl, sdl_vars);
    free(fn);
    free(entity_snake);
    free(file);
    free(fields);
    free(entity);
    return ok;
}

/* ---- a new application ---- */

/* mkdir -p: creates @p dir and any missing parents; false (errno set) on failure. */
static bool
make_dirs(const char *dir)
{
    char *path = rj_xstrdup(dir);
    bool ok = true;
    for (char *p = path + 1; ok && *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        ok = mkdir(path, 0755) == 0 || errno == EEXIST;
        *p = '/';
    }
    ok = ok && (mkdir(path, 0755) == 0 || errno == EEXIST);
    free(path);
    return ok;
}

/* The app name from --name or the directory: lower-case letters, digits and '_'. */
static char *
app_name(const char *dir, const char *name)
{
    char *copy = rj_xstrdup(dir);
    char *out = rj_xstrdup(name != NULL ? name : basename(copy));
    free(copy);
    for (char *p = out; *p != '\0'; p++)
        *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
    if (!isalpha((unsigned char)out[0])) {
        fprintf(stderr,
                "ramjet new: '%s' does not start with a letter: name the app with "
                "--name\n",
                out);
        free(out);
        return NULL;
    }
    return out;
}

/* The sample: one piece of each kind, made exactly as `ramjet new <piece>` makes them. */
static bool
add_sample(new_app_t *app)
{
    const char *note_fields[] = {"text:String!", NULL};
    const char *command_fields[] = {"noteId:ID!", "text:String!", NULL};
    const char *reduces[] = {"NoteWritten", NULL};
    new_args_t event = {.entity = "Note", .key = "noteId", .fields = note_fields, .nfields = 1};
    new_args_t entity = {.fields = note_fields, .nfields = 1, .reduces = reduces, .nreduces = 1};
    new_args_t command = {.fields = command_fields, .nfields = 2, .registers = "NoteWritten"};
    new_args_t model = {.fields = note_fields, .nfields = 1, .projects = "Note"};
    return new_event(app, "NoteWritten", &event) && new_entity(app, "Note", &entity) &&
           new_command(app, "WriteNote", &command) && new_read_model(app, "NoteReadModel", &model);
}

static int
new_application(const char *dir, const new_args_t *a)
{
    char *name = app_name(dir, a->name);
    if (name == NULL)
        return 2;
    char *src = rj_xasprintf("%s/src", dir);
    if (!make_dirs(dir) || mkdir(src, 0755) != 0) {
        fprintf(stderr, "ramjet new: could not create %s: %s\n", src, strerror(errno));
        free(src);
        free(name);
        return 1;
    }
    static const struct {
        const char *file;
        const char *tmpl;
    } files[] = {
        {"CMakeLists.txt", newtmpl_cmakelists}, {"README.md", newtmpl_readme},
        {"src/app.h", newtmpl_app_h},           {"src/app.c", newtmpl_app_c},
        {"src/pieces.h", newtmpl_pieces_h},
    };
    const char *const vars[] = {"NAME", name, NULL};
    bool ok = true;
    for (size_t i = 0; i < sizeof files / sizeof files[0] && ok; i++) {
        char *path = rj_xasprintf("%s/%s", dir, files[i].file);
        ok = write_new(path, files[i].tmpl, vars);
        free(path);
    }
    char *schema = rj_xasprintf("%s/%s.graphql", dir, name);
    ok = ok && write_new(schema, newtmpl_schema, vars);
    new_app_t app = {0};
    ok = ok && app_open(&app, dir) && add_sample(&app);
    if (ok)
        printf("scaffolded the application %s in %s (build it: see %s/README.md)\n", name, dir,
               dir);
    app_close(&app);
    free(schema);
    free(src);
    free(name);
    return ok ? 0 : 1;
}

/* ---- the subcommand ---- */

static const struct {
    const char *kind;
    bool (*add)(new_app_t *app, const char *name, const new_args_t *a);
} new_pieces[] = {
    {"event", new_event},
    {"entity", new_entity},
    {"command", new_command},
    {"read-model", new_read_model},
};

static int
new_piece(bool (*add)(new_app_t *, const char *, const new_args_t *), const char *name,
          const new_args_t *a)
{
    new_app_t app;
    bool ok = app_open(&app, a->dir != NULL ? a->dir : ".") && add(&app, name, a);
    app_close(&app);
    return ok ? 0 : 1;
}

int
cli_new_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        new_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    size_t k = 0;
    while (k < sizeof new_pieces / sizeof new_pieces[0] && strcmp(argv[1], new_pieces[k].kind))
        k++;
    bool piece = k < sizeof new_pieces / sizeof new_pieces[0];
    int first = piece ? 3 : 2; /* the first option after `new <kind> NAME` or `new <dir>` */
    new_args_t a = {0};
    if ((piece && argc < 3) || argv[1][0] == '-' || !args_parse(argc - first, argv + first, &a)) {
        if (piece && argc < 3)
            fprintf(stderr, "ramjet new %s: which NAME?\n", argv[1]);
        new_usage(stderr);
        args_free(&a);
        return 2;
    }
    int rc = piece ? new_piece(new_pieces[k].add, argv[2], &a) : new_application(argv[1], &a);
    args_free(&a);
    return rc;
}
