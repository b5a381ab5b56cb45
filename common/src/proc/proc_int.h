/*
 * proc/proc_int.h - what the files of common/src/proc share and nobody else needs.
 */
#ifndef RJ_PROC_INT_H
#define RJ_PROC_INT_H

#include "core/core.h"

/* Log module of lifecycle, health and metrics (RAMJET_LOG_DEBUG=proc). */
#define RJ_PROC_LOG "proc"

/** Appends the Prometheus text of every registered metric to @p out. Thread-safe. */
void rj__metrics_render(rj_buf_t *out);

/** Appends ramjet_build_info and the standard process_* metrics (procstat.c). */
void rj__process_metrics_render(rj_buf_t *out);

#endif
