/*
 * probe.h - asking a child over loopback whether it serves yet.
 *
 * The supervisor probes PostgreSQL through libpq, and everything else (Redis's
 * PING, the daemons' /healthz and /readyz, Kafka's ApiVersions) with one short
 * blocking exchange on 127.0.0.1: microseconds when the peer is healthy, at
 * most the timeout when it hangs.
 */
#ifndef RJ_TOOLS_PROBE_H
#define RJ_TOOLS_PROBE_H

#include <stdbool.h>
#include <stddef.h>

/** Whether the @p len bytes read so far are a whole answer. */
typedef bool (*dev_probe_done_fn)(const char *resp, size_t len);

/**
 * Connects to 127.0.0.1:@p port, sends @p req_len bytes of @p req and reads
 * until @p done says the answer is whole, the peer closes or @p resp is full,
 * all within @p timeout_ms.
 *
 * @param resp  receives the bytes read; NUL-terminated (it holds resp_len - 1 of them at most)
 * @return the number of bytes read, or -1 when nothing was (refused, timed out)
 */
int dev_probe_exchange(int port, const void *req, size_t req_len, char *resp, size_t resp_len,
                       int timeout_ms, dev_probe_done_fn done);

#endif
