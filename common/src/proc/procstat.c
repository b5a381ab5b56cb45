/*
 * procstat.c - the standard process_* metrics of Prometheus's client libraries, and
 * ramjet_build_info, for /metrics: what an operator's dashboards and alerts (restarts,
 * memory growth, descriptor leaks) expect from every process without configuration.
 *
 * Read from /proc/self at render time, so nothing runs between scrapes. On a system
 * without /proc the process_* series are left out, never reported as zero.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "proc/proc.h"
#include "proc/proc_int.h"

#ifndef RAMJET_VERSION
#define RAMJET_VERSION "unknown"
#endif

/* Fields 14 (utime), 15 (stime), 22 (starttime, ticks after boot) and 23 (vsize) of
   /proc/self/stat. False when it cannot be read. */
static bool
read_stat(unsigned long long *utime, unsigned long long *stime, unsigned long long *start,
          unsigned long long *vsize)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: start after its last ')'. */
    const char *p = strrchr(buf, ')');
    if (p == NULL)
        return false;
    /* p + 2 is field 3 (state); utime is field 14. */
    return sscanf(p + 2,
                  "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
                  "%*d %llu %llu",
                  utime, stime, start, vsize) == 4;
}

/* Resident set size in bytes from /proc/self/statm, or -1. */
static long long
rss_bytes(void)
{
    long long pages = -1;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%*s %lld", &pages) != 1)
        pages = -1;
    fclose(f);
    return pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
}

/* Open descriptors (entries of /proc/self/fd, less the one reading it), or -1. */
static long
open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* Boot time in seconds since the epoch (btime of /proc/stat), or -1. */
static long long
boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long long btime = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    fclose(f);
    return btime;
}

static void
gauge(rj_buf_t *out, const char *name, const char *type, const char *help, double v)
{
    rj_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

void
rj__process_metrics_render(rj_buf_t *out)
{
    rj_buf_printf(out,
                  "# HELP ramjet_build_info The daemon and the Ramjet version it was built "
                  "from; always 1.\n# TYPE ramjet_build_info gauge\n"
                  "ramjet_build_info{daemon=\"%s\",version=\"%s\"} 1\n",
                  rj_proc_name(), RAMJET_VERSION);

    unsigned long long utime, stime, start, vsize;
    double hz = (double)sysconf(_SC_CLK_TCK);
    if (read_stat(&utime, &stime, &start, &vsize)) {
        gauge(out, "process_cpu_seconds_total", "counter",
              "Total user and system CPU time spent in seconds.", (double)(utime + stime) / hz);
        gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
              (double)vsize);
        long long btime = boot_time();
        if (btime >= 0)
            gauge(out, "process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.",
                  (double)btime + (double)start / hz);
    }
    long long rss = rss_bytes();
    if (rss >= 0)
        gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
              (double)rss);
    long fds = open_fds();
    if (fds >= 0)
        gauge(out, "process_open_fds", "gauge", "Number of open file descriptors.", (double)fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        gauge(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
              (double)rl.rlim_cur);
}
