/*
 * config.c - table-driven configuration (see config.h).
 */
#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"

static void
env_name(const char *flag, char *out, size_t outlen)
{
    size_t o = (size_t)snprintf(out, outlen, "RAMJET_");
    for (const char *p = flag; *p != '\0' && o + 1 < outlen; p++)
        out[o++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[o] = '\0';
}

static rj_status_t
set_value(const rj_conf_opt_t *o, void *conf, const char *val, const char *from, rj_error_t *err)
{
    char *slot = (char *)conf + o->offset;
    switch (o->type) {
    case RJ_CONF_STR: {
        char **s = (char **)(void *)slot;
        free(*s);
        *s = val != NULL ? rj_xstrdup(val) : NULL;
        return RJ_OK;
    }
    case RJ_CONF_INT: {
        char *end;
        errno = 0;
        long v = strtol(val, &end, 10);
        if (errno != 0 || *end != '\0' || end == val || v < -2147483647L || v > 2147483647L)
            return rj_error_set(err, RJ_EINVAL, "invalid integer for %s (from %s): %s", o->name,
                                from, val);
        *(int *)(void *)slot = (int)v;
        return RJ_OK;
    }
    case RJ_CONF_BOOL: {
        bool *b = (bool *)(void *)slot;
        if (!strcasecmp(val, "1") || !strcasecmp(val, "true") || !strcasecmp(val, "yes") ||
            !strcasecmp(val, "on"))
            *b = true;
        else if (!strcasecmp(val, "0") || !strcasecmp(val, "false") || !strcasecmp(val, "no") ||
                 !strcasecmp(val, "off"))
            *b = false;
        else
            return rj_error_set(err, RJ_EINVAL, "invalid boolean for %s (from %s): %s", o->name,
                                from, val);
        return RJ_OK;
    }
    }
    return RJ_OK;
}

rj_status_t
rj_config_load(const rj_conf_opt_t *opts, size_t n, void *conf, int argc, char **argv,
               const char *prog, const char *summary, rj_error_t *err)
{
    for (size_t i = 0; i < n; i++) {
        const rj_conf_opt_t *o = &opts[i];
        char env[96];
        env_name(o->name, env, sizeof env);
        const char *v = getenv(env);
        const char *from = env;
        if (v == NULL || (o->type != RJ_CONF_STR && *v == '\0')) {
            v = o->defval;
            from = "default";
        }
        if (v == NULL && o->type != RJ_CONF_STR)
            v = o->type == RJ_CONF_BOOL ? "false" : "0";
        rj_status_t st = set_value(o, conf, v, from, err);
        if (st != RJ_OK)
            return st;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            rj_config_print_help(stdout, opts, n, prog, summary);
            exit(0);
        }
        if (!strcmp(arg, "--help-markdown")) {
            /* scripts/gen-docs builds docs/configuration.md from this */
            rj_config_print_markdown(stdout, opts, n, prog, summary);
            exit(0);
        }
        if (strncmp(arg, "--", 2) != 0)
            return rj_error_set(err, RJ_EINVAL, "unexpected argument: %s (try --help)", arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const rj_conf_opt_t *o = NULL;
        for (size_t i = 0; i < n; i++)
            if (strlen(opts[i].name) == nlen && !strncmp(opts[i].name, name, nlen))
                o = &opts[i];
        if (o == NULL)
            return rj_error_set(err, RJ_EINVAL, "unknown option: --%.*s (try --help)", (int)nlen,
                                name);
        const char *val;
        if (eq != NULL)
            val = eq + 1;
        else if (o->type == RJ_CONF_BOOL)
            val = "true";
        else if (a + 1 < argc)
            val = argv[++a];
        else
            return rj_error_set(err, RJ_EINVAL, "option --%s needs a value", o->name);
        rj_status_t st = set_value(o, conf, val, "command line", err);
        if (st != RJ_OK)
            return st;
    }
    return RJ_OK;
}

void
rj_config_print_help(FILE *out, const rj_conf_opt_t *opts, size_t n, const char *prog,
                     const char *summary)
{
    fprintf(out, "usage: %s [--option value]...\n\n%s\n\noptions (flag / environment, default):\n",
            prog, summary);
    for (size_t i = 0; i < n; i++) {
        char env[96];
        env_name(opts[i].name, env, sizeof env);
        fprintf(out, "  --%-22s %s\n  %-24s   env %s, default %s\n", opts[i].name, opts[i].help,
                "", env, opts[i].defval ? opts[i].defval : "(unset)");
    }
}

void
rj_config_print_markdown(FILE *out, const rj_conf_opt_t *opts, size_t n, const char *prog,
                         const char *summary)
{
    fprintf(out, "## %s\n\n%s\n\n| flag | environment | default | meaning |\n|---|---|---|---|\n",
            prog, summary);
    for (size_t i = 0; i < n; i++) {
        char env[96];
        env_name(opts[i].name, env, sizeof env);
        fprintf(out, "| `--%s` | `%s` | %s%s%s | %s |\n", opts[i].name, env,
                opts[i].defval ? "`" : "", opts[i].defval ? opts[i].defval : "(unset)",
                opts[i].defval ? "`" : "", opts[i].help);
    }
    fputc('\n', out);
}

void
rj_config_deinit(const rj_conf_opt_t *opts, size_t n, void *conf)
{
    for (size_t i = 0; i < n; i++) {
        if (opts[i].type == RJ_CONF_STR) {
            char **s = (char **)(void *)((char *)conf + opts[i].offset);
            free(*s);
            *s = NULL;
        }
    }
}
