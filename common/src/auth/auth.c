/*
 * auth.c - JWT verification (see auth.h).
 *
 * A token is taken apart once (three base64url parts, a JSON header and payload), then
 * each verifier runs jsonwebtoken 9's checks in jsonwebtoken's order: algorithm,
 * signature, nbf, exp, issuer. The first failing check is that verifier's reason, with
 * jsonwebtoken's text, because Booster passes those texts to clients unchanged and
 * clients (and Booster's own tests) compare them. Structural failures are the same for
 * every verifier, so they are computed once and repeated per verifier, which is what N
 * independent jsonwebtoken calls print.
 *
 * Signatures are checked with OpenSSL's EVP one-shot API and SHA-256, with the algorithm
 * the *key* implies. ES256 signatures travel as the raw 64-byte r||s of RFC 7518 §3.4;
 * OpenSSL wants DER, so they are re-encoded first, and any other length is simply a bad
 * signature.
 *
 * Nothing here logs a token or a claim: reasons are fixed texts (plus the configured
 * issuer name), and callers log at most the reason.
 */
#include "auth/auth.h"
#include "auth/auth_int.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "core/core.h"
#include "log/log.h"

/* jsonwebtoken's error texts, as String(error) prints them ("<name>: <message>"). */
#define R_EMPTY "JsonWebTokenError: jwt must be provided"
#define R_MALFORMED "JsonWebTokenError: jwt malformed"
#define R_INVALID_TOKEN "JsonWebTokenError: invalid token"
#define R_SIG_REQUIRED "JsonWebTokenError: jwt signature is required"
#define R_BAD_ALG "JsonWebTokenError: invalid algorithm"
#define R_BAD_SIG "JsonWebTokenError: invalid signature"
#define R_BAD_NBF "JsonWebTokenError: invalid nbf value"
#define R_NOT_BEFORE "NotBeforeError: jwt not active"
#define R_BAD_EXP "JsonWebTokenError: invalid exp value"
#define R_EXPIRED "TokenExpiredError: jwt expired"
#define R_ISSUER "JsonWebTokenError: jwt issuer invalid. expected: "
/* Ours: jsonwebtoken reads iat only for maxAge, so it has no texts for these. */
#define R_BAD_IAT "JsonWebTokenError: invalid iat value"
#define R_IAT_FUTURE "JsonWebTokenError: jwt issued in the future"
/* Ours: jsonwebtoken has no size limit, so no text to copy. */
#define R_TOO_LARGE "JsonWebTokenError: jwt too large"

/* Ours: a JWKS verifier has no key for the token's kid (jwks-rsa's own texts are not
   jsonwebtoken errors, and Booster wraps them differently per version). */
#define R_NO_KID "JsonWebTokenError: no key for kid "
#define R_NO_KID_NONE "JsonWebTokenError: no key for a jwt without kid"
/* An application's check or custom verifier refused without saying why. */
#define R_APP_REFUSED "JsonWebTokenError: token refused"
#define KID_SHOWN_MAX 64 /* kid characters echoed in a reason; it is attacker input */

typedef struct auth_verifier {
    char *issuer;             /* trusted `iss` */
    char *roles_claim;        /* claim holding the roles */
    EVP_PKEY *key;            /* the public key (NULL for a JWKS verifier); read-only */
    rj__auth_alg_t alg;       /* the one algorithm this key verifies */
    rj__jwks_t *jwks;         /* a JWKS verifier's key cache, or NULL */
    rj_auth_custom_fn custom; /* an application's own verifier (no key, no jwks), or NULL */
    rj_auth_check_fn check;   /* an application's extra check, or NULL */
} auth_verifier_t;

struct rj_auth {
    auth_verifier_t *verifiers; /* in trust order */
    size_t n;                   /* their number */
    int64_t leeway_s;           /* clock tolerance for exp/nbf */
};

/* How one verifier judged a token; the kind decides the combined error code. */
typedef enum auth_fail {
    FAIL_NONE,       /* accepted */
    FAIL_OTHER,      /* JsonWebTokenError of any kind */
    FAIL_EXPIRED,    /* TokenExpiredError */
    FAIL_NOT_BEFORE, /* NotBeforeError */
} auth_fail_t;

/* A token taken apart. Views into the caller's token plus decoded copies. */
typedef struct auth_token {
    const char *signing_input; /* header "." payload, as signed */
    size_t signing_len;        /* its length */
    json_t *header;            /* decoded header object; owned */
    json_t *payload;           /* decoded payload object; owned */
    unsigned char *sig;        /* decoded signature; owned (NULL when it does not decode) */
    size_t sig_len;            /* its length */
    const char *alg;           /* header.alg, borrowed from header */
} auth_token_t;

/* Decodes a base64url part holding a JSON object; NULL when it is anything else. */
static json_t *
decode_json_part(const char *s, size_t n)
{
    size_t len;
    unsigned char *raw = rj_b64url_decode(s, n, &len);
    if (raw == NULL)
        return NULL;
    json_error_t jerr;
    /* Duplicate members are refused: two `iss` or two `exp` mean two readings of one
       token, and the strict reading is the safe one. */
    json_t *v = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, &jerr);
    free(raw);
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* ---- taking a token apart ------------------------------------------------------------ */

static void
token_deinit(auth_token_t *t)
{
    json_decref(t->header);
    json_decref(t->payload);
    free(t->sig);
    *t = (auth_token_t){0};
}

/*
 * Splits and decodes @p token. Returns NULL when it is usable, else the reason every
 * verifier gives (jsonwebtoken: "jwt malformed" for a part count other than three,
 * "invalid token" when jws cannot decode it, "jwt signature is required" for an empty
 * signature, since a key is always configured).
 */
static const char *
token_parse(const char *token, size_t len, auth_token_t *t)
{
    *t = (auth_token_t){0};
    if (len == 0)
        return R_EMPTY;
    if (len > RJ_AUTH_TOKEN_MAX)
        return R_TOO_LARGE;
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 =
        dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot1 == NULL || dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)))
        return R_MALFORMED;

    const char *h = token, *p = dot1 + 1, *s = dot2 + 1;
    size_t hn = (size_t)(dot1 - h), pn = (size_t)(dot2 - p), sn = len - (size_t)(s - token);
    if (hn == 0 || pn == 0 || !rj_b64url_valid(s, sn))
        return R_INVALID_TOKEN;
    t->header = decode_json_part(h, hn);
    t->payload = t->header != NULL ? decode_json_part(p, pn) : NULL;
    if (t->payload == NULL) {
        token_deinit(t);
        return R_INVALID_TOKEN;
    }
    t->alg = json_string_value(json_object_get(t->header, "alg"));
    if (sn == 0) {
        token_deinit(t);
        return R_SIG_REQUIRED;
    }
    t->signing_input = token;
    t->signing_len = (size_t)(dot2 - token);
    t->sig = rj_b64url_decode(s, sn, &t->sig_len); /* NULL: checked as a bad signature */
    return NULL;
}

/* ---- signatures ---------------------------------------------------------------------- */

/* Re-encodes a raw r||s ECDSA P-256 signature as DER; NULL when it is not 64 bytes. */
static unsigned char *
es256_to_der(const unsigned char *sig, size_t len, size_t *der_len)
{
    if (len != 64)
        return NULL;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL);
    BIGNUM *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL; /* owned by es now */
        int n = i2d_ECDSA_SIG(es, &der);
        if (n > 0)
            *der_len = (size_t)n;
        else
            der = NULL;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return der;
}

static bool
signature_ok(EVP_PKEY *key, rj__auth_alg_t alg, const auth_token_t *t)
{
    if (t->sig == NULL)
        return false;
    const unsigned char *sig = t->sig;
    size_t sig_len = t->sig_len;
    unsigned char *der = NULL;
    if (alg == RJ__AUTH_ES256) {
        der = es256_to_der(t->sig, t->sig_len, &sig_len);
        if (der == NULL)
            return false;
        sig = der;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestVerify(ctx, sig, sig_len, (const unsigned char *)t->signing_input,
                               t->signing_len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    /* A failed verification leaves errors in this thread's queue; they would be blamed
       on whatever OpenSSL call this thread makes next. */
    ERR_clear_error();
    return ok;
}

/* ---- one verifier -------------------------------------------------------------------- */

/*
 * The no-key reason for @p kid into @p buf: the kid is the client's own input, so only
 * printable ASCII other than quotes and backslashes is echoed, and at most KID_SHOWN_MAX
 * characters of it; the reason may be logged.
 */
static const char *
no_kid_reason(const char *kid, char *buf, size_t bufsize)
{
    if (kid == NULL)
        return R_NO_KID_NONE;
    char shown[KID_SHOWN_MAX + 4];
    size_t o = 0, i = 0;
    for (; kid[i] != '\0' && o < KID_SHOWN_MAX; i++) {
        unsigned char c = (unsigned char)kid[i];
        shown[o++] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? (char)c : '?';
    }
    if (kid[i] != '\0') {
        memcpy(shown + o, "...", 3);
        o += 3;
    }
    shown[o] = '\0';
    snprintf(buf, bufsize, "%s\"%s\"", R_NO_KID, shown);
    return buf;
}

/* How an application's check or custom verifier refused: its words, its kind by code. */
static auth_fail_t
app_refusal(const rj_error_t *e, const char **reason, char *buf, size_t bufsize)
{
    if (e->msg[0] == '\0') {
        *reason = R_APP_REFUSED;
    } else {
        snprintf(buf, bufsize, "%s", e->msg);
        *reason = buf;
    }
    if (strcmp(e->code, RJ_AUTH_CODE_EXPIRED) == 0)
        return FAIL_EXPIRED;
    if (strcmp(e->code, RJ_AUTH_CODE_NOT_BEFORE) == 0)
        return FAIL_NOT_BEFORE;
    return FAIL_OTHER;
}

/*
 * jsonwebtoken's verify() after decoding, for one key. Returns FAIL_NONE or the kind of
 * failure with its reason in @p reason (static text, or a message written into @p buf).
 * A JWKS verifier first looks its key up by kid, as jwks-rsa's getKey callback runs
 * before jsonwebtoken's own checks.
 */
static auth_fail_t
verifier_check(const rj_auth_t *a, const auth_verifier_t *v, const auth_token_t *t, int64_t now_s,
               const char **reason, char *buf, size_t bufsize)
{
    EVP_PKEY *key = v->key;
    rj__auth_alg_t alg = v->alg;
    if (v->jwks != NULL) {
        const char *kid = json_string_value(json_object_get(t->header, "kid"));
        key = rj__jwks_key(v->jwks, kid, &alg);
        if (key == NULL) {
            *reason = no_kid_reason(kid, buf, bufsize);
            return FAIL_OTHER;
        }
    }
    /* The algorithm is the key's: a header naming any other is refused before any
       cryptography, whatever the key store says. */
    const char *want = alg == RJ__AUTH_RS256 ? "RS256" : "ES256";
    bool alg_ok = t->alg != NULL && strcmp(t->alg, want) == 0;
    bool sig_ok = alg_ok && signature_ok(key, alg, t);
    if (v->jwks != NULL)
        EVP_PKEY_free(key); /* the reference rj__jwks_key gave */
    if (!alg_ok) {
        *reason = R_BAD_ALG;
        return FAIL_OTHER;
    }
    if (!sig_ok) {
        *reason = R_BAD_SIG;
        return FAIL_OTHER;
    }
    double now = (double)now_s, leeway = (double)a->leeway_s;
    json_t *nbf = json_object_get(t->payload, "nbf");
    if (nbf != NULL) {
        if (!json_is_number(nbf)) {
            *reason = R_BAD_NBF;
            return FAIL_OTHER;
        }
        if (json_number_value(nbf) > now + leeway) {
            *reason = R_NOT_BEFORE;
            return FAIL_NOT_BEFORE;
        }
    }
    json_t *exp = json_object_get(t->payload, "exp");
    if (exp != NULL) {
        if (!json_is_number(exp)) {
            *reason = R_BAD_EXP;
            return FAIL_OTHER;
        }
        if (now >= json_number_value(exp) + leeway) {
            *reason = R_EXPIRED;
            return FAIL_EXPIRED;
        }
    }
    /*
     * A token issued later than now (beyond the clock leeway) was minted by a clock that
     * is wrong or by someone choosing its claims; without this check such a token, with
     * no exp, would be accepted for as long as its key is trusted. jsonwebtoken does not
     * look at iat unless maxAge is set: this is a deliberate tightening.
     */
    json_t *iat = json_object_get(t->payload, "iat");
    if (iat != NULL) {
        if (!json_is_number(iat)) {
            *reason = R_BAD_IAT;
            return FAIL_OTHER;
        }
        if (json_number_value(iat) > now + leeway) {
            *reason = R_IAT_FUTURE;
            return FAIL_OTHER;
        }
    }
    const char *iss = json_string_value(json_object_get(t->payload, "iss"));
    if (iss == NULL || strcmp(iss, v->issuer) != 0) {
        snprintf(buf, bufsize, "%s%s", R_ISSUER, v->issuer);
        *reason = buf;
        return FAIL_OTHER;
    }
    if (v->check != NULL) {
        rj_error_t e;
        rj_error_clear(&e);
        if (v->check(t->header, t->payload, &e) != RJ_OK)
            return app_refusal(&e, reason, buf, bufsize);
    }
    *reason = NULL;
    return FAIL_NONE;
}

/*
 * Runs an application's own verifier on the raw token. On acceptance @p t's header and
 * payload are replaced by what it returned, so the user envelope is built the usual way.
 */
static auth_fail_t
custom_check(const auth_verifier_t *v, const char *token, size_t len, auth_token_t *t,
             const char **reason, char *buf, size_t bufsize)
{
    if (len == 0) {
        *reason = R_EMPTY;
        return FAIL_OTHER;
    }
    if (len > RJ_AUTH_TOKEN_MAX) {
        *reason = R_TOO_LARGE;
        return FAIL_OTHER;
    }
    char *copy = rj_xstrndup(token, len);
    json_t *header = NULL, *claims = NULL;
    rj_error_t e;
    rj_error_clear(&e);
    rj_status_t st = v->custom(copy, &header, &claims, &e);
    free(copy);
    if (st != RJ_OK) {
        json_decref(header);
        json_decref(claims);
        return app_refusal(&e, reason, buf, bufsize);
    }
    if (!json_is_object(claims)) {
        json_decref(header);
        json_decref(claims);
        rj_warn("auth",
                "custom token verifier issuer=%s accepted a token without returning "
                "a claims object; refusing it",
                v->issuer);
        *reason = R_APP_REFUSED;
        return FAIL_OTHER;
    }
    json_decref(t->header);
    json_decref(t->payload);
    t->header = json_is_object(header) ? header : json_object();
    if (!json_is_object(header))
        json_decref(header);
    t->payload = claims;
    t->alg = NULL; /* it pointed into the header just released */
    *reason = NULL;
    return FAIL_NONE;
}

/* ---- the user envelope --------------------------------------------------------------- */

/* JavaScript truthiness of a JSON value (absent = undefined = false). */
static bool
js_truthy(const json_t *v)
{
    switch (v != NULL ? json_typeof(v) : JSON_NULL) {
    case JSON_NULL:
    case JSON_FALSE:
        return false;
    case JSON_STRING:
        return json_string_length(v) > 0;
    case JSON_INTEGER:
        return json_integer_value(v) != 0;
    case JSON_REAL:
        return json_real_value(v) != 0 && !isnan(json_real_value(v));
    default:
        return true;
    }
}

static json_t *
user_envelope(const auth_verifier_t *v, const auth_token_t *t)
{
    json_t *u = json_object();
    json_t *sub = json_object_get(t->payload, "sub");
    if (sub != NULL)
        json_object_set(u, "id", sub);
    /* email || phone_number || sub: the last operand whatever its truthiness. */
    json_t *username = json_object_get(t->payload, "email");
    if (!js_truthy(username))
        username = json_object_get(t->payload, "phone_number");
    if (!js_truthy(username))
        username = sub;
    if (username != NULL)
        json_object_set(u, "username", username);

    json_t *roles = json_array();
    json_t *claim = json_object_get(t->payload, v->roles_claim);
    if (json_is_string(claim) && json_string_length(claim) > 0) {
        json_array_append(roles, claim);
    } else if (json_is_array(claim)) {
        size_t i;
        json_t *r;
        json_array_foreach (claim, i, r) {
            if (json_is_string(r))
                json_array_append(roles, r);
        }
    }
    json_object_set_new(u, "roles", roles);
    json_object_set(u, "claims", t->payload);
    json_object_set(u, "header", t->header);
    return u;
}

/* ---- public API ---------------------------------------------------------------------- */

/* Reads a PEM public key or certificate; NULL when it is neither. */
static EVP_PKEY *
read_key(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *key = b != NULL ? PEM_read_bio_PUBKEY(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (key == NULL) {
        b = BIO_new_mem_buf(pem, -1);
        X509 *cert = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        if (cert != NULL)
            key = X509_get_pubkey(cert);
        X509_free(cert);
    }
    ERR_clear_error();
    return key;
}

/* The algorithm @p key verifies, or false for key types a JWT verifier cannot use. */
static bool
key_alg(EVP_PKEY *key, rj__auth_alg_t *alg, char *why, size_t whysize)
{
    int id = EVP_PKEY_get_base_id(key);
    if (id == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(key) < 2048)
            rj_warn("auth", "an RSA token key has only %d bits; use 2048 or more",
                    EVP_PKEY_get_bits(key));
        *alg = RJ__AUTH_RS256;
        return true;
    }
    if (id == EVP_PKEY_EC) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                           &glen) == 1 &&
            strcmp(group, "prime256v1") == 0) {
            *alg = RJ__AUTH_ES256;
            return true;
        }
        snprintf(why, whysize, "EC key on curve %s (ES256 needs P-256)",
                 group[0] != '\0' ? group : "(unknown)");
        ERR_clear_error();
        return false;
    }
    snprintf(why, whysize, "key type %s (expected RSA or EC P-256)",
             EVP_PKEY_get0_type_name(key) != NULL ? EVP_PKEY_get0_type_name(key) : "(unknown)");
    return false;
}

static char *
roles_claim_of(const rj_auth_verifier_conf_t *c)
{
    return rj_xstrdup(c->roles_claim != NULL && c->roles_claim[0] != '\0'
                          ? c->roles_claim
                          : RJ_AUTH_DEFAULT_ROLES_CLAIM);
}

/* Adds the JWKS verifier @p c and fetches its keys once; false (with @p err) on bad
   configuration, never for a fetch that fails. */
static bool
add_jwks_verifier(rj_auth_t *a, const rj_auth_verifier_conf_t *c, rj_error_t *err)
{
    if (strncmp(c->jwks_uri, "https://", 8) != 0 && strncmp(c->jwks_uri, "http://", 7) != 0) {
        rj_error_set(err, RJ_EINVAL,
                     "could not configure token verifier issuer=%s: the JWKS URI is not "
                     "http:// or https://",
                     c->issuer);
        return false;
    }
    if (c->jwks_min_refresh_s < 0 || c->jwks_min_refresh_s > RJ_AUTH_JWKS_MIN_REFRESH_MAX ||
        c->jwks_max_age_s < 0) {
        rj_error_set(err, RJ_EINVAL,
                     "could not configure token verifier issuer=%s: JWKS refresh interval "
                     "out of range",
                     c->issuer);
        return false;
    }
    rj__jwks_t *jwks =
        rj__jwks_new(c->jwks_uri, c->jwks_min_refresh_s,
                     c->jwks_max_age_s > 0 ? c->jwks_max_age_s : RJ_AUTH_JWKS_MAX_AGE_S);
    rj_error_t ferr;
    rj_error_clear(&ferr);
    if (rj__jwks_refresh(jwks, &ferr) != RJ_OK)
        rj_warn("auth", "%s; tokens of issuer=%s are refused until a refresh succeeds", ferr.msg,
                c->issuer);
    a->verifiers[a->n++] = (auth_verifier_t){
        .issuer = rj_xstrdup(c->issuer),
        .roles_claim = roles_claim_of(c),
        .jwks = jwks,
        .check = c->check,
    };
    return true;
}

rj_auth_t *
rj_auth_new(const rj_auth_verifier_conf_t *confs, size_t n, int64_t leeway_s, rj_error_t *err)
{
    if (leeway_s < 0 || leeway_s > RJ_AUTH_LEEWAY_MAX) {
        rj_error_set(err, RJ_EINVAL, "invalid token clock leeway %lld s: expected 0..%d",
                     (long long)leeway_s, RJ_AUTH_LEEWAY_MAX);
        return NULL;
    }
    rj_auth_t *a = rj_xcalloc(1, sizeof *a);
    a->leeway_s = leeway_s;
    a->verifiers = rj_xcalloc(n > 0 ? n : 1, sizeof *a->verifiers);
    for (size_t i = 0; i < n; i++) {
        const rj_auth_verifier_conf_t *c = &confs[i];
        if (c->custom != NULL) {
            if (c->pem != NULL || c->jwks_uri != NULL || c->check != NULL) {
                rj_error_set(err, RJ_EINVAL,
                             "could not configure token verifier %zu: a custom verifier has "
                             "no PEM key, JWKS URI or extra check",
                             i + 1);
                rj_auth_free(a);
                return NULL;
            }
            a->verifiers[a->n++] = (auth_verifier_t){
                .issuer =
                    rj_xstrdup(c->issuer != NULL && c->issuer[0] != '\0' ? c->issuer : "custom"),
                .roles_claim = roles_claim_of(c),
                .custom = c->custom,
            };
            continue;
        }
        if (c->issuer == NULL || c->issuer[0] == '\0') {
            rj_error_set(err, RJ_EINVAL, "could not configure token verifier %zu: empty issuer",
                         i + 1);
            rj_auth_free(a);
            return NULL;
        }
        if ((c->pem != NULL) == (c->jwks_uri != NULL)) {
            rj_error_set(err, RJ_EINVAL,
                         "could not configure token verifier issuer=%s: it needs exactly one "
                         "of a PEM key, a JWKS URI and a custom verifier",
                         c->issuer);
            rj_auth_free(a);
            return NULL;
        }
        if (c->jwks_uri != NULL) {
            if (!add_jwks_verifier(a, c, err)) {
                rj_auth_free(a);
                return NULL;
            }
            continue;
        }
        EVP_PKEY *key = read_key(c->pem);
        if (key == NULL) {
            rj_error_set(err, RJ_EINVAL,
                         "could not configure token verifier issuer=%s: the key "
                         "is not a PEM public key or certificate",
                         c->issuer);
            rj_auth_free(a);
            return NULL;
        }
        rj__auth_alg_t alg;
        char why[128];
        if (!key_alg(key, &alg, why, sizeof why)) {
            EVP_PKEY_free(key);
            rj_error_set(err, RJ_EINVAL,
                         "could not configure token verifier issuer=%s: "
                         "unsupported %s",
                         c->issuer, why);
            rj_auth_free(a);
            return NULL;
        }
        a->verifiers[a->n++] = (auth_verifier_t){
            .issuer = rj_xstrdup(c->issuer),
            .roles_claim = roles_claim_of(c),
            .key = key,
            .alg = alg,
            .check = c->check,
        };
    }
    return a;
}

void
rj_auth_free(rj_auth_t *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->verifiers[i].issuer);
        free(a->verifiers[i].roles_claim);
        EVP_PKEY_free(a->verifiers[i].key);
        rj__jwks_free(a->verifiers[i].jwks);
    }
    free(a->verifiers);
    free(a);
}

size_t
rj_auth_verifier_count(const rj_auth_t *a)
{
    return a->n;
}

const char *
rj_auth_verifier_alg(const rj_auth_t *a, size_t i)
{
    if (i >= a->n)
        return NULL;
    if (a->verifiers[i].custom != NULL)
        return "custom";
    if (a->verifiers[i].jwks != NULL)
        return "JWKS";
    return a->verifiers[i].alg == RJ__AUTH_RS256 ? "RS256" : "ES256";
}

rj_status_t
rj_auth_leeway_from_env(int64_t *out, rj_error_t *err)
{
    const char *s = getenv(RJ_AUTH_LEEWAY_ENV);
    *out = 0;
    if (s == NULL || s[0] == '\0')
        return RJ_OK;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > RJ_AUTH_LEEWAY_MAX)
        return rj_error_set(err, RJ_EINVAL, "invalid %s=%s: expected whole seconds in 0..%d",
                            RJ_AUTH_LEEWAY_ENV, s, RJ_AUTH_LEEWAY_MAX);
    *out = v;
    return RJ_OK;
}

rj_status_t
rj_auth_jwks_min_refresh_from_env(int64_t *out, rj_error_t *err)
{
    const char *s = getenv(RJ_AUTH_JWKS_MIN_REFRESH_ENV);
    *out = RJ_AUTH_JWKS_MIN_REFRESH_DEFAULT_S;
    if (s == NULL || s[0] == '\0')
        return RJ_OK;
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > RJ_AUTH_JWKS_MIN_REFRESH_MAX)
        return rj_error_set(err, RJ_EINVAL, "invalid %s=%s: expected whole seconds in 0..%d",
                            RJ_AUTH_JWKS_MIN_REFRESH_ENV, s, RJ_AUTH_JWKS_MIN_REFRESH_MAX);
    *out = v;
    return RJ_OK;
}

rj_status_t
rj_auth_verify(const rj_auth_t *a, const char *token, size_t len, int64_t now_s, json_t **user,
               rj_error_t *err)
{
    auth_token_t t;
    const char *common = token_parse(token, len, &t);
    rj_buf_t reasons;
    rj_buf_init(&reasons);
    bool any_nbf = false, any_exp = false;

    for (size_t i = 0; i < a->n; i++) {
        const auth_verifier_t *v = &a->verifiers[i];
        const char *reason = common;
        char buf[RJ_ERROR_MSG_MAX];
        auth_fail_t fail = FAIL_OTHER;
        if (v->custom != NULL)
            fail = custom_check(v, token, len, &t, &reason, buf, sizeof buf);
        else if (common == NULL)
            fail = verifier_check(a, v, &t, now_s, &reason, buf, sizeof buf);
        if (fail == FAIL_NONE) {
            *user = user_envelope(v, &t);
            token_deinit(&t);
            rj_buf_deinit(&reasons);
            return RJ_OK;
        }
        any_nbf |= fail == FAIL_NOT_BEFORE;
        any_exp |= fail == FAIL_EXPIRED;
        if (reasons.len > 0)
            rj_buf_putc(&reasons, '\n');
        rj_buf_puts(&reasons, reason);
    }
    token_deinit(&t);

    const char *code = any_nbf   ? RJ_AUTH_CODE_NOT_BEFORE
                       : any_exp ? RJ_AUTH_CODE_EXPIRED
                                 : RJ_AUTH_CODE_DENIED;
    if (a->n == 0)
        rj_buf_puts(&reasons, "JsonWebTokenError: no token issuer is trusted");
    rj_error_set(err, RJ_EAUTH, "%.*s", (int)reasons.len, reasons.data);
    rj_error_set_code(err, code);
    rj_buf_deinit(&reasons);
    return RJ_EAUTH;
}

rj_status_t
rj_auth_verify_authorization(const rj_auth_t *a, const char *value, size_t len, int64_t now_s,
                             json_t **user, rj_error_t *err)
{
    *user = NULL;
    if (value == NULL || len == 0)
        return RJ_OK;
    /* Booster: token.replace('Bearer ', ''): the first occurrence, wherever it is. */
    static const char bearer[] = "Bearer ";
    const size_t blen = sizeof bearer - 1;
    const char *at = NULL;
    for (size_t i = 0; i + blen <= len && at == NULL; i++)
        if (memcmp(value + i, bearer, blen) == 0)
            at = value + i;
    if (at == NULL)
        return rj_auth_verify(a, value, len, now_s, user, err);
    if (len - blen > RJ_AUTH_TOKEN_MAX)
        return rj_auth_verify(a, value, len - blen, now_s, user, err); /* refused by size */
    char *token = rj_xmalloc(len - blen + 1);
    size_t before = (size_t)(at - value);
    memcpy(token, value, before);
    memcpy(token + before, at + blen, len - before - blen);
    token[len - blen] = '\0';
    rj_status_t st = rj_auth_verify(a, token, len - blen, now_s, user, err);
    free(token);
    return st;
}
