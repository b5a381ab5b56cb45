/*
 * devkey.h - the development token key that only `ramjet dev` trusts on its own.
 *
 * The shop example trusts no key unless one is named (examples/shop/shop.c): a default
 * deployment must never accept tokens minted with the committed development key. The
 * tools meant for one machine (`ramjet dev`, `ramjet schema print`) name that key for
 * it, so the example still runs with no setup; the daemons and `ramjet replay`, which
 * run in production, never do.
 */
#ifndef RJ_TOOLS_DEVKEY_H
#define RJ_TOOLS_DEVKEY_H

#include <stdbool.h>

/**
 * Names the shop's development public key for the application @p app when nothing else
 * is configured: sets SHOP_BOOSTER_PUBLIC_KEY_FILE to <dir of app>/shop-keys/public.pem
 * in this process's environment (children inherit it), and logs that it did.
 *
 * Does nothing unless @p app is a file named libshop.so, neither SHOP_BOOSTER_PUBLIC_KEY_FILE
 * nor SHOP_JWKS_URI is set to a non-empty value, and that key file exists.
 *
 * @param app  path of the application library; borrowed
 * @return whether the development key was named
 *
 * Call before starting threads: it changes the environment.
 */
bool dev_key_supply(const char *app);

#endif
