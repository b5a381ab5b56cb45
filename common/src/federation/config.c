/*
 * federation/config.c - the gateway configuration file (--gateway-config), with
 * @mercuriusjs/gateway's option names so that a Mercurius configuration carries over.
 *
 * Two tables, one per JSON object level, are the single source of what is accepted, of
 * the defaults and of the documentation (rj_fed_conf_print_markdown). Anything else is
 * refused by name: a misspelt key silently ignored is a gateway that quietly does
 * something other than what its operator wrote. Mercurius's function-valued options
 * (initHeaders as a function, rewriteHeaders, errorHandler...) have no JSON form; their
 * place is the application library's hooks.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "federation/federation.h"

typedef enum key_type {
    KEY_STRING,   /* char *: a non-empty string */
    KEY_URLS,     /* char ** + count: one http(s) URL or a non-empty array of them */
    KEY_URL,      /* char *: one http(s) or ws(s) URL */
    KEY_BOOL,     /* bool */
    KEY_MS,       /* int: a non-negative integer (milliseconds or a count) */
    KEY_POSITIVE, /* int: an integer of at least 1 */
    KEY_HEADERS,  /* json_t *: an object of string values */
    KEY_ANY,      /* json_t *: kept as given (options of a later issue) */
    KEY_SERVICES, /* the services array, parsed with service_keys */
} key_type_t;

typedef struct conf_key {
    const char *name;   /* JSON key, as Mercurius spells it */
    key_type_t type;    /* what it accepts */
    size_t offset;      /* where it lands in its struct */
    size_t count_off;   /* KEY_URLS, KEY_SERVICES: where the count lands */
    bool required;      /* must be present */
    const char *defval; /* the default, for the documentation and apply_defaults() */
    const char *help;   /* one line of documentation */
} conf_key_t;

#define SVC(f) offsetof(rj_fed_service_conf_t, f)
#define TOP(f) offsetof(rj_fed_conf_t, f)

static const conf_key_t service_keys[] = {
    {"name", KEY_STRING, SVC(name), 0, true, NULL,
     "the service's name, unique in the file; errors and logs name services by it"},
    {"url", KEY_URLS, SVC(urls), SVC(nurls), true, NULL,
     "the service's GraphQL endpoint, or an array of equivalent endpoints used round robin "
     "(one that refuses a connection is skipped for 5 s, the request sent to the next)"},
    {"wsUrl", KEY_URL, SVC(ws_url), 0, false, NULL,
     "the service's WebSocket endpoint for subscriptions (for the pusher; not used yet)"},
    {"mandatory", KEY_BOOL, SVC(mandatory), 0, false, "false",
     "refuse to start when this service's schema cannot be read (otherwise the gateway "
     "starts without it)"},
    {"initHeaders", KEY_HEADERS, SVC(init_headers), 0, false, NULL,
     "headers sent with every request to the service, as an object of strings"},
    {"keepAlive", KEY_MS, SVC(keep_alive_ms), 0, false, "5000",
     "milliseconds an idle connection to the service stays open (0: close after each "
     "request)"},
    {"keepAliveTimeout", KEY_MS, SVC(keep_alive_timeout_ms), 0, false, "0",
     "as keepAlive (undici's name); the larger of the two applies"},
    {"connections", KEY_POSITIVE, SVC(connections), 0, false, "10",
     "most connections open to the service at once (to each of its URLs); further requests "
     "queue"},
    {"allowBatchedQueries", KEY_BOOL, SVC(allow_batched_queries), 0, false, "false",
     "the service accepts a JSON array of operations in one request: its entity fetches of "
     "one level go as one such array, not one aliased document"},
    {"schema", KEY_STRING, SVC(schema), 0, false, NULL,
     "the service's federation SDL, used instead of asking it for `_service { sdl }`"},
};

static const conf_key_t top_keys[] = {
    {"services", KEY_SERVICES, TOP(services), TOP(nservices), true, NULL,
     "the federated services, in composition order (root fields are merged in this order)"},
    {"pollingInterval", KEY_MS, TOP(polling_interval_ms), 0, false, "0",
     "milliseconds between re-reads of the services' schemas (0: never); a changed "
     "composition replaces the current one for new requests"},
    {"retryServicesCount", KEY_MS, TOP(retry_services_count), 0, false, "10",
     "how many times a service whose schema could not be read is asked again at start"},
    {"retryServicesInterval", KEY_MS, TOP(retry_services_interval_ms), 0, false, "3000",
     "milliseconds between those attempts"},
    {"subscription", KEY_ANY, TOP(subscription), 0, false, NULL,
     "federated subscriptions' options (for the pusher; not used yet)"},
};

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

/* True when @p s starts with @p scheme followed by a host. */
static bool
has_scheme(const char *s, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncmp(s, scheme, n) == 0 && s[n] != '\0' && s[n] != '/';
}

static bool
is_http_url(const char *s, bool ws)
{
    if (has_scheme(s, "http://") || has_scheme(s, "https://"))
        return true;
    return ws && (has_scheme(s, "ws://") || has_scheme(s, "wss://"));
}

/* Sets a table's defaults in @p base (what a missing optional key means). */
static void
apply_defaults(const conf_key_t *keys, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++) {
        char *slot = (char *)base + keys[i].offset;
        if (keys[i].defval == NULL)
            continue;
        if (keys[i].type == KEY_BOOL)
            *(bool *)(void *)slot = strcmp(keys[i].defval, "true") == 0;
        else if (keys[i].type == KEY_MS || keys[i].type == KEY_POSITIVE)
            *(int *)(void *)slot = atoi(keys[i].defval);
    }
}

static rj_status_t parse_object(const conf_key_t *keys, size_t n, const json_t *obj, void *base,
                                const char *origin, const char *path, rj_error_t *err);

static rj_status_t
parse_services(const json_t *v, rj_fed_conf_t *conf, const char *origin, rj_error_t *err)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return rj_error_set(err, RJ_EINVAL, "%s: services: expected a non-empty array", origin);
    size_t n = json_array_size(v);
    conf->services = rj_xcalloc(n, sizeof(*conf->services));
    for (size_t i = 0; i < n; i++) {
        char path[48];
        snprintf(path, sizeof path, "services[%zu].", i);
        rj_fed_service_conf_t *s = &conf->services[i];
        apply_defaults(service_keys, NKEYS(service_keys), s);
        conf->nservices = i + 1; /* so deinit frees what was parsed */
        rj_status_t st = parse_object(service_keys, NKEYS(service_keys), json_array_get(v, i), s,
                                      origin, path, err);
        if (st != RJ_OK)
            return st;
        for (size_t j = 0; j < i; j++)
            if (strcmp(conf->services[j].name, s->name) == 0)
                return rj_error_set(err, RJ_EINVAL,
                                    "%s: services[%zu].name: duplicate service name \"%s\" "
                                    "(also services[%zu])",
                                    origin, i, s->name, j);
    }
    return RJ_OK;
}

static rj_status_t
parse_value(const conf_key_t *k, const json_t *v, void *base, const char *origin, const char *path,
            rj_error_t *err)
{
    char *slot = (char *)base + k->offset;
#define BAD(what) rj_error_set(err, RJ_EINVAL, "%s: %s%s: expected %s", origin, path, k->name, what)
    switch (k->type) {
    case KEY_STRING:
        if (!json_is_string(v) || json_string_length(v) == 0)
            return BAD("a non-empty string");
        *(char **)(void *)slot = rj_xstrdup(json_string_value(v));
        return RJ_OK;
    case KEY_URL:
        if (!json_is_string(v) || !is_http_url(json_string_value(v), true))
            return BAD("an http(s) or ws(s) URL");
        *(char **)(void *)slot = rj_xstrdup(json_string_value(v));
        return RJ_OK;
    case KEY_URLS: {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        if (!(json_is_string(v) || (json_is_array(v) && n > 0)))
            return BAD("a URL or a non-empty array of URLs");
        char **urls = rj_xcalloc(n, sizeof(char *));
        *(char ***)(void *)slot = urls;
        for (size_t i = 0; i < n; i++) {
            const json_t *u = json_is_array(v) ? json_array_get(v, i) : v;
            if (!json_is_string(u) || !is_http_url(json_string_value(u), false))
                return BAD("http(s) URLs");
            urls[i] = rj_xstrdup(json_string_value(u));
            *(size_t *)(void *)((char *)base + k->count_off) = i + 1;
        }
        return RJ_OK;
    }
    case KEY_BOOL:
        if (!json_is_boolean(v))
            return BAD("true or false");
        *(bool *)(void *)slot = json_is_true(v);
        return RJ_OK;
    case KEY_MS:
    case KEY_POSITIVE: {
        int min = k->type == KEY_POSITIVE ? 1 : 0;
        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > INT_MAX)
            return BAD(min == 1 ? "an integer of at least 1" : "a non-negative integer");
        *(int *)(void *)slot = (int)json_integer_value(v);
        return RJ_OK;
    }
    case KEY_HEADERS: {
        if (!json_is_object(v))
            return BAD("an object of header values");
        const char *hk;
        const json_t *hv;
        json_object_foreach ((json_t *)v, hk, hv) {
            /* A header name or value with a line break would smuggle headers of its own. */
            if (!json_is_string(hv) || hk[0] == '\0' || strpbrk(hk, "\r\n: ") != NULL ||
                strpbrk(json_string_value(hv), "\r\n") != NULL)
                return rj_error_set(err, RJ_EINVAL,
                                    "%s: %s%s.%s: expected a header name with a one-line "
                                    "string value",
                                    origin, path, k->name, hk);
        }
        *(json_t **)(void *)slot = json_deep_copy(v);
        return RJ_OK;
    }
    case KEY_ANY:
        *(json_t **)(void *)slot = json_deep_copy(v);
        return RJ_OK;
    case KEY_SERVICES:
        return parse_services(v, base, origin, err);
    }
#undef BAD
    return RJ_OK;
}

static rj_status_t
parse_object(const conf_key_t *keys, size_t n, const json_t *obj, void *base, const char *origin,
             const char *path, rj_error_t *err)
{
    if (!json_is_object(obj)) {
        size_t plen = strlen(path); /* "services[1]." names the object without its dot */
        return rj_error_set(err, RJ_EINVAL, "%s: %.*s: expected an object", origin,
                            plen > 0 ? (int)plen - 1 : 11, plen > 0 ? path : "(top level)");
    }
    const char *key;
    const json_t *v;
    json_object_foreach ((json_t *)obj, key, v) {
        const conf_key_t *k = NULL;
        for (size_t i = 0; i < n && k == NULL; i++)
            if (strcmp(keys[i].name, key) == 0)
                k = &keys[i];
        if (k == NULL)
            return rj_error_set(err, RJ_EINVAL, "%s: %s%s: unknown key", origin, path, key);
        rj_status_t st = parse_value(k, v, base, origin, path, err);
        if (st != RJ_OK)
            return st;
    }
    for (size_t i = 0; i < n; i++)
        if (keys[i].required && json_object_get(obj, keys[i].name) == NULL)
            return rj_error_set(err, RJ_EINVAL, "%s: %s%s: missing", origin, path, keys[i].name);
    return RJ_OK;
}

rj_status_t
rj_fed_conf_parse(const char *text, size_t len, const char *origin, rj_fed_conf_t *conf,
                  rj_error_t *err)
{
    memset(conf, 0, sizeof(*conf));
    json_error_t je;
    /* Duplicate keys are refused: which of two `url`s wins is nobody's guess to make. */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL)
        return rj_error_set(err, RJ_EINVAL, "%s:%d:%d: %s", origin, je.line, je.column, je.text);
    apply_defaults(top_keys, NKEYS(top_keys), conf);
    rj_status_t st = parse_object(top_keys, NKEYS(top_keys), root, conf, origin, "", err);
    json_decref(root);
    if (st != RJ_OK)
        rj_fed_conf_deinit(conf);
    return st;
}

rj_status_t
rj_fed_conf_load(const char *path, rj_fed_conf_t *conf, rj_error_t *err)
{
    memset(conf, 0, sizeof(*conf));
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return rj_error_set(err, RJ_EIO, "could not open gateway config %s: %s", path,
                            strerror(errno));
    rj_buf_t b;
    rj_buf_init(&b);
    char chunk[8192];
    size_t n;
    /* A configuration file is small; bound it so a wrong path (a device, a log) fails fast. */
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= (16u << 20))
        rj_buf_append(&b, chunk, n);
    bool failed = ferror(f) != 0;
    fclose(f);
    rj_status_t st;
    if (failed)
        st = rj_error_set(err, RJ_EIO, "could not read gateway config %s", path);
    else if (b.len > (16u << 20))
        st = rj_error_set(err, RJ_EINVAL, "gateway config %s is larger than 16 MiB", path);
    else
        st = rj_fed_conf_parse(b.data != NULL ? b.data : "", b.len, path, conf, err);
    rj_buf_deinit(&b);
    return st;
}

void
rj_fed_conf_deinit(rj_fed_conf_t *conf)
{
    for (size_t i = 0; i < conf->nservices; i++) {
        rj_fed_service_conf_t *s = &conf->services[i];
        free(s->name);
        for (size_t j = 0; j < s->nurls; j++)
            free(s->urls[j]);
        free(s->urls);
        free(s->ws_url);
        json_decref(s->init_headers);
        free(s->schema);
    }
    free(conf->services);
    json_decref(conf->subscription);
    memset(conf, 0, sizeof(*conf));
}

static const char *
type_doc(key_type_t t)
{
    switch (t) {
    case KEY_STRING:
        return "string";
    case KEY_URLS:
        return "string or [string]";
    case KEY_URL:
        return "string";
    case KEY_BOOL:
        return "boolean";
    case KEY_MS:
    case KEY_POSITIVE:
        return "integer";
    case KEY_HEADERS:
    case KEY_ANY:
        return "object";
    case KEY_SERVICES:
        return "[object]";
    }
    return "";
}

static void
print_table(FILE *out, const conf_key_t *keys, size_t n)
{
    fputs("| key | type | default | meaning |\n|---|---|---|---|\n", out);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "| `%s` | %s | %s%s%s | %s |\n", keys[i].name, type_doc(keys[i].type),
                keys[i].defval ? "`" : "",
                keys[i].defval     ? keys[i].defval
                : keys[i].required ? "(required)"
                                   : "(unset)",
                keys[i].defval ? "`" : "", keys[i].help);
    fputc('\n', out);
}

void
rj_fed_conf_print_markdown(FILE *out)
{
    fputs("### Top level\n\n", out);
    print_table(out, top_keys, NKEYS(top_keys));
    fputs("### Each of `services`\n\n", out);
    print_table(out, service_keys, NKEYS(service_keys));
}
