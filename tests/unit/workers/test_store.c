/*
 * test_store.c - the event store's bulk-insert parameters (services/eventstore/store.c).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/core.h"
#include "eventstore/store.h"
#include "json/envelope.h"

static char *
event_json(const char *event_id, const char *entity_id, int64_t version, const json_t *user)
{
    json_t *value = json_pack("{s:s, s:s}", "cartId", entity_id, "note", "say \"hi\"\\");
    const rj_env_event_t env = {
        .event_id = event_id,
        .type = "CartItemChanged",
        .entity = "Cart",
        .entity_id = entity_id,
        .version = version,
        .request_id = "req-1",
        .created_at = "2026-11-22T10:00:00.130Z",
        .value = value,
        .current_user = user,
    };
    char *s = rj_env_event_encode(&env);
    json_decref(value);
    return s;
}

Test(store, builds_one_array_literal_per_column)
{
    es_batch_t b;
    es_batch_init(&b);
    json_t *user = json_pack("{s:s}", "id", "a@b");
    char *e1 = event_json("11111111-1111-4111-8111-111111111111", "c1", 1, NULL);
    char *e2 = event_json("22222222-2222-4222-8222-222222222222", "c,2}", 12, user);
    rj_error_t err;
    cr_assert_eq(es_batch_add(&b, e1, strlen(e1), &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(es_batch_add(&b, e2, strlen(e2), &err), RJ_OK, "%s", err.msg);
    cr_assert_eq(es_batch_add(&b, "not json", 8, &err), RJ_EPROTO);
    cr_assert_eq(b.n, 2);

    const char *const *p = es_batch_params(&b);
    cr_assert_str_eq(p[ES_COL_EVENT_ID], "{\"11111111-1111-4111-8111-111111111111\","
                                         "\"22222222-2222-4222-8222-222222222222\"}");
    cr_assert_str_eq(p[ES_COL_ENTITY_ID], "{\"c1\",\"c,2}\"}", "%s", p[ES_COL_ENTITY_ID]);
    cr_assert_str_eq(p[ES_COL_VERSION], "{\"1\",\"12\"}");
    cr_assert_str_eq(p[ES_COL_CURRENT_USER], "{NULL,\"{\\\"id\\\":\\\"a@b\\\"}\"}", "%s",
                     p[ES_COL_CURRENT_USER]);
    cr_assert(strstr(p[ES_COL_VALUE], "say \\\\\\\"hi\\\\\\\"\\\\\\\\") != NULL, "%s",
              p[ES_COL_VALUE]);
    cr_assert_eq(es_batch_params(&b), p, "built once per batch");
    cr_assert(strstr(es_insert_sql, "ON CONFLICT DO NOTHING") != NULL);

    es_batch_deinit(&b);
    cr_assert_eq(b.n, 0);
    free(e1);
    free(e2);
    json_decref(user);
}
