/*
 * test_auth.c - JWT verification: keys and tokens are made here, with OpenSSL (key pairs,
 * a certificate) and libjwt's encoder (tokens), and checked against jsonwebtoken 9's
 * behaviour and texts as Booster surfaces them (booster-surface.md §2).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <jwt.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth/auth.h"
#include "core/core.h"
#include "log/log.h"

#define NOW 1700000000 /* the fixed clock every test verifies at */

typedef struct keypair {
    char *priv; /* PKCS#8 private key PEM */
    char *pub;  /* SubjectPublicKeyInfo PEM */
    EVP_PKEY *key;
} keypair_t;

static keypair_t rsa1, rsa2, ec1;

static char *
bio_string(BIO *b)
{
    char *data = NULL;
    long n = BIO_get_mem_data(b, &data);
    char *s = rj_xstrndup(data, (size_t)n);
    BIO_free(b);
    return s;
}

static keypair_t
make_keypair(EVP_PKEY *key)
{
    cr_assert_not_null(key);
    BIO *b = BIO_new(BIO_s_mem());
    cr_assert(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) == 1);
    keypair_t kp = {.priv = bio_string(b), .key = key};
    b = BIO_new(BIO_s_mem());
    cr_assert(PEM_write_bio_PUBKEY(b, key) == 1);
    kp.pub = bio_string(b);
    return kp;
}

static void
free_keypair(keypair_t *kp)
{
    free(kp->priv);
    free(kp->pub);
    EVP_PKEY_free(kp->key);
    *kp = (keypair_t){0};
}

static void
setup(void)
{
    rj_core_init();
    rj_log_init("test_auth");
    rj_log_set_level(RJ_LOG_ERROR);
    rsa1 = make_keypair(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048));
    rsa2 = make_keypair(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048));
    ec1 = make_keypair(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
}

static void
teardown(void)
{
    free_keypair(&rsa1);
    free_keypair(&rsa2);
    free_keypair(&ec1);
}

TestSuite(auth, .init = setup, .fini = teardown);

/*
 * A token signed by libjwt: @p alg with @p key (a PEM, or an HMAC secret), header kid
 * when given, the claims of the JSON object @p claims.
 */
static char *
mint(jwt_alg_t alg, const char *key, const char *kid, const char *claims)
{
    jwt_t *jwt = NULL;
    cr_assert_eq(jwt_new(&jwt), 0);
    cr_assert_eq(jwt_add_grants_json(jwt, claims), 0, "claims: %s", claims);
    if (kid != NULL)
        cr_assert_eq(jwt_add_header(jwt, "kid", kid), 0);
    cr_assert_eq(
        jwt_set_alg(jwt, alg, (const unsigned char *)key, key != NULL ? (int)strlen(key) : 0), 0);
    char *t = jwt_encode_str(jwt);
    cr_assert_not_null(t);
    jwt_free(jwt);
    char *copy = rj_xstrdup(t);
    free(t);
    return copy;
}

static rj_auth_t *
auth_of(const rj_auth_verifier_conf_t *confs, size_t n, int64_t leeway)
{
    rj_error_t err;
    rj_error_clear(&err);
    rj_auth_t *a = rj_auth_new(confs, n, leeway, &err);
    cr_assert_not_null(a, "%s", err.msg);
    return a;
}

/* One verifier: issuer "booster", roles in booster:role, key @p pub. */
static rj_auth_t *
booster_auth(const char *pub)
{
    rj_auth_verifier_conf_t c = {.issuer = "booster", .pem = pub, .roles_claim = "booster:role"};
    return auth_of(&c, 1, 0);
}

/* Verifies and expects a refusal with exactly @p message and @p code. */
static void
expect_refused(const rj_auth_t *a, const char *token, const char *message, const char *code)
{
    rj_error_t err;
    rj_error_clear(&err);
    json_t *user = NULL;
    cr_expect_eq(rj_auth_verify(a, token, strlen(token), NOW, &user, &err), RJ_EAUTH,
                 "accepted, expected %s", message);
    cr_expect_null(user);
    cr_expect_str_eq(err.msg, message);
    cr_expect_str_eq(rj_error_code(&err), code);
    json_decref(user);
}

/* Verifies and expects acceptance; returns the user envelope. */
static json_t *
expect_accepted(const rj_auth_t *a, const char *token)
{
    rj_error_t err;
    rj_error_clear(&err);
    json_t *user = NULL;
    cr_assert_eq(rj_auth_verify(a, token, strlen(token), NOW, &user, &err), RJ_OK, "%s", err.msg);
    cr_assert(json_is_object(user));
    return user;
}

static const char booster_claims[] =
    "{\"iss\":\"booster\",\"sub\":\"admin@example.com\",\"email\":\"admin@example.com\","
    "\"id\":\"admin@example.com\",\"booster:role\":\"Admin\",\"iat\":1699999990}";

Test(auth, rs256_token_gives_booster_user_envelope)
{
    rj_auth_t *a = booster_auth(rsa1.pub);
    char *t = mint(JWT_ALG_RS256, rsa1.priv, "booster", booster_claims);
    json_t *user = expect_accepted(a, t);

    json_t *want_claims = json_loads(booster_claims, 0, NULL);
    json_t *want = json_pack("{s:s, s:s, s:[s], s:O, s:{s:s, s:s, s:s}}", "id", "admin@example.com",
                             "username", "admin@example.com", "roles", "Admin", "claims",
                             want_claims, "header", "alg", "RS256", "typ", "JWT", "kid", "booster");
    char *got_s = json_dumps(user, JSON_SORT_KEYS);
    char *want_s = json_dumps(want, JSON_SORT_KEYS);
    cr_expect(json_equal(user, want), "got %s\nwant %s", got_s, want_s);
    free(got_s);
    free(want_s);
    json_decref(want);
    json_decref(want_claims);
    json_decref(user);
    free(t);
    rj_auth_free(a);
}

Test(auth, es256_token_is_accepted_by_a_p256_key)
{
    rj_auth_t *a = booster_auth(ec1.pub);
    cr_expect_str_eq(rj_auth_verifier_alg(a, 0), "ES256");
    char *t = mint(JWT_ALG_ES256, ec1.priv, NULL, booster_claims);
    json_t *user = expect_accepted(a, t);
    cr_expect_str_eq(json_string_value(json_object_get(user, "id")), "admin@example.com");
    json_decref(user);
    free(t);
    rj_auth_free(a);
}

Test(auth, expired_and_not_yet_valid_tokens)
{
    rj_auth_t *a = booster_auth(rsa1.pub);
    char *expired = mint(JWT_ALG_RS256, rsa1.priv, "booster",
                         "{\"iss\":\"booster\",\"sub\":\"u\",\"exp\":1699999999}");
    expect_refused(a, expired, "TokenExpiredError: jwt expired", "BoosterTokenExpiredError");
    /* exp == now is expired already (jsonwebtoken: now >= exp). */
    char *at_now = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                        "{\"iss\":\"booster\",\"sub\":\"u\",\"exp\":1700000000}");
    expect_refused(a, at_now, "TokenExpiredError: jwt expired", "BoosterTokenExpiredError");
    char *early = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                       "{\"iss\":\"booster\",\"sub\":\"u\",\"nbf\":1700000060}");
    expect_refused(a, early, "NotBeforeError: jwt not active", "BoosterTokenNotBeforeError");
    /* Both wrong: nbf is checked first, as jsonwebtoken does. */
    char *both = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                      "{\"iss\":\"booster\",\"sub\":\"u\",\"nbf\":1700000060,\"exp\":1600000000}");
    expect_refused(a, both, "NotBeforeError: jwt not active", "BoosterTokenNotBeforeError");
    char *bad_exp = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                         "{\"iss\":\"booster\",\"sub\":\"u\",\"exp\":\"tomorrow\"}");
    expect_refused(a, bad_exp, "JsonWebTokenError: invalid exp value", "NotAuthorizedError");
    char *valid = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                       "{\"iss\":\"booster\",\"sub\":\"u\",\"nbf\":1700000000,\"exp\":1700000001}");
    json_decref(expect_accepted(a, valid));
    free(expired);
    free(at_now);
    free(early);
    free(both);
    free(bad_exp);
    free(valid);
    rj_auth_free(a);
}

Test(auth, leeway_tolerates_a_little_clock_skew)
{
    rj_auth_verifier_conf_t c = {.issuer = "booster", .pem = rsa1.pub};
    rj_auth_t *a = auth_of(&c, 1, 30);
    char *recent = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                        "{\"iss\":\"booster\",\"sub\":\"u\",\"exp\":1699999980}");
    json_decref(expect_accepted(a, recent));
    char *early = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                       "{\"iss\":\"booster\",\"sub\":\"u\",\"nbf\":1700000020}");
    json_decref(expect_accepted(a, early));
    char *old = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                     "{\"iss\":\"booster\",\"sub\":\"u\",\"exp\":1699999960}");
    expect_refused(a, old, "TokenExpiredError: jwt expired", "BoosterTokenExpiredError");
    free(recent);
    free(early);
    free(old);
    rj_auth_free(a);
}

/* iat in the future beyond the leeway is refused; within it, or in the past, accepted. */
Test(auth, iat_in_the_future_is_refused_beyond_the_leeway)
{
    rj_auth_verifier_conf_t c = {.issuer = "booster", .pem = rsa1.pub};
    rj_auth_t *a = auth_of(&c, 1, 30);
    char *future = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                        "{\"iss\":\"booster\",\"sub\":\"u\",\"iat\":1700000031}");
    expect_refused(a, future, "JsonWebTokenError: jwt issued in the future", "NotAuthorizedError");
    char *skewed = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                        "{\"iss\":\"booster\",\"sub\":\"u\",\"iat\":1700000030}");
    json_decref(expect_accepted(a, skewed));
    char *past = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                      "{\"iss\":\"booster\",\"sub\":\"u\",\"iat\":1600000000}");
    json_decref(expect_accepted(a, past));
    free(future);
    free(skewed);
    free(past);
    rj_auth_free(a);
}

Test(auth, wrong_issuer_bad_signature_and_tampered_payload)
{
    rj_auth_t *a = booster_auth(rsa1.pub);
    char *other = mint(JWT_ALG_RS256, rsa1.priv, NULL, "{\"iss\":\"evil\",\"sub\":\"u\"}");
    expect_refused(a, other, "JsonWebTokenError: jwt issuer invalid. expected: booster",
                   "NotAuthorizedError");
    char *no_iss = mint(JWT_ALG_RS256, rsa1.priv, NULL, "{\"sub\":\"u\"}");
    expect_refused(a, no_iss, "JsonWebTokenError: jwt issuer invalid. expected: booster",
                   "NotAuthorizedError");
    char *foreign = mint(JWT_ALG_RS256, rsa2.priv, "booster", booster_claims);
    expect_refused(a, foreign, "JsonWebTokenError: invalid signature", "NotAuthorizedError");

    /* Same header and signature, another payload (an escalated role). */
    char *good = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                      "{\"iss\":\"booster\",\"sub\":\"u\",\"booster:role\":\"User\"}");
    char *tampered_claims = mint(JWT_ALG_RS256, rsa2.priv, NULL,
                                 "{\"iss\":\"booster\",\"sub\":\"u\",\"booster:role\":\"Admin\"}");
    const char *p1 = strchr(good, '.'), *s1 = strrchr(good, '.');
    const char *p2 = strchr(tampered_claims, '.'), *s2 = strrchr(tampered_claims, '.');
    char *tampered = rj_xasprintf("%.*s%.*s%s", (int)(p1 - good), good, (int)(s2 - p2), p2, s1);
    expect_refused(a, tampered, "JsonWebTokenError: invalid signature", "NotAuthorizedError");
    /* A truncated signature. */
    good[strlen(good) - 4] = '\0';
    expect_refused(a, good, "JsonWebTokenError: invalid signature", "NotAuthorizedError");
    free(other);
    free(no_iss);
    free(foreign);
    free(good);
    free(tampered_claims);
    free(tampered);
    rj_auth_free(a);
}

Test(auth, algorithm_confusion_is_refused)
{
    rj_auth_t *a = booster_auth(rsa1.pub);
    /* HS256 keyed with the public PEM: libjwt's jwt_decode would accept this. */
    char *hs = mint(JWT_ALG_HS256, rsa1.pub, NULL, booster_claims);
    expect_refused(a, hs, "JsonWebTokenError: invalid algorithm", "NotAuthorizedError");
    /* alg none, unsigned: no signature at all. */
    char *none = mint(JWT_ALG_NONE, NULL, NULL, booster_claims);
    expect_refused(a, none, "JsonWebTokenError: jwt signature is required", "NotAuthorizedError");
    /* alg none with a signature copied from a valid token. */
    char *valid = mint(JWT_ALG_RS256, rsa1.priv, NULL, booster_claims);
    char *none_signed =
        rj_xasprintf("%.*s%s", (int)(strrchr(none, '.') - none), none, strrchr(valid, '.'));
    expect_refused(a, none_signed, "JsonWebTokenError: invalid algorithm", "NotAuthorizedError");
    /* ES256 against an RSA key, RS256 against an EC key. */
    char *es = mint(JWT_ALG_ES256, ec1.priv, NULL, booster_claims);
    expect_refused(a, es, "JsonWebTokenError: invalid algorithm", "NotAuthorizedError");
    rj_auth_t *e = booster_auth(ec1.pub);
    expect_refused(e, valid, "JsonWebTokenError: invalid algorithm", "NotAuthorizedError");
    char *rs384 = mint(JWT_ALG_RS384, rsa1.priv, NULL, booster_claims);
    expect_refused(a, rs384, "JsonWebTokenError: invalid algorithm", "NotAuthorizedError");
    free(hs);
    free(none);
    free(valid);
    free(none_signed);
    free(es);
    free(rs384);
    rj_auth_free(e);
    rj_auth_free(a);
}

Test(auth, kid_is_not_a_key_selector)
{
    /* A public-key verifier has one key (Booster's PublicKeyTokenVerifier ignores kid): a
       kid naming no known key neither helps a foreign token nor hurts a genuine one. */
    rj_auth_t *a = booster_auth(rsa1.pub);
    char *genuine = mint(JWT_ALG_RS256, rsa1.priv, "nowhere", booster_claims);
    json_t *user = expect_accepted(a, genuine);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(user, "header"), "kid")),
                     "nowhere");
    char *foreign = mint(JWT_ALG_RS256, rsa2.priv, "nowhere", booster_claims);
    expect_refused(a, foreign, "JsonWebTokenError: invalid signature", "NotAuthorizedError");
    json_decref(user);
    free(genuine);
    free(foreign);
    rj_auth_free(a);
}

Test(auth, malformed_and_oversized_tokens)
{
    rj_auth_t *a = booster_auth(rsa1.pub);
    expect_refused(a, "abc", "JsonWebTokenError: jwt malformed", "NotAuthorizedError");
    expect_refused(a, "a.b.c.d", "JsonWebTokenError: jwt malformed", "NotAuthorizedError");
    expect_refused(a, "a.b", "JsonWebTokenError: jwt malformed", "NotAuthorizedError");
    expect_refused(a, "!!.e30.c2ln", "JsonWebTokenError: invalid token", "NotAuthorizedError");
    expect_refused(a, ".e30.c2ln", "JsonWebTokenError: invalid token", "NotAuthorizedError");
    /* "bm90IGpzb24" = "not json"; "WzFd" = "[1]" (JSON, not an object). */
    expect_refused(a, "bm90IGpzb24.e30.c2ln", "JsonWebTokenError: invalid token",
                   "NotAuthorizedError");
    expect_refused(a, "e30.WzFd.c2ln", "JsonWebTokenError: invalid token", "NotAuthorizedError");
    expect_refused(a, "", "JsonWebTokenError: jwt must be provided", "NotAuthorizedError");

    /* A genuine signature over a huge payload is refused before any cryptography. */
    char *pad = rj_xmalloc(RJ_AUTH_TOKEN_MAX + 1);
    memset(pad, 'x', RJ_AUTH_TOKEN_MAX);
    pad[RJ_AUTH_TOKEN_MAX] = '\0';
    char *claims = rj_xasprintf("{\"iss\":\"booster\",\"sub\":\"u\",\"pad\":\"%s\"}", pad);
    char *big = mint(JWT_ALG_RS256, rsa1.priv, NULL, claims);
    cr_assert_gt(strlen(big), RJ_AUTH_TOKEN_MAX);
    expect_refused(a, big, "JsonWebTokenError: jwt too large", "NotAuthorizedError");
    free(pad);
    free(claims);
    free(big);
    rj_auth_free(a);
}

Test(auth, roles_from_a_string_an_array_or_nothing)
{
    rj_auth_t *a = booster_auth(rsa1.pub);
    static const struct {
        const char *claims;
        const char *roles;
    } cases[] = {
        {"{\"iss\":\"booster\",\"booster:role\":\"Admin\"}", "[\"Admin\"]"},
        {"{\"iss\":\"booster\",\"booster:role\":[\"Admin\",3,\"UserWithEmail\"]}",
         "[\"Admin\",\"UserWithEmail\"]"},
        {"{\"iss\":\"booster\",\"booster:role\":\"\"}", "[]"},
        {"{\"iss\":\"booster\",\"booster:role\":{\"a\":1}}", "[]"},
        {"{\"iss\":\"booster\",\"custom:role\":\"Admin\"}", "[]"},
        {"{\"iss\":\"booster\"}", "[]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = mint(JWT_ALG_RS256, rsa1.priv, NULL, cases[i].claims);
        json_t *user = expect_accepted(a, t);
        char *roles = json_dumps(json_object_get(user, "roles"), JSON_COMPACT);
        cr_expect_str_eq(roles, cases[i].roles, "case %zu", i);
        /* No sub: no id and no username (undefined members vanish). */
        cr_expect_null(json_object_get(user, "id"));
        cr_expect_null(json_object_get(user, "username"));
        free(roles);
        json_decref(user);
        free(t);
    }
    rj_auth_free(a);

    /* Without a roles claim name, Booster's default custom:role. */
    rj_auth_verifier_conf_t c = {.issuer = "booster", .pem = rsa1.pub};
    a = auth_of(&c, 1, 0);
    char *t = mint(JWT_ALG_RS256, rsa1.priv, NULL, "{\"iss\":\"booster\",\"custom:role\":\"X\"}");
    json_t *user = expect_accepted(a, t);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(user, "roles"), 0)), "X");
    json_decref(user);
    free(t);
    rj_auth_free(a);
}

Test(auth, username_is_email_or_phone_number_or_sub)
{
    rj_auth_t *a = booster_auth(rsa1.pub);
    static const struct {
        const char *claims;
        const char *username;
    } cases[] = {
        {"{\"iss\":\"booster\",\"sub\":\"s\",\"email\":\"e@x\",\"phone_number\":\"+1\"}", "e@x"},
        {"{\"iss\":\"booster\",\"sub\":\"s\",\"email\":\"\",\"phone_number\":\"+1\"}", "+1"},
        {"{\"iss\":\"booster\",\"sub\":\"s\"}", "s"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *t = mint(JWT_ALG_RS256, rsa1.priv, NULL, cases[i].claims);
        json_t *user = expect_accepted(a, t);
        cr_expect_str_eq(json_string_value(json_object_get(user, "username")), cases[i].username,
                         "case %zu", i);
        cr_expect_str_eq(json_string_value(json_object_get(user, "id")), "s");
        json_decref(user);
        free(t);
    }
    rj_auth_free(a);
}

Test(auth, several_verifiers_first_acceptance_wins_else_all_reasons)
{
    rj_auth_verifier_conf_t confs[] = {
        {.issuer = "booster", .pem = rsa1.pub, .roles_claim = "booster:role"},
        {.issuer = "partner", .pem = ec1.pub, .roles_claim = "partner:roles"},
    };
    rj_auth_t *a = auth_of(confs, 2, 0);
    cr_expect_eq(rj_auth_verifier_count(a), 2);

    char *ours = mint(JWT_ALG_RS256, rsa1.priv, NULL, booster_claims);
    json_t *user = expect_accepted(a, ours);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(user, "roles"), 0)), "Admin");
    json_decref(user);

    char *theirs = mint(JWT_ALG_ES256, ec1.priv, NULL,
                        "{\"iss\":\"partner\",\"sub\":\"p\",\"partner:roles\":[\"Admin\"]}");
    user = expect_accepted(a, theirs);
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(user, "roles"), 0)), "Admin");
    json_decref(user);

    char *expired = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                         "{\"iss\":\"booster\",\"sub\":\"u\",\"exp\":1600000000}");
    expect_refused(a, expired,
                   "TokenExpiredError: jwt expired\nJsonWebTokenError: invalid algorithm",
                   "BoosterTokenExpiredError");
    char *early = mint(JWT_ALG_ES256, ec1.priv, NULL,
                       "{\"iss\":\"partner\",\"sub\":\"u\",\"nbf\":1800000000}");
    expect_refused(a, early, "JsonWebTokenError: invalid algorithm\nNotBeforeError: jwt not active",
                   "BoosterTokenNotBeforeError");
    /* The partner's key signing for the issuer booster is no good to either. */
    char *forged = mint(JWT_ALG_ES256, ec1.priv, NULL, booster_claims);
    expect_refused(a, forged,
                   "JsonWebTokenError: invalid algorithm\nJsonWebTokenError: jwt issuer invalid. "
                   "expected: partner",
                   "NotAuthorizedError");
    /* Structural reasons repeat per verifier, as N jsonwebtoken calls print them. */
    expect_refused(a, "x", "JsonWebTokenError: jwt malformed\nJsonWebTokenError: jwt malformed",
                   "NotAuthorizedError");
    free(ours);
    free(theirs);
    free(expired);
    free(early);
    free(forged);
    rj_auth_free(a);
}

Test(auth, no_verifier_trusts_nothing)
{
    rj_auth_t *a = auth_of(NULL, 0, 0);
    char *t = mint(JWT_ALG_RS256, rsa1.priv, NULL, booster_claims);
    expect_refused(a, t, "JsonWebTokenError: no token issuer is trusted", "NotAuthorizedError");
    free(t);
    rj_auth_free(a);
}

Test(auth, authorization_header_forms)
{
    rj_auth_t *a = booster_auth(rsa1.pub);
    char *t = mint(JWT_ALG_RS256, rsa1.priv, NULL, booster_claims);
    rj_error_t err;
    json_t *user = (json_t *)1;

    cr_expect_eq(rj_auth_verify_authorization(a, NULL, 0, NOW, &user, &err), RJ_OK);
    cr_expect_null(user, "no header: anonymous");
    cr_expect_eq(rj_auth_verify_authorization(a, "", 0, NOW, &user, &err), RJ_OK);
    cr_expect_null(user, "an empty header: anonymous");

    char *bearer = rj_xasprintf("Bearer %s", t);
    cr_expect_eq(rj_auth_verify_authorization(a, bearer, strlen(bearer), NOW, &user, &err), RJ_OK,
                 "%s", err.msg);
    cr_expect_not_null(user);
    json_decref(user);
    cr_expect_eq(rj_auth_verify_authorization(a, t, strlen(t), NOW, &user, &err), RJ_OK,
                 "a bare token is verified too (Booster's replace finds nothing)");
    json_decref(user);

    cr_expect_eq(rj_auth_verify_authorization(a, "Bearer ", 7, NOW, &user, &err), RJ_EAUTH);
    cr_expect_str_eq(err.msg, "JsonWebTokenError: jwt must be provided");
    cr_expect_eq(rj_auth_verify_authorization(a, "bearer x", 8, NOW, &user, &err), RJ_EAUTH);
    cr_expect_str_eq(err.msg, "JsonWebTokenError: jwt malformed", "the replace is case-sensitive");
    free(bearer);
    free(t);
    rj_auth_free(a);
}

/* A self-signed certificate for @p kp, as PEM. */
static char *
certificate_of(const keypair_t *kp)
{
    X509 *x = X509_new();
    cr_assert_not_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"booster", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, kp->key);
    cr_assert_gt(X509_sign(x, kp->key, EVP_sha256()), 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    X509_free(x);
    return bio_string(b);
}

Test(auth, keys_as_certificates_and_unusable_keys)
{
    char *cert = certificate_of(&rsa1);
    rj_auth_t *a = booster_auth(cert);
    char *t = mint(JWT_ALG_RS256, rsa1.priv, NULL, booster_claims);
    json_decref(expect_accepted(a, t));
    rj_auth_free(a);
    free(t);
    free(cert);

    keypair_t p384 = make_keypair(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"));
    keypair_t ed = make_keypair(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
    static const char garbage[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    const struct {
        const char *pem;
        const char *message;
    } cases[] = {
        {garbage, "could not configure token verifier issuer=booster: the key is not a PEM "
                  "public key or certificate"},
        {rsa1.priv, "could not configure token verifier issuer=booster: the key is not a PEM "
                    "public key or certificate"},
        {p384.pub, "could not configure token verifier issuer=booster: unsupported EC key on "
                   "curve secp384r1 (ES256 needs P-256)"},
        {ed.pub, "could not configure token verifier issuer=booster: unsupported key type "
                 "ED25519 (expected RSA or EC P-256)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rj_auth_verifier_conf_t c = {.issuer = "booster", .pem = cases[i].pem};
        rj_error_t err;
        rj_error_clear(&err);
        cr_expect_null(rj_auth_new(&c, 1, 0, &err), "case %zu", i);
        cr_expect_eq(err.status, RJ_EINVAL);
        cr_expect_str_eq(err.msg, cases[i].message, "case %zu", i);
    }
    rj_auth_verifier_conf_t c = {.issuer = "booster", .pem = rsa1.pub};
    rj_error_t err;
    cr_expect_null(rj_auth_new(&c, 1, -1, &err));
    cr_expect_null(rj_auth_new(&c, 1, RJ_AUTH_LEEWAY_MAX + 1, &err));
    c.issuer = "";
    cr_expect_null(rj_auth_new(&c, 1, 0, &err));
    free_keypair(&p384);
    free_keypair(&ed);
}

Test(auth, leeway_from_the_environment)
{
    int64_t v = -1;
    rj_error_t err;
    unsetenv(RJ_AUTH_LEEWAY_ENV);
    cr_expect_eq(rj_auth_leeway_from_env(&v, &err), RJ_OK);
    cr_expect_eq(v, 0);
    setenv(RJ_AUTH_LEEWAY_ENV, "30", 1);
    cr_expect_eq(rj_auth_leeway_from_env(&v, &err), RJ_OK);
    cr_expect_eq(v, 30);
    static const char *const bad[] = {"-1", "3601", "10s", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv(RJ_AUTH_LEEWAY_ENV, bad[i], 1);
        cr_expect_eq(rj_auth_leeway_from_env(&v, &err), RJ_EINVAL, "%s", bad[i]);
    }
    unsetenv(RJ_AUTH_LEEWAY_ENV);
}

/* ---- application checks and custom verifiers ---- */

/* Refuses tokens whose jti is "revoked"; tokens whose aud is "old" count as expired. */
static rj_status_t
check_revocation(const json_t *header, const json_t *claims, rj_error_t *err)
{
    cr_expect(json_is_object(header));
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    if (jti != NULL && strcmp(jti, "revoked") == 0)
        return rj_error_set(err, RJ_EAUTH, "token revoked");
    const char *aud = json_string_value(json_object_get(claims, "aud"));
    if (aud != NULL && strcmp(aud, "old") == 0) {
        rj_error_set(err, RJ_EAUTH, "audience retired");
        rj_error_set_code(err, RJ_AUTH_CODE_EXPIRED);
        return RJ_EAUTH;
    }
    if (aud != NULL && strcmp(aud, "silent") == 0)
        return RJ_EAUTH;
    return RJ_OK;
}

Test(auth, a_check_runs_after_the_standard_checks_and_can_refuse)
{
    rj_auth_verifier_conf_t c = {.issuer = "booster",
                                 .pem = rsa1.pub,
                                 .roles_claim = "booster:role",
                                 .check = check_revocation};
    rj_auth_t *a = auth_of(&c, 1, 0);

    char *good = mint(JWT_ALG_RS256, rsa1.priv, NULL, booster_claims);
    json_t *user = expect_accepted(a, good);
    json_decref(user);

    char *revoked = mint(JWT_ALG_RS256, rsa1.priv, NULL,
                         "{\"iss\":\"booster\",\"sub\":\"u\",\"jti\":\"revoked\"}");
    expect_refused(a, revoked, "token revoked", "NotAuthorizedError");
    char *old = mint(JWT_ALG_RS256, rsa1.priv, NULL, "{\"iss\":\"booster\",\"aud\":\"old\"}");
    expect_refused(a, old, "audience retired", "BoosterTokenExpiredError");
    char *silent = mint(JWT_ALG_RS256, rsa1.priv, NULL, "{\"iss\":\"booster\",\"aud\":\"silent\"}");
    expect_refused(a, silent, "JsonWebTokenError: token refused", "NotAuthorizedError");
    /* The check never sees a token the standard checks refused: a forged revoked token
       fails on its signature. */
    char *forged = mint(JWT_ALG_RS256, rsa2.priv, NULL,
                        "{\"iss\":\"booster\",\"sub\":\"u\",\"jti\":\"revoked\"}");
    expect_refused(a, forged, "JsonWebTokenError: invalid signature", "NotAuthorizedError");
    free(good);
    free(revoked);
    free(old);
    free(silent);
    free(forged);
    rj_auth_free(a);
}

/* Accepts "key-<sub>" API keys; "key-" alone is refused with a reason. */
static rj_status_t
verify_api_key(const char *token, json_t **header, json_t **claims, rj_error_t *err)
{
    (void)header;
    if (strncmp(token, "key-", 4) != 0)
        return rj_error_set(err, RJ_EAUTH, "not an API key");
    if (token[4] == '\0')
        return RJ_EAUTH;
    *claims = json_pack("{s:s, s:s}", "sub", token + 4, "api:roles", "Admin");
    return RJ_OK;
}

/* Claims that are not an object are a bug in the verifier: the token is refused. */
static rj_status_t
verify_broken(const char *token, json_t **header, json_t **claims, rj_error_t *err)
{
    (void)token;
    (void)err;
    *header = json_string("not an object");
    *claims = json_array();
    return RJ_OK;
}

Test(auth, a_custom_verifier_decides_on_the_raw_token)
{
    rj_auth_verifier_conf_t confs[] = {
        {.issuer = "api-keys", .custom = verify_api_key, .roles_claim = "api:roles"},
        {.issuer = "booster", .pem = rsa1.pub, .roles_claim = "booster:role"},
    };
    rj_auth_t *a = auth_of(confs, 2, 0);
    cr_expect_str_eq(rj_auth_verifier_alg(a, 0), "custom");

    json_t *user = expect_accepted(a, "key-robot");
    cr_expect_str_eq(json_string_value(json_object_get(user, "id")), "robot");
    cr_expect_str_eq(json_string_value(json_array_get(json_object_get(user, "roles"), 0)), "Admin");
    cr_expect(json_is_object(json_object_get(user, "header")));
    json_decref(user);

    /* A JWT is not an API key, so the next verifier takes it. */
    char *jwt = mint(JWT_ALG_RS256, rsa1.priv, NULL, booster_claims);
    user = expect_accepted(a, jwt);
    cr_expect_str_eq(json_string_value(json_object_get(user, "id")), "admin@example.com");
    json_decref(user);

    expect_refused(a, "key-", "JsonWebTokenError: token refused\nJsonWebTokenError: jwt malformed",
                   "NotAuthorizedError");
    expect_refused(a, "nope", "not an API key\nJsonWebTokenError: jwt malformed",
                   "NotAuthorizedError");
    free(jwt);
    rj_auth_free(a);

    rj_auth_verifier_conf_t broken = {.issuer = "broken", .custom = verify_broken};
    a = auth_of(&broken, 1, 0);
    expect_refused(a, "anything", "JsonWebTokenError: token refused", "NotAuthorizedError");
    rj_auth_free(a);
}

Test(auth, custom_verifiers_and_checks_are_configured_consistently)
{
    rj_error_t err;
    rj_auth_verifier_conf_t both = {.issuer = "x", .pem = rsa1.pub, .custom = verify_api_key};
    rj_error_clear(&err);
    cr_expect_null(rj_auth_new(&both, 1, 0, &err));
    cr_expect_eq(err.status, RJ_EINVAL);
    rj_auth_verifier_conf_t checked = {.custom = verify_api_key, .check = check_revocation};
    rj_error_clear(&err);
    cr_expect_null(rj_auth_new(&checked, 1, 0, &err));
    cr_expect_eq(err.status, RJ_EINVAL);
    /* A custom verifier needs no issuer. */
    rj_auth_verifier_conf_t anonymous = {.custom = verify_api_key};
    rj_auth_t *a = auth_of(&anonymous, 1, 0);
    rj_auth_free(a);
}
