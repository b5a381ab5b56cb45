/*
 * test_ryw.c - read-your-writes tokens: the round trip, merging, the bound on writes, and
 * the refusal of every malformed token with a message.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "readside/ryw.h"

/* Base64url of @p json, the way a forger would build a token. */
static char *
forge(const char *json)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t n = strlen(json);
    char *out = malloc(n * 2 + 4);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | (unsigned char)json[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = a[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = a[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return out;
}

Test(ryw, round_trip)
{
    rj_ryw_t t, back;
    rj_ryw_init(&t);
    rj_ryw_init(&back);
    rj_ryw_note(&t, "Cart", "c1", 3);
    rj_ryw_note(&t, "Order", "o-9", 1);
    char *tok = rj_ryw_encode(&t);
    rj_error_t err = {0};
    cr_assert_eq(rj_ryw_note_token(&back, tok, strlen(tok), &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(back.n, 2);
    cr_expect_str_eq(back.w[0].entity, "Cart");
    cr_expect_str_eq(back.w[0].id, "c1");
    cr_expect_eq(back.w[0].version, 3);
    cr_expect_str_eq(back.w[1].entity, "Order");
    cr_expect_eq(back.w[1].version, 1);
    cr_expect_null(strpbrk(tok, "+/="), "base64url, unpadded: %s", tok);
    free(tok);
    rj_ryw_deinit(&t);
    rj_ryw_deinit(&back);
}

Test(ryw, empty_set_has_a_token)
{
    rj_ryw_t t, back;
    rj_ryw_init(&t);
    rj_ryw_init(&back);
    char *tok = rj_ryw_encode(&t);
    rj_error_t err = {0};
    cr_assert_eq(rj_ryw_note_token(&back, tok, strlen(tok), &err), RJ_OK, "%s", err.msg);
    cr_expect_eq(back.n, 0);
    free(tok);
}

Test(ryw, merge_keeps_the_higher_version_and_moves_it_last)
{
    rj_ryw_t t;
    rj_ryw_init(&t);
    rj_ryw_note(&t, "Cart", "a", 5);
    rj_ryw_note(&t, "Cart", "b", 1);
    rj_ryw_note(&t, "Cart", "a", 2);
    cr_assert_eq(t.n, 2);
    cr_expect_str_eq(t.w[1].id, "a");
    cr_expect_eq(t.w[1].version, 5);
    rj_ryw_note(&t, "Cart", "b", 7);
    cr_expect_str_eq(t.w[1].id, "b");
    cr_expect_eq(t.w[1].version, 7);
    rj_ryw_deinit(&t);
}

Test(ryw, full_set_forgets_the_oldest)
{
    rj_ryw_t t;
    rj_ryw_init(&t);
    char id[16];
    for (int i = 0; i < RJ_RYW_MAX_WRITES + 3; i++) {
        snprintf(id, sizeof id, "c%d", i);
        rj_ryw_note(&t, "Cart", id, i + 1);
    }
    cr_assert_eq(t.n, RJ_RYW_MAX_WRITES);
    cr_expect_str_eq(t.w[0].id, "c3");
    snprintf(id, sizeof id, "c%d", RJ_RYW_MAX_WRITES + 2);
    cr_expect_str_eq(t.w[RJ_RYW_MAX_WRITES - 1].id, id);
    rj_ryw_deinit(&t);
}

Test(ryw, reply_events)
{
    rj_ryw_t t;
    rj_ryw_init(&t);
    json_t *events = json_loads("[{\"entity\":\"Cart\",\"entityId\":\"x\",\"version\":1},"
                                "{\"entity\":\"Cart\",\"entityId\":\"x\",\"version\":2},"
                                "{\"entity\":\"Cart\"},7]",
                                0, NULL);
    rj_ryw_note_events(&t, events);
    rj_ryw_note_events(&t, NULL);
    cr_assert_eq(t.n, 1);
    cr_expect_eq(t.w[0].version, 2);
    json_decref(events);
    rj_ryw_deinit(&t);
}

static void
expect_refused(const char *token, const char *why)
{
    rj_ryw_t t;
    rj_ryw_init(&t);
    rj_ryw_note(&t, "Cart", "kept", 1);
    rj_error_t err = {0};
    cr_expect_eq(rj_ryw_note_token(&t, token, strlen(token), &err), RJ_EINVAL, "%s", token);
    cr_expect_not_null(strstr(err.msg, why), "%s: %s", token, err.msg);
    cr_expect_eq(t.n, 1, "a refused token notes nothing");
    rj_ryw_deinit(&t);
}

static void
expect_forged_refused(const char *json, const char *why)
{
    char *tok = forge(json);
    expect_refused(tok, why);
    free(tok);
}

Test(ryw, malformed_tokens_are_refused)
{
    expect_refused("", "1 to 65536 bytes");
    expect_refused("not base64!", "not base64url");
    expect_refused("a", "not base64url");
    expect_forged_refused("{\"a\":1}", "not a consistency token");
    expect_forged_refused("[2,[\"Cart\",\"c\",1]]", "not a consistency token");
    expect_forged_refused("[\"1\"]", "not a consistency token");
    expect_forged_refused("[1,[\"Cart\",\"c\"]]", "[entity, id, version]");
    expect_forged_refused("[1,[\"Cart\",\"c\",0]]", "version");
    expect_forged_refused("[1,[\"Cart\",\"c\",1.5]]", "version");
    expect_forged_refused("[1,[\"Cart\",\"c\",9007199254740993]]", "version");
    expect_forged_refused("[1,[\"\",\"c\",1]]", "entity name");
    expect_forged_refused("[1,[\"Cart\",3,1]]", "entity id");
    expect_forged_refused("[1,[\"Cart\",\"a\\u0000b\",1]]", "not a consistency token");

    char *big = malloc(RJ_RYW_MAX_TOKEN + 2);
    memset(big, 'A', RJ_RYW_MAX_TOKEN + 1);
    big[RJ_RYW_MAX_TOKEN + 1] = '\0';
    expect_refused(big, "1 to 65536 bytes");
    free(big);

    char json[4096] = "[1";
    for (int i = 0; i <= RJ_RYW_MAX_WRITES; i++)
        snprintf(json + strlen(json), sizeof json - strlen(json), ",[\"Cart\",\"c%d\",1]", i);
    strcat(json, "]");
    expect_forged_refused(json, "more than 32 writes");
}
