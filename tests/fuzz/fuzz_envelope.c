/*
 * fuzz_envelope.c - libFuzzer target for the envelope decoders (json/envelope.h), the
 * code that reads every message arriving from Kafka and Redis.
 *
 * The first byte picks the decoder (command, event, snapshot, read model, reply, dead
 * letter); the rest is the message. What decodes must encode, and the encoding must decode
 * again to the same encoding: a producer must never write what its consumers reject.
 * Crashes, sanitizer reports, leaks and a failed round trip (abort) are findings.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "json/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One decoder/encoder pair, driven through a generic envelope buffer. */
#define ROUND_TRIP(type, prefix, text, len)                                                        \
    do {                                                                                           \
        type env, again;                                                                           \
        rj_error_t err = {0};                                                                      \
        if (prefix##_decode(text, len, &env, &err) != RJ_OK) {                                     \
            if (err.msg[0] == '\0')                                                                \
                abort(); /* a rejection always says why */                                         \
            break;                                                                                 \
        }                                                                                          \
        char *enc = prefix##_encode(&env);                                                         \
        if (prefix##_decode(enc, strlen(enc), &again, &err) != RJ_OK)                              \
            abort();                                                                               \
        char *enc2 = prefix##_encode(&again);                                                      \
        if (strcmp(enc, enc2) != 0)                                                                \
            abort();                                                                               \
        free(enc2);                                                                                \
        free(enc);                                                                                 \
        prefix##_deinit(&again);                                                                   \
        prefix##_deinit(&env);                                                                     \
    } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool initialised;
    if (!initialised) {
        rj_core_init();
        initialised = true;
    }
    if (size < 1)
        return 0;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    switch (data[0] % 6) {
    case 0:
        ROUND_TRIP(rj_env_command_t, rj_env_command, text, len);
        break;
    case 1: {
        ROUND_TRIP(rj_env_event_t, rj_env_event, text, len);
        rj_env_event_t ev;
        if (rj_env_event_decode(text, len, &ev, NULL) == RJ_OK) {
            json_decref(rj_env_event_to_json(&ev));
            rj_env_event_deinit(&ev);
        }
        break;
    }
    case 2:
        ROUND_TRIP(rj_env_snapshot_t, rj_env_snapshot, text, len);
        break;
    case 3:
        ROUND_TRIP(rj_env_readmodel_t, rj_env_readmodel, text, len);
        break;
    case 4: {
        ROUND_TRIP(rj_env_reply_t, rj_env_reply, text, len);
        rj_env_reply_t r;
        if (rj_env_reply_decode(text, len, &r, NULL) == RJ_OK) {
            json_decref(rj_env_reply_to_json(&r));
            rj_env_reply_deinit(&r);
        }
        break;
    }
    default:
        ROUND_TRIP(rj_env_deadletter_t, rj_env_deadletter, text, len);
        break;
    }
    return 0;
}
