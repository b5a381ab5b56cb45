/*
 * pg/pg_int.h - what the files of common/src/pg share and nobody else needs.
 */
#ifndef RJ_PG_INT_H
#define RJ_PG_INT_H

/* Log module of everything PostgreSQL (RAMJET_LOG_DEBUG=pg). */
#define RJ_PG_LOG "pg"

#endif
