/*
 * metrics.c - a process-wide registry of counters, gauges and latency
 * histograms, rendered in Prometheus text format 0.0.4 for /metrics.
 *
 * Updates are single atomic operations, so hot paths never take a lock; the
 * registry's mutex guards only registration and rendering. Metrics live until
 * rj_metrics_free_all (end of main), which is why callers may keep the pointers
 * in globals without reference counting.
 *
 * Deliberately small: no label API (labels are spelled into the name), no
 * summaries or quantiles, fixed histogram buckets suited to request and batch
 * latencies.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "proc/proc.h"
#include "proc/proc_int.h"

typedef enum metric_kind {
    METRIC_COUNTER,   /* monotonically increasing */
    METRIC_GAUGE,     /* goes up and down */
    METRIC_HISTOGRAM, /* latency distribution in seconds */
} metric_kind_t;

/* Upper bounds of the histogram buckets, in microseconds (1 ms .. 10 s). */
static const int64_t bucket_us[] = {1000,   5000,   10000,   25000,   50000,   100000,
                                    250000, 500000, 1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof bucket_us / sizeof bucket_us[0])

struct rj_metric {
    char *name;                          /* full series name, labels included */
    size_t base_len;                     /* length of the name before any '{' */
    char *help;                          /* HELP text */
    metric_kind_t kind;                  /* what it is */
    atomic_llong value;                  /* counter/gauge value; histogram count */
    atomic_llong sum_us;                 /* histogram: sum of observations */
    atomic_llong buckets[NBUCKETS];      /* histogram: observations <= bucket_us[i] */
    struct rj_metric *next;              /* registration order */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static rj_metric_t *registry_head;
static rj_metric_t **registry_tail = &registry_head;

static rj_metric_t *
metric_register(const char *name, const char *help, metric_kind_t kind)
{
    pthread_mutex_lock(&registry_lock);
    for (rj_metric_t *m = registry_head; m != NULL; m = m->next) {
        if (strcmp(m->name, name) == 0) {
            pthread_mutex_unlock(&registry_lock);
            return m;
        }
    }
    rj_metric_t *m = rj_xcalloc(1, sizeof *m);
    m->name = rj_xstrdup(name);
    m->base_len = strcspn(name, "{");
    m->help = rj_xstrdup(help != NULL ? help : "");
    m->kind = kind;
    *registry_tail = m;
    registry_tail = &m->next;
    pthread_mutex_unlock(&registry_lock);
    return m;
}

rj_metric_t *
rj_metric_counter(const char *name, const char *help)
{
    return metric_register(name, help, METRIC_COUNTER);
}

rj_metric_t *
rj_metric_gauge(const char *name, const char *help)
{
    return metric_register(name, help, METRIC_GAUGE);
}

rj_metric_t *
rj_metric_histogram(const char *name, const char *help)
{
    return metric_register(name, help, METRIC_HISTOGRAM);
}

void
rj_metric_add(rj_metric_t *m, int64_t v)
{
    if (m != NULL)
        atomic_fetch_add_explicit(&m->value, v, memory_order_relaxed);
}

void
rj_metric_set(rj_metric_t *m, int64_t v)
{
    if (m != NULL)
        atomic_store_explicit(&m->value, v, memory_order_relaxed);
}

int64_t
rj_metric_value(const rj_metric_t *m)
{
    return m != NULL ? atomic_load_explicit(&((rj_metric_t *)m)->value, memory_order_relaxed) : 0;
}

void
rj_metric_observe_us(rj_metric_t *m, int64_t us)
{
    if (m == NULL)
        return;
    if (us < 0)
        us = 0;
    /* Buckets are stored non-cumulative; rendering sums them up. */
    size_t i = 0;
    while (i < NBUCKETS && us > bucket_us[i])
        i++;
    if (i < NBUCKETS)
        atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->value, 1, memory_order_relaxed);
}

/* True when a metric registered before @p m has the same base name (its header is out). */
static bool
header_written(const rj_metric_t *m)
{
    for (const rj_metric_t *o = registry_head; o != m; o = o->next)
        if (o->base_len == m->base_len && strncmp(o->name, m->name, m->base_len) == 0)
            return true;
    return false;
}

/* HELP text escaped as the format wants: backslash and newline. */
static void
put_help(rj_buf_t *out, const char *help)
{
    for (const char *s = help; *s != '\0'; s++) {
        if (*s == '\\')
            rj_buf_puts(out, "\\\\");
        else if (*s == '\n')
            rj_buf_puts(out, "\\n");
        else
            rj_buf_putc(out, *s);
    }
}

void
rj__metrics_render(rj_buf_t *out)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&registry_lock);
    for (const rj_metric_t *m = registry_head; m != NULL; m = m->next) {
        int base = (int)m->base_len;
        if (!header_written(m)) {
            rj_buf_printf(out, "# HELP %.*s ", base, m->name);
            put_help(out, m->help);
            rj_buf_printf(out, "\n# TYPE %.*s %s\n", base, m->name, type_names[m->kind]);
        }
        rj_metric_t *mm = (rj_metric_t *)m;
        if (m->kind != METRIC_HISTOGRAM) {
            rj_buf_printf(out, "%s %lld\n", m->name, (long long)atomic_load(&mm->value));
            continue;
        }
        long long cumulative = 0;
        for (size_t i = 0; i < NBUCKETS; i++) {
            cumulative += atomic_load(&mm->buckets[i]);
            rj_buf_printf(out, "%s_bucket{le=\"%g\"} %lld\n", m->name, bucket_us[i] / 1e6,
                          cumulative);
        }
        long long count = atomic_load(&mm->value);
        rj_buf_printf(out, "%s_bucket{le=\"+Inf\"} %lld\n", m->name, count);
        rj_buf_printf(out, "%s_sum %.6f\n", m->name, atomic_load(&mm->sum_us) / 1e6);
        rj_buf_printf(out, "%s_count %lld\n", m->name, count);
    }
    pthread_mutex_unlock(&registry_lock);
}

void
rj_metrics_free_all(void)
{
    pthread_mutex_lock(&registry_lock);
    rj_metric_t *m = registry_head;
    registry_head = NULL;
    registry_tail = &registry_head;
    pthread_mutex_unlock(&registry_lock);
    while (m != NULL) {
        rj_metric_t *next = m->next;
        free(m->name);
        free(m->help);
        free(m);
        m = next;
    }
}
