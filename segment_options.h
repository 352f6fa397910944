/*-------------------------------------------------------------------------
 *
 * segment_options.h
 *		  Options of a foreign table, merged from its server, the user
 *		  mapping and the table, and the columns' fields (option.c)
 *
 * Layer 3 (segment_util.h draws the layers).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_OPTIONS_H
#define SEGMENT_OPTIONS_H

#include "segment_api.h"

/*
 * The most a server whose owner is not a superuser may set, so that any
 * role that can create a server has a bound on one query's memory: the
 * bodies in flight (max_concurrency x max_response_bytes) and their rows.
 */
#define SEGMENT_UNPRIVILEGED_MAX_CONCURRENCY 16
#define SEGMENT_UNPRIVILEGED_MAX_TOTAL_CONCURRENCY 16
#define SEGMENT_UNPRIVILEGED_MAX_RESPONSE_BYTES (8 * 1024 * 1024)

/*
 * Options of one foreign table, merged from the server, the user mapping
 * and the table itself.
 */
typedef struct SegmentFdwOptions
{
	/* server */
	char	   *url;			/* base URL, e.g. https://rest.iad-01.braze.com */
	int			timeout_ms;		/* whole transfer */
	int			connect_timeout_ms; /* connection phase */
	int			max_concurrency;	/* transfers in flight per scan */
	int			max_response_bytes; /* cap on one body */
	int			max_retries;	/* retries of a failed request */
	int			max_retry_wait_ms;	/* longest wait for a rate limit */
	int			max_requests;	/* cap on the requests of one run of a scan */
	char	   *ca_file;		/* CA bundle for TLS, or NULL */
	char	   *proxy;			/* proxy URL, or NULL: none, whatever the
								 * environment says */
	Oid			serverid;
	int			max_total_concurrency;	/* of all sessions (shared memory) */
	int64		rate_limit_reserve; /* requests left to others, or a percent */
	bool		reserve_is_percent; /* of X-RateLimit-Limit */
	int64		cache_ttl_ms;	/* how long settled windows are kept; 0: not */

	/* user mapping */
	char	   *api_key;		/* NULL when the mapping has none */

	/* foreign table */
	int			endpoint;		/* SegmentEndpointId */
	char	   *segment_id;		/* pinned segment, or NULL */
	int			default_days;	/* days when no lower bound on time */
} SegmentFdwOptions;

/* Which attribute holds each field (0 = none), and its type */
typedef struct SegmentColumns
{
	AttrNumber	attnum[SEGMENT_NUM_FIELDS];
	Oid			typid[SEGMENT_NUM_FIELDS];
} SegmentColumns;

extern int64 segment_reserve_of(const SegmentFdwOptions *opts, int64 limit);
extern void segment_get_options(Oid foreigntableid, Oid userid,
								SegmentFdwOptions *opts);
extern void segment_get_columns(Oid foreigntableid,
								const SegmentEndpoint *endpoint,
								SegmentColumns *cols);

#endif							/* SEGMENT_OPTIONS_H */
