/*
 * graphiql.c - the GraphiQL page and its vendored assets (see graphiql.h).
 *
 * The assets are four files from npm (graphiql 3's UMD build and React 18's, pinned by
 * web/package-lock.json) read into memory once at start: together about 1.5 MB, served
 * as-is with no per-request I/O. Only those four names are served, so no request path can
 * reach anything else on disk.
 *
 * The page is rendered once too. The only value put into it is the WebSocket URL, written
 * as a JSON string with "</" escaped, so even a hostile configuration value cannot close
 * the <script> element.
 */
#include "graphiql.h"

#include <errno.h>
#include <jansson.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/core.h"
#include "log/log.h"

#define GW_GRAPHIQL_PREFIX "/graphiql"
#define GW_GRAPHIQL_ASSETS GW_GRAPHIQL_PREFIX "/assets/"

/* One vendored file. */
typedef struct gw_asset {
    const char *name;         /* file name, also the last path segment */
    const char *content_type; /* what it is served as */
    char *data;               /* its bytes, or NULL when it could not be read */
    size_t len;               /* their number */
} gw_asset_t;

struct gw_graphiql {
    char *dir;            /* where the assets were looked for */
    gw_asset_t assets[4]; /* the files below, in page order */
    bool complete;        /* every asset was read */
    char *page;           /* the rendered page */
    size_t page_len;      /* its length */
};

static const char *const asset_names[] = {"react.production.min.js", "react-dom.production.min.js",
                                          "graphiql.min.js", "graphiql.min.css"};

/*
 * The page. GraphiQL 3's UMD build expects React and ReactDOM as globals. The initial
 * query and variables may come from the URL (?query=...&variables=...), and editing keeps
 * the URL in step, so a link reproduces what is on screen. %s is the WebSocket URL as a
 * JSON string or `null`.
 */
static const char page_template[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "  <meta charset=\"utf-8\">\n"
    "  <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "  <title>Ramjet GraphiQL</title>\n"
    "  <style>html, body, #graphiql { height: 100%%; margin: 0; }</style>\n"
    "  <link rel=\"stylesheet\" href=\"" GW_GRAPHIQL_ASSETS "graphiql.min.css\">\n"
    "  <script src=\"" GW_GRAPHIQL_ASSETS "react.production.min.js\"></script>\n"
    "  <script src=\"" GW_GRAPHIQL_ASSETS "react-dom.production.min.js\"></script>\n"
    "  <script src=\"" GW_GRAPHIQL_ASSETS "graphiql.min.js\"></script>\n"
    "</head>\n"
    "<body>\n"
    "  <div id=\"graphiql\">Loading GraphiQL...</div>\n"
    "  <script>\n"
    "    (function () {\n"
    "      var configured = %s;\n"
    "      var wsUrl = configured ||\n"
    "        (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.hostname +\n"
    "        ':65529/websocket';\n"
    "      var params = new URLSearchParams(location.search);\n"
    "      function remember(key, value) {\n"
    "        if (value) params.set(key, value); else params.delete(key);\n"
    "        history.replaceState(null, '', '?' + params.toString());\n"
    "      }\n"
    "      var fetcher = GraphiQL.createFetcher({\n"
    "        url: location.origin + '/graphql',\n"
    "        subscriptionUrl: wsUrl\n"
    "      });\n"
    "      ReactDOM.createRoot(document.getElementById('graphiql')).render(\n"
    "        React.createElement(GraphiQL, {\n"
    "          fetcher: fetcher,\n"
    "          defaultEditorToolbarTabs: 'variables',\n"
    "          query: params.get('query') || undefined,\n"
    "          variables: params.get('variables') || undefined,\n"
    "          onEditQuery: function (q) { remember('query', q); },\n"
    "          onEditVariables: function (v) { remember('variables', v); }\n"
    "        }));\n"
    "    })();\n"
    "  </script>\n"
    "</body>\n"
    "</html>\n";

static const char unavailable[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>GraphiQL "
    "unavailable</title></head>\n<body><p>GraphiQL is not installed on this gateway: its "
    "assets were not found (the gateway's log says where it looked). Build with npm "
    "available (web/), or point --graphiql-assets-dir at them.</p></body></html>\n";

/* Reads a whole file; NULL (errno set) when it cannot. */
static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    rj_buf_t b;
    rj_buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        rj_buf_append(&b, chunk, n);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        rj_buf_deinit(&b);
        errno = EIO;
        return NULL;
    }
    *len = b.len;
    return b.data != NULL ? b.data : rj_xstrdup(""); /* the buffer's bytes are ours now */
}

/* ../share/graphiql next to the running binary, the layout of build/ and of `make install`. */
static char *
default_dir(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return rj_xstrdup("share/graphiql");
    exe[n] = '\0';
    return rj_xasprintf("%s/../share/graphiql", dirname(exe));
}

/* The WebSocket URL as a JavaScript expression: a JSON string with "</" escaped, or null. */
static char *
js_string_or_null(const char *s)
{
    if (s == NULL || *s == '\0')
        return rj_xstrdup("null");
    json_t *v = json_string(s);
    if (v == NULL) /* not UTF-8: a configuration error, not worth a broken page */
        return rj_xstrdup("null");
    char *text = json_dumps(v, JSON_ENCODE_ANY);
    json_decref(v);
    rj_buf_t b;
    rj_buf_init(&b);
    for (const char *p = text; *p != '\0'; p++) {
        if (p[0] == '<' && p[1] == '/')
            rj_buf_puts(&b, "<\\");
        else
            rj_buf_putc(&b, *p);
    }
    free(text);
    return b.data;
}

gw_graphiql_t *
gw_graphiql_new(const char *assets_dir, const char *ws_url)
{
    gw_graphiql_t *g = rj_xcalloc(1, sizeof *g);
    g->dir = assets_dir != NULL && *assets_dir != '\0' ? rj_xstrdup(assets_dir) : default_dir();
    g->complete = true;
    for (size_t i = 0; i < sizeof asset_names / sizeof asset_names[0]; i++) {
        gw_asset_t *a = &g->assets[i];
        a->name = asset_names[i];
        a->content_type = strstr(a->name, ".css") != NULL ? "text/css; charset=utf-8"
                                                          : "application/javascript; charset=utf-8";
        char *path = rj_xasprintf("%s/%s", g->dir, a->name);
        a->data = read_file(path, &a->len);
        if (a->data == NULL) {
            rj_warn("graphiql", "could not read GraphiQL asset %s: %s", path, strerror(errno));
            g->complete = false;
        }
        free(path);
    }
    if (g->complete)
        rj_info("graphiql", "serving GraphiQL on /graphiql from %s", g->dir);

    char *ws = js_string_or_null(ws_url);
    g->page = rj_xasprintf(page_template, ws);
    g->page_len = strlen(g->page);
    free(ws);
    return g;
}

void
gw_graphiql_free(gw_graphiql_t *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < sizeof g->assets / sizeof g->assets[0]; i++)
        free(g->assets[i].data);
    free(g->page);
    free(g->dir);
    free(g);
}

bool
gw_graphiql_wants_html(const char *accept, size_t len)
{
    /* Browsers put text/html first; GraphQL clients never ask for it. */
    static const char html[] = "text/html";
    if (accept == NULL)
        return false;
    for (size_t i = 0; i + sizeof html - 1 <= len; i++)
        if (strncasecmp(accept + i, html, sizeof html - 1) == 0)
            return true;
    return false;
}

void
gw_graphiql_page(const gw_graphiql_t *g, gw_graphiql_response_t *out)
{
    if (!g->complete) {
        *out = (gw_graphiql_response_t){503, "text/html; charset=utf-8", unavailable,
                                        sizeof unavailable - 1};
        return;
    }
    *out = (gw_graphiql_response_t){200, "text/html; charset=utf-8", g->page, g->page_len};
}

bool
gw_graphiql_route(const gw_graphiql_t *g, const char *path, size_t len, gw_graphiql_response_t *out)
{
    static const char prefix[] = GW_GRAPHIQL_PREFIX;
    static const char assets[] = GW_GRAPHIQL_ASSETS;

    if ((len == sizeof prefix - 1 || (len == sizeof prefix && path[len - 1] == '/')) &&
        memcmp(path, prefix, sizeof prefix - 1) == 0) {
        gw_graphiql_page(g, out);
        return true;
    }
    if (len < sizeof assets - 1 || memcmp(path, assets, sizeof assets - 1) != 0)
        return false;

    const char *name = path + sizeof assets - 1;
    size_t name_len = len - (sizeof assets - 1);
    for (size_t i = 0; i < sizeof g->assets / sizeof g->assets[0]; i++) {
        const gw_asset_t *a = &g->assets[i];
        if (strlen(a->name) != name_len || memcmp(a->name, name, name_len) != 0)
            continue;
        if (a->data == NULL)
            *out = (gw_graphiql_response_t){503, "text/plain; charset=utf-8",
                                            "GraphiQL asset not installed\n", 29};
        else
            *out = (gw_graphiql_response_t){200, a->content_type, a->data, a->len};
        return true;
    }
    *out = (gw_graphiql_response_t){404, "text/plain; charset=utf-8", "not found\n", 10};
    return true;
}
