/*-------------------------------------------------------------------------
 *
 * segment_fetch.h
 *		  Running a scan's requests: concurrency, order, retries, rate
 *		  limits, and their ties to the transaction (fetch.c)
 *
 * Layer 4 (segment_util.h draws the layers).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_FETCH_H
#define SEGMENT_FETCH_H

#include "segment_options.h"
#include "segment_parse.h"
#include "segment_shared.h"

/* Figures of a scan's requests, for EXPLAIN ANALYZE */
#define SEGMENT_STATUS_SLOTS 8
typedef struct SegmentFetchStats
{
	int64		requests;		/* HTTP requests sent, retries included */
	int64		retries;
	int64		transport_errors;	/* attempts without a complete response */
	int64		bytes;			/* body bytes received */
	double		wait_ms;		/* time spent waiting on Braze */
	int			max_in_flight;
	int64		descriptor_waits;	/* requests that waited for a descriptor */
	double		queue_wait_ms;	/* waiting for max_total_concurrency */
	int64		cache_hits;		/* windows the shared cache answered */
	bool		warned_low;		/* the rate-limit warning was given */
	int			nstatuses;
	long		status[SEGMENT_STATUS_SLOTS];	/* responses by status */
	int64		status_count[SEGMENT_STATUS_SLOTS];
} SegmentFetchStats;

typedef struct SegmentFetch SegmentFetch;

/*
 * Fills in the next request to send (allocated in the current memory
 * context, which the fetch resets when it no longer needs the request), or
 * returns false when there is none.
 */
typedef bool (*SegmentNextRequest) (void *arg, SegmentRequest *req);

extern bool segment_log_requests;

extern void segment_fetch_init(void);
extern SegmentFetch *segment_fetch_begin(MemoryContext parent,
										 const SegmentFdwOptions *opts,
										 const char *relname,
										 SubTransactionId owner,
										 SegmentNextRequest next_request,
										 void *arg,
										 SegmentFetchStats *stats);
extern void segment_fetch_start(SegmentFetch *fetch);
extern bool segment_fetch_next(SegmentFetch *fetch, SegmentResponse *resp);
extern void segment_fetch_release_body(SegmentFetch *fetch,
									   SegmentResponse *resp);
extern void segment_fetch_end(SegmentFetch *fetch);
extern void segment_fetch_check_budget(const SegmentFdwOptions *opts,
									   const char *relname, int64 needed);

#endif							/* SEGMENT_FETCH_H */
