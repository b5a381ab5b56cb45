/*
 * fuzz_json.c - libFuzzer target for the JSON reader and printer of our own (json/parse.c,
 * json/dump.c), which read every federated service's answer and print every answer the
 * gateway sends: against jansson, whose verdicts and bytes they promise to reproduce.
 *
 * rj_json_parse must accept exactly what rj_json_loadb accepts, with an equal value, and
 * rj_json_dumps of that value must print the bytes jansson's json_dumps prints. Crashes,
 * sanitizer reports, leaks and any disagreement (abort) are findings.
 */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "json/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    json_t *ours = rj_json_parse(text, size);
    json_t *theirs = rj_json_loadb(text, size, 0, NULL);
    /*
     * One verdict differs on purpose: jansson's reader takes a raw NUL byte for the end of
     * its look-ahead buffer and skips it ("[29\0]" parses), which RFC 8259 does not allow;
     * ours refuses it. Elsewhere the verdicts must agree.
     */
    bool nul = memchr(data, 0, size) != NULL;
    if ((ours == NULL) != (theirs == NULL) && !(nul && ours == NULL))
        abort(); /* one accepted what the other refused */
    if ((ours == NULL) != (theirs == NULL)) {
        json_decref(theirs);
        return 0;
    }
    if (ours != NULL) {
        if (!json_equal(ours, theirs))
            abort();
        char *a = rj_json_dumps(ours);
        char *b = json_dumps(theirs, JSON_COMPACT | JSON_ENCODE_ANY);
        if (a == NULL || b == NULL || strcmp(a, b) != 0)
            abort(); /* printed differently */
        free(a);
        free(b);
    }
    json_decref(ours);
    json_decref(theirs);
    return 0;
}
