/*-------------------------------------------------------------------------
 *
 * segment_shared.h
 *		  What the backends of a cluster share (shared.c): the requests in
 *		  flight to each server and the queue for more, each workspace's
 *		  rate-limit budget, the cache of settled days, and statistics
 *
 * Layer 3 (segment_util.h draws the layers).  Shared memory exists only
 * when the library is in shared_preload_libraries; without it, servers
 * have no shared limit, cache or statistics, and the budget is what this
 * backend has seen.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_SHARED_H
#define SEGMENT_SHARED_H

#include "datatype/timestamp.h"

#include "segment_parse.h"

/* The counters of a server, for segment_fdw_stats */
typedef enum SegmentCounter
{
	SEGMENT_COUNT_REQUESTS,		/* attempts sent */
	SEGMENT_COUNT_RETRIES,
	SEGMENT_COUNT_RATE_LIMITED, /* responses with 429 */
	SEGMENT_COUNT_FAILED,		/* requests whose failure was final */
	SEGMENT_COUNT_BYTES,		/* body bytes received */
	SEGMENT_COUNT_CACHE_HITS,	/* windows answered by the shared cache */
	SEGMENT_NUM_COUNTERS
} SegmentCounter;

/* A workspace's hourly budget, as the latest response said */
typedef struct SegmentBudget
{
	bool		known;			/* a response said it, and the hour is on */
	int64		limit;			/* X-RateLimit-Limit */
	int64		remaining;		/* X-RateLimit-Remaining, less the requests
								 * sent since */
	TimestampTz reset;			/* X-RateLimit-Reset */
} SegmentBudget;

/* A server of this database, as found in shared memory (index -1: not yet) */
typedef struct SegmentServerRef
{
	Oid			serverid;
	int			index;
} SegmentServerRef;

/* A workspace: the SHA-256 of a url and an API key, and where it was found */
#define SEGMENT_KEY_LEN 32
typedef struct SegmentWorkspaceRef
{
	uint8		key[SEGMENT_KEY_LEN];
	int			index;
} SegmentWorkspaceRef;

extern int	segment_cache_size;

extern void segment_shared_init(void);
extern bool segment_shared_enabled(void);

/* servers: requests in flight, first come first served */
extern void segment_server_ref(SegmentServerRef *ref, Oid serverid);
extern bool segment_slot_take(SegmentServerRef *ref, int max_total);
extern void segment_slot_give_back(SegmentServerRef *ref);
extern void segment_slot_leave_queue(void);
extern void segment_shared_count(SegmentServerRef *ref,
								 SegmentCounter counter, int64 n);
extern void segment_shared_rate_limit(SegmentServerRef *ref, long limit,
									  long remaining, long reset);

/* workspaces: the budget */
extern void segment_workspace_ref(SegmentWorkspaceRef *ref, const char *url,
								  const char *api_key);
extern void segment_budget_get(SegmentWorkspaceRef *ref,
							   SegmentBudget *budget);
extern void segment_budget_sent(SegmentWorkspaceRef *ref);
extern void segment_budget_answered(SegmentWorkspaceRef *ref, long status,
									long limit, long remaining, long reset);

/* the cache of settled windows */
extern bool segment_cache_get(SegmentWorkspaceRef *ref, const char *target,
							  SegmentRow **rows, int *nrows);
extern void segment_cache_put(SegmentWorkspaceRef *ref, const char *url,
							  const char *target, const SegmentRow *rows,
							  int nrows, int64 ttl_ms);

#endif							/* SEGMENT_SHARED_H */
