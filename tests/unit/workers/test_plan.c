/*
 * test_plan.c - the projector's batch model (services/projector/plan.c): newest snapshot
 * per entity, the row cache, write planning and join ids.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/core.h"
#include "projector/plan.h"
#include "json/envelope.h"

static void
add(proj_batch_t *b, const char *entity_id, int64_t version)
{
    char id[RJ_UUID_STRLEN];
    rj_uuid_v4(id);
    json_t *value = json_pack("{s:s, s:I}", "id", entity_id, "v", (json_int_t)version);
    const rj_env_snapshot_t env = {
        .entity = "Cart",
        .entity_id = entity_id,
        .version = version,
        .value = value,
        .last_event_id = id,
        .created_at = "2026-11-22T10:00:00.131Z",
    };
    char *s = rj_env_snapshot_encode(&env);
    json_decref(value);
    rj_error_t err;
    cr_assert_eq(proj_batch_add(b, s, strlen(s), b->n_snaps, &err), RJ_OK, "%s", err.msg);
    free(s);
}

Test(plan, keeps_the_newest_snapshot_per_entity)
{
    proj_batch_t b;
    proj_batch_init(&b);
    add(&b, "c1", 1);
    add(&b, "c2", 7);
    add(&b, "c1", 3);
    add(&b, "c1", 2); /* an older one redelivered after a newer one */
    cr_assert_eq(b.n_entities, 2);
    const rj_env_snapshot_t *s = proj_entity_snapshot(&b, &b.entities[0]);
    cr_assert_str_eq(s->entity_id, "c1");
    cr_assert_eq(s->version, 3);
    cr_assert_eq(json_integer_value(json_object_get(s->value, "v")), 3);
    cr_assert_eq(b.snaps[b.entities[0].snap].msg, 2);
    cr_assert_eq(proj_entity_snapshot(&b, &b.entities[1])->version, 7);

    rj_error_t err;
    cr_assert_eq(proj_batch_add(&b, "[]", 2, 9, &err), RJ_EPROTO);
    cr_assert_eq(b.n_snaps, 4);
    proj_batch_deinit(&b);
}

Test(plan, projected_versions_decide_what_is_live)
{
    proj_batch_t b;
    proj_batch_init(&b);
    add(&b, "c1", 3);
    add(&b, "c2", 5);
    proj_batch_reset(&b);
    proj_entity_t *c1 = proj_batch_find_entity(&b, "Cart", "c1");
    proj_entity_t *c2 = proj_batch_find_entity(&b, "Cart", "c2");
    cr_assert_not_null(c1);
    cr_assert_null(proj_batch_find_entity(&b, "Cart", "c3"));
    c1->projected = 3; /* already projected before a crash */
    c2->projected = 4;
    cr_assert_not(proj_entity_live(&b, c1));
    cr_assert(proj_entity_live(&b, c2));
    proj_batch_reset(&b);
    cr_assert(proj_entity_live(&b, c1), "a reset forgets the loaded versions");
    proj_batch_deinit(&b);
}

Test(plan, row_cache_is_keyed_by_read_model_id_and_sequence)
{
    proj_batch_t b;
    proj_batch_init(&b);
    proj_row_t *r = proj_batch_row(&b, "CartReadModel", "c1", "");
    r->touched = true;
    cr_assert_eq(proj_batch_row(&b, "CartReadModel", "c1", ""), &b.rows[0]);
    cr_assert(b.rows[0].touched);
    proj_batch_row(&b, "CartReadModel", "c1", "2026");
    proj_batch_row(&b, "OrderReadModel", "c1", "");
    cr_assert_eq(b.n_rows, 3);
    proj_batch_reset(&b);
    cr_assert_eq(b.n_rows, 0);
    proj_batch_deinit(&b);
}

Test(plan, writes_follow_the_projection_results)
{
    proj_row_t r = {0};
    int64_t v = -1;
    cr_assert_eq(proj_row_write(&r, &v), PROJ_WRITE_NONE, "untouched: no write");

    /* a new row */
    proj_row_apply(&r, RJ_APP_PROJECT_WRITE, json_pack("{s:i}", "a", 1));
    cr_assert_eq(proj_row_write(&r, &v), PROJ_WRITE_UPSERT);
    cr_assert_eq(v, 1);
    proj_row_apply(&r, RJ_APP_PROJECT_NOTHING, NULL);
    cr_assert_eq(proj_row_write(&r, &v), PROJ_WRITE_UPSERT, "NOTHING keeps earlier results");
    proj_row_apply(&r, RJ_APP_PROJECT_DELETE, NULL);
    cr_assert_eq(proj_row_write(&r, &v), PROJ_WRITE_NONE, "created and deleted: nothing");

    /* a stored row at version 4 */
    proj_row_t s = {0};
    proj_row_set_loaded(&s, 4, json_pack("{s:i}", "a", 1));
    cr_assert_eq(proj_row_write(&s, &v), PROJ_WRITE_NONE);
    proj_row_apply(&s, RJ_APP_PROJECT_NOTHING, NULL);
    cr_assert_eq(proj_row_write(&s, &v), PROJ_WRITE_NONE, "NOTHING: no write, no notification");
    proj_row_apply(&s, RJ_APP_PROJECT_WRITE, json_pack("{s:i}", "a", 2));
    proj_row_apply(&s, RJ_APP_PROJECT_WRITE, json_pack("{s:i}", "a", 3));
    cr_assert_eq(proj_row_write(&s, &v), PROJ_WRITE_UPSERT);
    cr_assert_eq(v, 5, "one version per batch, whatever number of projections touched it");
    cr_assert_eq(json_integer_value(json_object_get(s.value, "a")), 3);
    proj_row_apply(&s, RJ_APP_PROJECT_DELETE, NULL);
    cr_assert_eq(proj_row_write(&s, &v), PROJ_WRITE_DELETE);
    cr_assert_eq(v, 5);
    proj_row_apply(&s, RJ_APP_PROJECT_WRITE, json_pack("{s:i}", "a", 4));
    cr_assert_eq(proj_row_write(&s, &v), PROJ_WRITE_UPSERT, "deleted then written: upsert");
    json_decref(s.value);
}

static size_t
ids_of(const char *json, const char *field, char ***ids)
{
    json_t *entity = json_loads(json, 0, NULL);
    cr_assert_not_null(entity, "%s", json);
    size_t n = proj_join_ids(entity, field, ids);
    json_decref(entity);
    return n;
}

static void
free_ids(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

Test(plan, join_ids_from_scalars_and_arrays)
{
    char **ids;
    size_t n = ids_of("{\"id\":\"c1\"}", "id", &ids);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(ids[0], "c1");
    free_ids(ids, n);

    n = ids_of("{\"id\":42}", "id", &ids);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(ids[0], "42");
    free_ids(ids, n);

    n = ids_of("{\"productIds\":[\"p1\",null,\"\",7,{\"x\":1},\"p2\"]}", "productIds", &ids);
    cr_assert_eq(n, 3, "one id per usable element");
    cr_assert_str_eq(ids[0], "p1");
    cr_assert_str_eq(ids[1], "7");
    cr_assert_str_eq(ids[2], "p2");
    free_ids(ids, n);

    const char *none[] = {"{}",          "{\"id\":null}",     "{\"id\":false}", "{\"id\":\"\"}",
                          "{\"id\":[]}", "{\"id\":{\"a\":1}}"};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        n = ids_of(none[i], "id", &ids);
        cr_assert_eq(n, 0, "%s", none[i]);
        cr_assert_null(ids);
    }
}
