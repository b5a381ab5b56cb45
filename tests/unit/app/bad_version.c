/*
 * bad_version.c - a test application built for a future API version; the loader
 * must refuse it before running any of its code.
 */
#include <stdlib.h>

#include "ramjet.h"

__attribute__((visibility("default"))) const int rj_app_api_version = RJ_APP_API_VERSION + 1;
__attribute__((visibility("default"))) void rj_app_define(rj_app_t *app);

void
rj_app_define(rj_app_t *app)
{
    abort(); /* never called: the version check comes first */
}
