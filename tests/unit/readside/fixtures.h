/*
 * fixtures.h - read models shaped like examples/shop's CartReadModel and ProductReadModel,
 * and filter cases with their exact results. The evaluator test and the PostgreSQL test
 * run the same cases, so the SQL compiler and the evaluator are held to one answer.
 */
#ifndef RJ_TEST_READSIDE_FIXTURES_H
#define RJ_TEST_READSIDE_FIXTURES_H

#include <stddef.h>

static const char *const fixture_carts[] = {
    "{\"id\": \"c1\", \"cartItems\": [{\"productId\": \"p1\", \"quantity\": 2}, {\"productId\": "
    "\"p2\", \"quantity\": 1}], \"shippingAddress\": {\"firstName\": \"Ann\", \"lastName\": "
    "\"Zed\", \"country\": \"ES\", \"state\": \"M\", \"postalCode\": \"28001\", \"address\": "
    "\"Gran Via 1\"}, \"cartItemsIds\": [\"p1\", \"p2\"]}",
    "{\"id\": \"c2\", \"cartItems\": [{\"productId\": \"p2\", \"quantity\": 5}], "
    "\"shippingAddress\": {\"firstName\": \"bob\", \"lastName\": \"Young\", \"country\": \"FR\", "
    "\"state\": \"P\", \"postalCode\": \"75001\", \"address\": \"Rue 2\"}, \"payment\": {\"id\": "
    "\"pay1\", \"cartId\": \"c2\", \"confirmationToken\": \"tok-A\"}, \"cartItemsIds\": [\"p2\"]}",
    "{\"id\": \"c3\", \"cartItems\": [], \"cartItemsIds\": []}",
    "{\"id\": \"c4\", \"cartItems\": [{\"productId\": \"p3\", \"quantity\": 10.5}], "
    "\"shippingAddress\": null, \"payment\": null, \"cartItemsIds\": null}",
    "{\"id\": \"before-c5\", \"cartItems\": [{\"productId\": \"p1\", \"quantity\": 1}], "
    "\"shippingAddress\": {\"firstName\": \"Ann\", \"lastName\": \"Abe\", \"country\": \"ES\", "
    "\"state\": \"B\", \"postalCode\": \"08001\", \"address\": \"Diagonal 3\"}, \"cartItemsIds\": "
    "[\"p1\"]}",
};

static const char *const fixture_products[] = {
    "{\"id\": \"p1\", \"sku\": \"SKU-1\", \"displayName\": \"One\", \"description\": \"d\", "
    "\"price\": {\"cents\": 100, \"currency\": \"EUR\"}, \"featured\": true, \"packs\": []}",
    "{\"id\": \"p2\", \"sku\": \"SKU-2\", \"displayName\": \"Two\", \"description\": \"d\", "
    "\"price\": {\"cents\": 250.5, \"currency\": \"USD\"}, \"featured\": false, \"packs\": []}",
    "{\"id\": \"p3\", \"sku\": \"sku-3\", \"displayName\": \"Three\", \"description\": \"d\", "
    "\"price\": {\"cents\": 30, \"currency\": \"EUR\"}, \"featured\": false, \"packs\": "
    "[{\"id\": \"k1\", \"name\": \"Pack\", \"products\": [\"p3\", \"p9\"]}]}",
    "{\"id\": \"p4\", \"sku\": \"SKU-10\", \"displayName\": \"Ten\", \"description\": \"d\", "
    "\"price\": {\"cents\": 1000.0, \"currency\": \"EUR\"}, \"featured\": true}",
};

typedef struct filter_case {
    const char *filter; /* the coerced filter, JSON */
    const char *ids;    /* matching ids in id order, comma-separated */
} filter_case_t;

static const filter_case_t cart_cases[] = {
    {"{}", "before-c5,c1,c2,c3,c4"},
    {"{\"id\": {\"eq\": \"c1\"}}", "c1"},
    {"{\"id\": {\"ne\": \"c1\"}}", "before-c5,c2,c3,c4"},
    {"{\"id\": {\"in\": [\"c1\", \"c3\", \"zz\"]}}", "c1,c3"},
    {"{\"id\": {\"in\": []}}", ""},
    {"{\"id\": {\"beginsWith\": \"c\"}}", "c1,c2,c3,c4"},
    {"{\"id\": {\"beginsWith\": \".\"}}", ""},
    {"{\"id\": {\"contains\": \"5\"}}", "before-c5"},
    {"{\"id\": {\"contains\": \"%\"}}", ""},
    {"{\"id\": {\"gt\": \"c2\"}}", "c3,c4"},
    {"{\"id\": {\"gte\": \"c2\"}}", "c2,c3,c4"},
    {"{\"id\": {\"lt\": \"c2\"}}", "before-c5,c1"},
    {"{\"id\": {\"lte\": \"c2\"}}", "before-c5,c1,c2"},
    {"{\"id\": {\"regex\": \"^c[12]$\"}}", "c1,c2"},
    {"{\"id\": {\"eq\": null}}", ""},
    {"{\"id\": {\"ne\": null}}", "before-c5,c1,c2,c3,c4"},
    {"{\"shippingAddress\": {\"firstName\": {\"eq\": \"Ann\"}}}", "before-c5,c1"},
    {"{\"shippingAddress\": {\"firstName\": {\"ne\": \"Ann\"}}}", "c2,c3,c4"},
    {"{\"shippingAddress\": {\"firstName\": {\"regex\": \"^[AB]\"}}}", "before-c5,c1"},
    {"{\"shippingAddress\": {\"firstName\": {\"iRegex\": \"^B\"}}}", "c2"},
    {"{\"shippingAddress\": {\"firstName\": {\"contains\": \".*\"}}}", ""},
    {"{\"shippingAddress\": {\"isDefined\": true}}", "before-c5,c1,c2,c4"},
    {"{\"shippingAddress\": {\"isDefined\": false}}", "c3"},
    {"{\"shippingAddress\": {\"eq\": null}}", "c4"},
    {"{\"shippingAddress\": {\"ne\": null}}", "before-c5,c1,c2"},
    {"{\"shippingAddress\": {\"firstName\": {\"isDefined\": false}}}", "c3,c4"},
    {"{\"payment\": {\"confirmationToken\": {\"eq\": \"tok-A\"}}}", "c2"},
    {"{\"payment\": {\"isDefined\": true, \"ne\": null}}", "c2"},
    {"{\"cartItems\": {\"includes\": {\"productId\": \"p2\"}}}", "c1,c2"},
    {"{\"cartItems\": {\"includes\": {\"productId\": \"p1\", \"quantity\": 2}}}", "c1"},
    {"{\"cartItems\": {\"includes\": {\"quantity\": 10.5}}}", "c4"},
    {"{\"cartItems\": {\"includes\": {\"productId\": \"p\"}}}", ""},
    {"{\"cartItemsIds\": {\"includes\": \"p1\"}}", "before-c5,c1"},
    {"{\"cartItemsIds\": {\"isDefined\": true}}", "before-c5,c1,c2,c3,c4"},
    {"{\"cartItemsIds\": {\"eq\": null}}", "c4"},
    {"{\"cartItemsIds\": {\"eq\": [\"p1\", \"p2\"]}}", "c1"},
    {"{\"or\": [{\"id\": {\"eq\": \"c1\"}}, {\"id\": {\"eq\": \"c3\"}}]}", "c1,c3"},
    {"{\"and\": [{\"id\": {\"beginsWith\": \"c\"}}, {\"shippingAddress\": {\"country\": {\"eq\": "
     "\"ES\"}}}]}",
     "c1"},
    {"{\"not\": {\"shippingAddress\": {\"firstName\": {\"eq\": \"Ann\"}}}}", "c2,c3,c4"},
    {"{\"not\": {\"shippingAddress\": {\"firstName\": {\"gt\": \"A\"}}}}", "c3,c4"},
    {"{\"shippingAddress\": {\"firstName\": {\"eq\": \"Ann\"}}, \"id\": {\"beginsWith\": \"c\"}}",
     "c1"},
    {"{\"isDefined\": true}", "before-c5,c1,c2,c3,c4"},
    {"{\"isDefined\": false}", ""},
    {"{\"or\": []}", ""},
    {"{\"and\": []}", "before-c5,c1,c2,c3,c4"},
    {"{\"shippingAddress\": {\"or\": [{\"lastName\": {\"eq\": \"Zed\"}}, {\"country\": {\"eq\": "
     "\"FR\"}}]}}",
     "c1,c2"},
    {"{\"id\": {\"gt\": null, \"in\": null}, \"payment\": null}", "before-c5,c1,c2,c3,c4"},
};

static const filter_case_t product_cases[] = {
    {"{\"price\": {\"cents\": {\"gt\": 100}}}", "p2,p4"},
    {"{\"price\": {\"cents\": {\"gte\": 100}}}", "p1,p2,p4"},
    {"{\"price\": {\"cents\": {\"lt\": 100}}}", "p3"},
    {"{\"price\": {\"cents\": {\"lte\": 100.0}}}", "p1,p3"},
    {"{\"price\": {\"cents\": {\"eq\": 100}}}", "p1"},
    {"{\"price\": {\"cents\": {\"eq\": 1000}}}", "p4"},
    {"{\"price\": {\"cents\": {\"eq\": 250.5}}}", "p2"},
    {"{\"price\": {\"cents\": {\"ne\": 250.5}}}", "p1,p3,p4"},
    {"{\"price\": {\"cents\": {\"in\": [30, 1000]}}}", "p3,p4"},
    {"{\"featured\": {\"eq\": true}}", "p1,p4"},
    {"{\"featured\": {\"ne\": true}}", "p2,p3"},
    {"{\"sku\": {\"gt\": \"SKU-1\"}}", "p2,p3,p4"},
    {"{\"sku\": {\"gt\": 5}}", ""},
    {"{\"price\": {\"cents\": {\"gt\": \"1\"}}}", ""},
    {"{\"sku\": {\"iRegex\": \"^sku-1\"}}", "p1,p4"},
    {"{\"price\": {\"or\": [{\"cents\": {\"lt\": 50}}, {\"currency\": {\"eq\": \"USD\"}}]}}",
     "p2,p3"},
    {"{\"price\": {\"not\": {\"currency\": {\"eq\": \"EUR\"}}}}", "p2"},
    {"{\"price\": {\"and\": [{\"currency\": {\"eq\": \"EUR\"}}, {\"cents\": {\"gt\": 50}}]}}",
     "p1,p4"},
    {"{\"price\": {\"eq\": {\"cents\": 100, \"currency\": \"EUR\"}}}", "p1"},
    {"{\"price\": {\"eq\": {\"cents\": 100}}}", ""},
    {"{\"packs\": {\"includes\": {\"products\": [\"p3\"]}}}", "p3"},
    {"{\"packs\": {\"isDefined\": false}}", "p4"},
};

#endif
