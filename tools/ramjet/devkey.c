/*
 * devkey.c - the development token key, named only by the tools meant for one machine
 * (devkey.h says why).
 *
 * The key is recognised by where the build puts it (examples/shop/CMakeLists.txt copies
 * keys/public.pem to lib/shop-keys/ next to libshop.so), not compiled into anything, so a
 * shop built without it - an image, say - simply has no development key to fall back on.
 * What it deliberately does not do: name a key for any other application, or override a
 * key or JWKS the user configured.
 */
#include "devkey.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "log/log.h"

#define LOG_MOD "dev"

static bool
env_set(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0';
}

bool
dev_key_supply(const char *app)
{
    if (env_set("SHOP_BOOSTER_PUBLIC_KEY_FILE") || env_set("SHOP_JWKS_URI"))
        return false;
    char *copy = rj_xstrdup(app);
    bool is_shop = strcmp(basename(copy), "libshop.so") == 0;
    free(copy);
    if (!is_shop)
        return false;
    copy = rj_xstrdup(app);
    char *key = rj_xasprintf("%s/shop-keys/public.pem", dirname(copy));
    free(copy);
    bool ok = access(key, R_OK) == 0;
    if (ok) {
        setenv("SHOP_BOOSTER_PUBLIC_KEY_FILE", key, 1);
        rj_warn(LOG_MOD,
                "trusting the shop's DEVELOPMENT token key %s (examples/shop/keys): "
                "never outside development",
                key);
    }
    free(key);
    return ok;
}
