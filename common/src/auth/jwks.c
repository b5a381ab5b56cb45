/*
 * jwks.c - the key cache behind a JWKS URI verifier (see auth_int.h).
 *
 * The JWKS (RFC 7517) is fetched with libcurl over http or https, parsed into OpenSSL
 * public keys, and kept until a token names a kid the cache does not hold, or the cache
 * is older than its maximum age. Only keys a JWT verifier here can use are kept: RSA
 * (n, e) for RS256 and EC P-256 (x, y) for ES256; keys with another kty or crv, marked
 * `use: enc`, or whose `alg` names another algorithm are skipped. The algorithm is
 * derived from the key, exactly as for a PEM verifier, so a token header cannot choose it.
 *
 * Refreshes are rate limited: an attacker sending tokens with random kids must not turn
 * each request into a request to the identity provider, nor block the caller's thread
 * for a fetch timeout per request. A failed fetch counts as a refresh (a provider that is
 * down is not hammered either) and keeps the keys already cached, because stale keys of
 * a provider that is briefly unreachable are better than refusing every token.
 *
 * What this file deliberately does not do: fetch in the background (the fetch is
 * synchronous, under the cache's mutex, so concurrent verifiers wait for one fetch
 * rather than starting several), honour Cache-Control (the refresh interval is
 * configuration), or use x5c certificate chains (n/e and x/y are what every provider
 * publishes).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "auth/auth.h"
#include "auth/auth_int.h"
#include "core/core.h"
#include "log/log.h"

typedef struct jwks_key {
    char *kid;          /* the key's kid, or NULL when it has none */
    EVP_PKEY *key;      /* the public key; one reference owned by the cache */
    rj__auth_alg_t alg; /* the one algorithm it verifies */
} jwks_key_t;

struct rj__jwks {
    char *uri;              /* where the JWKS is fetched from */
    int64_t min_refresh_us; /* least time between two fetches */
    int64_t max_age_us;     /* a cache older than this is refreshed on next use */
    pthread_mutex_t mu;     /* guards every field below */
    jwks_key_t *keys;       /* the usable keys of the last good fetch */
    size_t n_keys;          /* their number */
    int64_t fetched_us;     /* monotonic time of the last good fetch; 0: none yet */
    int64_t attempted_us;   /* monotonic time of the last fetch attempt; 0: none yet */
    uint64_t fetches;       /* fetch attempts so far */
};

/* ---- fetching ------------------------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init_once(void)
{
    /* curl_global_init is not guaranteed thread-safe; pthread_once makes it so. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        rj_error("auth", "could not initialise libcurl");
}

typedef struct fetch_buf {
    rj_buf_t body;  /* the bytes received */
    bool too_large; /* the body passed RJ_AUTH_JWKS_MAX_BYTES */
} fetch_buf_t;

static size_t
fetch_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    fetch_buf_t *f = userdata;
    size_t n = size * nmemb;
    if (f->body.len + n > RJ_AUTH_JWKS_MAX_BYTES) {
        f->too_large = true;
        return 0; /* anything but n aborts the transfer with CURLE_WRITE_ERROR */
    }
    rj_buf_append(&f->body, data, n);
    return n;
}

/* GETs @p uri into @p f. */
static rj_status_t
http_get(const char *uri, fetch_buf_t *f, rj_error_t *err)
{
    pthread_once(&curl_once, curl_init_once);
    CURL *c = curl_easy_init();
    if (c == NULL)
        return rj_error_set(err, RJ_EIO, "could not fetch JWKS uri=%s: curl_easy_init failed", uri);
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_URL, uri);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    /* Redirects are not followed: a JWKS URI is configuration, and following one would
       let whoever controls the first host choose where keys come from. */
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)RJ_AUTH_JWKS_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)RJ_AUTH_JWKS_TIMEOUT_MS);
    /* Signals are how libcurl times out DNS without a threaded resolver; they are not
       safe in a multi-threaded daemon. */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)RJ_AUTH_JWKS_MAX_BYTES);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "ramjet-jwks/1");

    rj_status_t st = RJ_OK;
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (f->too_large || rc == CURLE_FILESIZE_EXCEEDED)
        st = rj_error_set(err, RJ_ETOOBIG, "could not fetch JWKS uri=%s: larger than %d bytes", uri,
                          RJ_AUTH_JWKS_MAX_BYTES);
    else if (rc != CURLE_OK)
        st = rj_error_set(err, rc == CURLE_OPERATION_TIMEDOUT ? RJ_ETIMEOUT : RJ_ERETRY,
                          "could not fetch JWKS uri=%s: %s", uri,
                          curl_err[0] != '\0' ? curl_err : curl_easy_strerror(rc));
    else if (code != 200)
        st = rj_error_set(err, code >= 500 ? RJ_ERETRY : RJ_EPROTO,
                          "could not fetch JWKS uri=%s: HTTP status %ld", uri, code);
    curl_easy_cleanup(c);
    return st;
}

/* ---- parsing ------------------------------------------------------------------------- */

/* A base64url member decoded into a BIGNUM; NULL when absent or not base64url. */
static BIGNUM *
member_bn(const json_t *jwk, const char *name, size_t *len)
{
    const char *s = json_string_value(json_object_get(jwk, name));
    if (s == NULL || s[0] == '\0')
        return NULL;
    size_t n;
    unsigned char *raw = rj_b64url_decode(s, strlen(s), &n);
    if (raw == NULL)
        return NULL;
    BIGNUM *bn = BN_bin2bn(raw, (int)n, NULL);
    free(raw);
    if (len != NULL)
        *len = n;
    return bn;
}

/* Builds a key from @p params with type @p type ("RSA", "EC"); NULL on failure. */
static EVP_PKEY *
key_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *key = NULL;
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return key;
}

static EVP_PKEY *
rsa_key(const json_t *jwk)
{
    BIGNUM *n = member_bn(jwk, "n", NULL), *e = member_bn(jwk, "e", NULL);
    EVP_PKEY *key = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (n != NULL && e != NULL && bld != NULL && !BN_is_zero(n) && !BN_is_zero(e) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1)
        key = key_from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return key;
}

/* A P-256 key from x and y; the import checks the point is on the curve. */
static EVP_PKEY *
ec_key(const json_t *jwk)
{
    const char *x = json_string_value(json_object_get(jwk, "x"));
    const char *y = json_string_value(json_object_get(jwk, "y"));
    if (x == NULL || y == NULL)
        return NULL;
    size_t xn = 0, yn = 0;
    unsigned char *xr = rj_b64url_decode(x, strlen(x), &xn);
    unsigned char *yr = rj_b64url_decode(y, strlen(y), &yn);
    EVP_PKEY *key = NULL;
    /* RFC 7518 §6.2.1.2: coordinates are the full 32 bytes, leading zeros kept. */
    if (xr != NULL && yr != NULL && xn == 32 && yn == 32) {
        unsigned char point[65];
        point[0] = 0x04; /* uncompressed */
        memcpy(point + 1, xr, 32);
        memcpy(point + 33, yr, 32);
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        if (bld != NULL &&
            OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ==
                1 &&
            OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) ==
                1)
            key = key_from_params("EC", bld);
        OSSL_PARAM_BLD_free(bld);
    }
    free(xr);
    free(yr);
    return key;
}

/*
 * The usable key of one JWK, or NULL (with the reason in @p why) for one that is skipped.
 */
static EVP_PKEY *
jwk_key(const json_t *jwk, rj__auth_alg_t *alg, const char **why)
{
    if (!json_is_object(jwk)) {
        *why = "not an object";
        return NULL;
    }
    const char *kty = json_string_value(json_object_get(jwk, "kty"));
    const char *use = json_string_value(json_object_get(jwk, "use"));
    const char *jalg = json_string_value(json_object_get(jwk, "alg"));
    if (use != NULL && strcmp(use, "sig") != 0) {
        *why = "not a signature key (use)";
        return NULL;
    }
    EVP_PKEY *key = NULL;
    if (kty != NULL && strcmp(kty, "RSA") == 0) {
        *alg = RJ__AUTH_RS256;
        if (jalg != NULL && strcmp(jalg, "RS256") != 0) {
            *why = "alg other than RS256";
            return NULL;
        }
        key = rsa_key(jwk);
    } else if (kty != NULL && strcmp(kty, "EC") == 0) {
        const char *crv = json_string_value(json_object_get(jwk, "crv"));
        *alg = RJ__AUTH_ES256;
        if (crv == NULL || strcmp(crv, "P-256") != 0) {
            *why = "curve other than P-256";
            return NULL;
        }
        if (jalg != NULL && strcmp(jalg, "ES256") != 0) {
            *why = "alg other than ES256";
            return NULL;
        }
        key = ec_key(jwk);
    } else {
        *why = "kty other than RSA or EC";
        return NULL;
    }
    ERR_clear_error();
    if (key == NULL)
        *why = "malformed key parameters";
    return key;
}

static void
keys_free(jwks_key_t *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(keys[i].kid);
        EVP_PKEY_free(keys[i].key);
    }
    free(keys);
}

/* Parses a JWKS document into its usable keys (possibly none). */
static rj_status_t
jwks_parse(const char *uri, const char *body, size_t len, jwks_key_t **out, size_t *n_out,
           rj_error_t *err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *arr = json_object_get(doc, "keys");
    if (!json_is_array(arr)) {
        json_decref(doc);
        return rj_error_set(err, RJ_EPROTO,
                            "could not parse JWKS uri=%s: not a JSON object with a keys array",
                            uri);
    }
    jwks_key_t *keys = rj_xcalloc(json_array_size(arr) + 1, sizeof *keys);
    size_t n = 0, i;
    json_t *jwk;
    json_array_foreach (arr, i, jwk) {
        const char *why = NULL;
        rj__auth_alg_t alg = RJ__AUTH_RS256;
        EVP_PKEY *key = jwk_key(jwk, &alg, &why);
        const char *kid = json_string_value(json_object_get(jwk, "kid"));
        if (key == NULL) {
            rj_debug("auth", "JWKS key skipped uri=%s index=%zu: %s", uri, i, why);
            continue;
        }
        keys[n++] =
            (jwks_key_t){.kid = kid != NULL ? rj_xstrdup(kid) : NULL, .key = key, .alg = alg};
    }
    json_decref(doc);
    *out = keys;
    *n_out = n;
    return RJ_OK;
}

/* ---- the cache ----------------------------------------------------------------------- */

rj__jwks_t *
rj__jwks_new(const char *uri, int64_t min_refresh_s, int64_t max_age_s)
{
    rj__jwks_t *j = rj_xcalloc(1, sizeof *j);
    j->uri = rj_xstrdup(uri);
    j->min_refresh_us = min_refresh_s * 1000000;
    j->max_age_us = max_age_s * 1000000;
    pthread_mutex_init(&j->mu, NULL);
    return j;
}

void
rj__jwks_free(rj__jwks_t *j)
{
    if (j == NULL)
        return;
    keys_free(j->keys, j->n_keys);
    pthread_mutex_destroy(&j->mu);
    free(j->uri);
    free(j);
}

/* Fetches and swaps the keys in; j->mu held. */
static rj_status_t
refresh_locked(rj__jwks_t *j, rj_error_t *err)
{
    j->attempted_us = rj_mono_us();
    j->fetches++;
    fetch_buf_t f = {0};
    rj_buf_init(&f.body);
    rj_status_t st = http_get(j->uri, &f, err);
    jwks_key_t *keys = NULL;
    size_t n = 0;
    if (st == RJ_OK)
        st = jwks_parse(j->uri, f.body.data != NULL ? f.body.data : "", f.body.len, &keys, &n, err);
    rj_buf_deinit(&f.body);
    if (st != RJ_OK)
        return st;
    keys_free(j->keys, j->n_keys);
    j->keys = keys;
    j->n_keys = n;
    j->fetched_us = rj_mono_us();
    if (n == 0)
        rj_warn("auth", "JWKS has no usable key uri=%s", j->uri);
    else
        rj_debug("auth", "JWKS fetched uri=%s keys=%zu", j->uri, n);
    return RJ_OK;
}

rj_status_t
rj__jwks_refresh(rj__jwks_t *j, rj_error_t *err)
{
    pthread_mutex_lock(&j->mu);
    rj_status_t st = refresh_locked(j, err);
    pthread_mutex_unlock(&j->mu);
    return st;
}

/* The cached key for @p kid; j->mu held. Borrowed. */
static const jwks_key_t *
find_locked(const rj__jwks_t *j, const char *kid)
{
    if (kid == NULL)
        return j->n_keys == 1 ? &j->keys[0] : NULL;
    for (size_t i = 0; i < j->n_keys; i++)
        if (j->keys[i].kid != NULL && strcmp(j->keys[i].kid, kid) == 0)
            return &j->keys[i];
    return NULL;
}

EVP_PKEY *
rj__jwks_key(rj__jwks_t *j, const char *kid, rj__auth_alg_t *alg)
{
    pthread_mutex_lock(&j->mu);
    int64_t now = rj_mono_us();
    bool may_refresh = j->attempted_us == 0 || now - j->attempted_us >= j->min_refresh_us;
    bool stale = j->fetched_us == 0 || now - j->fetched_us >= j->max_age_us;
    const jwks_key_t *k = stale ? NULL : find_locked(j, kid);
    /* A token without a kid cannot be "unknown": only the age refreshes for it. */
    if (may_refresh && (stale || (k == NULL && kid != NULL))) {
        rj_error_t err;
        rj_error_clear(&err);
        if (refresh_locked(j, &err) != RJ_OK)
            rj_warn("auth", "%s; keeping %zu cached key(s)", err.msg, j->n_keys);
    }
    k = find_locked(j, kid);
    EVP_PKEY *key = NULL;
    if (k != NULL && EVP_PKEY_up_ref(k->key) == 1) {
        key = k->key;
        *alg = k->alg;
    }
    pthread_mutex_unlock(&j->mu);
    return key;
}

uint64_t
rj__jwks_fetch_count(rj__jwks_t *j)
{
    pthread_mutex_lock(&j->mu);
    uint64_t n = j->fetches;
    pthread_mutex_unlock(&j->mu);
    return n;
}
