/*
 * federation/fetch.c - the services' SDL, read at start: the configuration's `schema`,
 * or `{ _service { sdl } }` asked of the service over HTTP with libcurl.
 *
 * Blocking on purpose: it runs once, before the gateway's loop serves anything, and a
 * gateway without its composition has nothing to serve. Each service is asked with a
 * timeout and its answer bounded; a service that cannot be read is asked again
 * (retryServicesCount times, retryServicesInterval apart) and then either stops the
 * start (mandatory) or is left out of the composition, as Mercurius does.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "federation/federation.h"
#include "log/log.h"
#include "proc/proc.h"

#define SDL_MAX_BYTES (16u << 20) /* composition's own bound on one service's SDL */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        rj_error("federation", "could not initialise libcurl");
}

typedef struct sink {
    rj_buf_t body;  /* the bytes received */
    bool too_large; /* the answer passed SDL_MAX_BYTES */
} sink_t;

static size_t
sink_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    sink_t *s = userdata;
    size_t n = size * nmemb;
    if (s->body.len + n > SDL_MAX_BYTES) {
        s->too_large = true;
        return 0; /* aborts the transfer */
    }
    rj_buf_append(&s->body, data, n);
    return n;
}

struct curl_slist *
rj_fed_service_headers(const rj_fed_service_conf_t *svc)
{
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    /* libcurl asks a body above 1 KiB to be expected (100-continue) and waits for the
       service's go-ahead: a round trip more for every large _entities request. */
    h = curl_slist_append(h, "Expect:");
    const char *k;
    json_t *v;
    json_object_foreach (svc->init_headers, k, v) {
        char *line = rj_xasprintf("%s: %s", k, json_string_value(v));
        h = curl_slist_append(h, line);
        free(line);
    }
    return h;
}

/* Asks one URL of @p svc for its SDL. */
static rj_status_t
fetch_one(const rj_fed_service_conf_t *svc, const char *url, int timeout_ms, char **sdl,
          rj_error_t *err)
{
    pthread_once(&curl_once, curl_init_once);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return rj_error_set(err, RJ_EIO,
                            "could not read the schema of service %s: "
                            "curl_easy_init failed",
                            svc->name);
    struct curl_slist *headers = rj_fed_service_headers(svc);
    sink_t sink = {0};
    rj_buf_init(&sink.body);
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{\"query\":\"{ _service { sdl } }\"}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ramjet-gateway/1");
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);

    rj_status_t st;
    json_t *answer = NULL;
    if (sink.too_large)
        st = rj_error_set(err, RJ_ETOOBIG,
                          "could not read the schema of service %s url=%s: "
                          "answer larger than %u bytes",
                          svc->name, url, SDL_MAX_BYTES);
    else if (rc != CURLE_OK)
        st = rj_error_set(err, RJ_ERETRY, "could not read the schema of service %s url=%s: %s",
                          svc->name, url, curl_err[0] != '\0' ? curl_err : curl_easy_strerror(rc));
    else if ((answer = json_loadb(sink.body.data != NULL ? sink.body.data : "", sink.body.len, 0,
                                  NULL)) == NULL)
        st = rj_error_set(err, RJ_EPROTO,
                          "could not read the schema of service %s url=%s: "
                          "HTTP %ld, the answer is not JSON",
                          svc->name, url, code);
    else {
        const char *s = json_string_value(
            json_object_get(json_object_get(json_object_get(answer, "data"), "_service"), "sdl"));
        if (s == NULL)
            st = rj_error_set(err, RJ_EPROTO,
                              "could not read the schema of service %s url=%s: "
                              "HTTP %ld, no data._service.sdl in the answer",
                              svc->name, url, code);
        else {
            *sdl = rj_xstrdup(s);
            st = RJ_OK;
        }
    }
    json_decref(answer);
    rj_buf_deinit(&sink.body);
    return st;
}

rj_status_t
rj_fed_fetch_sdl(const rj_fed_service_conf_t *svc, int timeout_ms, char **sdl, rj_error_t *err)
{
    *sdl = NULL;
    if (svc->schema != NULL) {
        *sdl = rj_xstrdup(svc->schema);
        return RJ_OK;
    }
    rj_status_t st = RJ_OK;
    for (size_t i = 0; i < svc->nurls; i++)
        if ((st = fetch_one(svc, svc->urls[i], timeout_ms, sdl, err)) == RJ_OK)
            break;
    return st;
}

rj_fed_graph_t *
rj_fed_load(const rj_fed_conf_t *conf, const rj_fed_sdl_t *local, int timeout_ms, bool **present,
            rj_error_t *err)
{
    size_t n = conf->nservices;
    char **sdls = rj_xcalloc(n, sizeof(char *));
    rj_fed_sdl_t *in = rj_xcalloc(n + 1, sizeof(*in));
    bool *have = rj_xcalloc(n, sizeof(bool));
    size_t nin = 0;
    if (local != NULL)
        in[nin++] = *local;
    rj_status_t st = RJ_OK;
    for (size_t i = 0; i < n && st == RJ_OK; i++) {
        const rj_fed_service_conf_t *svc = &conf->services[i];
        rj_error_t e;
        rj_error_clear(&e);
        rj_status_t got = rj_fed_fetch_sdl(svc, timeout_ms, &sdls[i], &e);
        for (int a = 0; got != RJ_OK && a < conf->retry_services_count; a++) {
            rj_warn("federation", "%s; trying again in %d ms (%d of %d)", e.msg,
                    conf->retry_services_interval_ms, a + 1, conf->retry_services_count);
            if (rj_proc_sleep(conf->retry_services_interval_ms))
                break; /* a stop was requested */
            rj_error_clear(&e);
            got = rj_fed_fetch_sdl(svc, timeout_ms, &sdls[i], &e);
        }
        if (got != RJ_OK && svc->mandatory) {
            st = rj_error_set(err, got, "%s (the service is mandatory)", e.msg);
        } else if (got != RJ_OK) {
            rj_warn("federation", "%s; composing without service %s", e.msg, svc->name);
        } else {
            in[nin++] = (rj_fed_sdl_t){.name = svc->name, .sdl = sdls[i], .len = strlen(sdls[i])};
            have[i] = true;
        }
    }
    rj_fed_graph_t *g = NULL;
    if (st == RJ_OK && nin == 0)
        rj_error_set(err, RJ_ERETRY, "could not read the schema of any service");
    else if (st == RJ_OK)
        g = rj_fed_compose(in, nin, err);
    for (size_t i = 0; i < n; i++)
        free(sdls[i]);
    free(sdls);
    free(in);
    if (g != NULL && present != NULL)
        *present = have;
    else
        free(have);
    return g;
}
