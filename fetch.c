/*-------------------------------------------------------------------------
 *
 * fetch.c
 *		  Running a scan's requests: concurrency, order, retries and rate
 *		  limits
 *
 * A fetch runs up to max_concurrency transfers at once and hands the
 * responses back in request order, so a scan's rows come out in a stable
 * order; it never holds more than max_concurrency bodies.  It takes its
 * requests one at a time from a callback, as room frees up, into a ring of
 * max_concurrency slots: its memory does not grow with the number of
 * requests.
 *
 * A request that fails in a passing way is tried again: 500, 502, 503 and
 * 504, and transport failures, after an exponential back-off with jitter;
 * 429, once the rate limit resets (Retry-After, or X-RateLimit-Reset), if
 * that is within max_retry_wait_ms, and meanwhile no new request of the
 * fetch is started.  At most max_retries times; other statuses never.
 * Waits, back-offs included, are interruptible.
 *
 * The transfers of a fetch are aborted by a reset callback of the fetch's
 * memory context, so they are released whether the scan ends, is
 * rescanned, or its query fails or is cancelled.  A fetch also belongs to
 * the subtransaction its scan was started in (a cursor's is the one that
 * opened it, wherever it is read): when that subtransaction aborts, or the
 * transaction ends, the transaction callbacks abort its transfers at once,
 * closing their half-read connections, and let http.c tidy the connection
 * cache, as postgres_fdw's callbacks do for its connections.
 *
 * When fd.c has no descriptor left for a new connection, the request waits
 * for a running transfer to free one, and the fetch keeps no more transfers
 * in flight than it had then.  With nothing running, idle connections are
 * closed and the request tried once more; if that fails too, the query
 * fails ("could not connect to Braze", too many open files).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/pg_prng.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "segment_fetch.h"
#include "segment_http.h"
#include "segment_shared.h"

/* Back-off before retry N: base * 2^(N-1), at most the cap, half jittered */
#define RETRY_BASE_MS 250
#define RETRY_MAX_BACKOFF_MS 8000

/* Warn when fewer than this fraction of the rate limit is left */
#define RATELIMIT_WARN_FRACTION 0.01

/* Log one line per request attempt at LOG instead of DEBUG1 */
bool		segment_log_requests = false;

/*
 * One slot of the ring: a transfer, its retry state, its request, and the
 * memory of both (the request's strings and the body), reset when the slot
 * is reused.
 */
typedef struct FetchSlot
{
	SegmentTransfer transfer;	/* http.c's: the latest attempt */
	int			attempts;		/* tries made */
	bool		recorded;		/* the latest attempt was counted */
	bool		waiting;		/* for retry_at (0: for a slot, or the budget) */
	TimestampTz retry_at;
	bool		wants_descriptor;	/* waits for a transfer to finish */
	uint64		finished_before;	/* segment_http_finished() then */
	bool		holds_slot;		/* of the server's max_total_concurrency */
	SegmentRequest request;
	MemoryContext cxt;
} FetchSlot;

struct SegmentFetch
{
	dlist_node	node;			/* in live_fetches */
	SubTransactionId owner;		/* the subtransaction it belongs to */
	MemoryContext cxt;			/* holds this struct and the slots */
	MemoryContextCallback cleanup;
	SegmentHttpConfig http;
	const char *api_key;		/* to mask in error messages */
	const char *relname;		/* the scan's table, for errors */
	const SegmentFdwOptions *opts;
	SegmentServerRef server;	/* shared.c's entry */
	SegmentWorkspaceRef workspace;	/* shared.c's budget of url and key */
	bool		queued;			/* a request waits for a slot */
	int			max_concurrency;
	int			in_flight_cap;	/* fewer once descriptors ran out */
	int			max_retries;
	int			max_retry_wait_ms;
	SegmentFetchStats *stats;	/* the caller's, accumulated */
	TimestampTz paused_until;	/* no new transfer before (429) */
	SegmentNextRequest next_request;	/* where requests come from */
	void	   *next_arg;
	bool		exhausted;		/* next_request said there is no more */
	bool		abandoned;		/* its subtransaction aborted */
	FetchSlot  *slots;			/* max_concurrency of them */
	int64		next_start;		/* number of the next request to start */
	int64		next_emit;		/* number of the first not handed back */
};

/* Every fetch not yet ended, for the transaction callbacks */
static dlist_head live_fetches = DLIST_STATIC_INIT(live_fetches);

/* The slot of request number "n", between next_emit and next_start */
#define SLOT(fetch, n) (&(fetch)->slots[(n) % (fetch)->max_concurrency])

static void fetch_cleanup(void *arg);
static void abort_transfers(SegmentFetch *fetch);
static void attempt_ended(SegmentFetch *fetch, FetchSlot *s);
static bool may_start(SegmentFetch *fetch, TimestampTz now);
static bool below_reserve(const SegmentFdwOptions *opts,
						  const SegmentBudget *budget, int64 needed);
pg_noreturn static void refuse_budget(const SegmentFdwOptions *opts,
									  const char *relname, int64 needed,
									  const SegmentBudget *budget);
static void give_back_finished(void);
static void leave_queue(SegmentFetch *fetch);
static void xact_callback(XactEvent event, void *arg);
static void subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg);
static int	running(SegmentFetch *fetch);
static bool wait_for_descriptor(SegmentFetch *fetch, FetchSlot *s,
								TimestampTz now);
static bool take_request(SegmentFetch *fetch);
static void start(SegmentFetch *fetch, FetchSlot *s);
static void start_new(SegmentFetch *fetch);
static bool succeeded(const FetchSlot *s);
static long retry_delay(SegmentFetch *fetch, FetchSlot *s,
						TimestampTz now);
static void record_attempt(SegmentFetch *fetch, FetchSlot *s);
static void fill_response(SegmentFetch *fetch, FetchSlot *s,
						  SegmentResponse *resp);

/*
 * Called by _PG_init: the settings of this layer and the one below, and the
 * transaction callbacks.
 */
void
segment_fetch_init(void)
{
	segment_http_init();
	segment_shared_init();
	DefineCustomBoolVariable("segment_fdw.log_requests",
							 "Logs each request to Braze at LOG level.",
							 "Each attempt is logged with its URL (never the key), status, bytes, milliseconds and attempt number; without this setting, at DEBUG1.",
							 &segment_log_requests,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
}

/*
 * Prepare to fetch the requests "next_request" gives (called with
 * "arg"); they are taken and started in segment_fetch_next as room allows.
 * The fetch and its bodies live in a new child of "parent"; figures go
 * into *stats.  "owner" is the subtransaction the scan was started in.
 */
SegmentFetch *
segment_fetch_begin(MemoryContext parent, const SegmentFdwOptions *opts,
					const char *relname, SubTransactionId owner,
					SegmentNextRequest next_request, void *arg,
					SegmentFetchStats *stats)
{
	MemoryContext cxt;
	SegmentFetch *fetch;
	int			i;

	cxt = AllocSetContextCreate(parent, "segment_fdw fetch",
								ALLOCSET_DEFAULT_SIZES);
	fetch = MemoryContextAllocZero(cxt, sizeof(SegmentFetch));
	fetch->cxt = cxt;
	fetch->owner = owner;
	fetch->http.ca_file = opts->ca_file;
	fetch->http.proxy = opts->proxy;
	fetch->http.timeout_ms = opts->timeout_ms;
	fetch->http.connect_timeout_ms = opts->connect_timeout_ms;
	fetch->http.max_response_bytes = opts->max_response_bytes;
	fetch->api_key = opts->api_key;
	fetch->relname = relname;
	fetch->opts = opts;
	segment_server_ref(&fetch->server, opts->serverid);
	segment_workspace_ref(&fetch->workspace, opts->url, opts->api_key);
	fetch->max_concurrency = opts->max_concurrency;
	fetch->in_flight_cap = opts->max_concurrency;
	fetch->max_retries = opts->max_retries;
	fetch->max_retry_wait_ms = opts->max_retry_wait_ms;
	fetch->stats = stats;
	fetch->next_request = next_request;
	fetch->next_arg = arg;
	fetch->slots = MemoryContextAllocZero(cxt, sizeof(FetchSlot) *
										  fetch->max_concurrency);
	for (i = 0; i < fetch->max_concurrency; i++)
		fetch->slots[i].cxt = AllocSetContextCreate(cxt, "segment_fdw request",
													ALLOCSET_SMALL_SIZES);

	/* from now on, the context's deletion releases what curl holds */
	fetch->cleanup.func = fetch_cleanup;
	fetch->cleanup.arg = fetch;
	MemoryContextRegisterResetCallback(cxt, &fetch->cleanup);
	dlist_push_tail(&live_fetches, &fetch->node);

	fetch->http.headers = segment_make_headers(opts->api_key);
	return fetch;
}

/*
 * Abort the transfers still running and free the header list.  Runs when
 * the fetch's context is reset or deleted, on success and on error alike;
 * it must not throw.
 */
static void
fetch_cleanup(void *arg)
{
	SegmentFetch *fetch = (SegmentFetch *) arg;

	abort_transfers(fetch);
	leave_queue(fetch);
	dlist_delete(&fetch->node);
	segment_free_headers(fetch->http.headers);
	fetch->http.headers = NULL;
}

/*
 * Abort the transfers of a fetch that are running.  Does not throw.
 */
static void
abort_transfers(SegmentFetch *fetch)
{
	int			i;

	for (i = 0; i < fetch->max_concurrency; i++)
	{
		segment_transfer_abort(&fetch->slots[i].transfer);
		attempt_ended(fetch, &fetch->slots[i]);
	}
}

/*
 * The latest attempt of slot "s" ended, or was aborted: give its slot of
 * max_total_concurrency back, and tell the budget and the statistics what
 * Braze said.  Does not throw.
 */
static void
attempt_ended(SegmentFetch *fetch, FetchSlot *s)
{
	SegmentTransfer *t = &s->transfer;
	bool		answered = t->done && t->result == 0;

	if (!s->holds_slot)
		return;
	s->holds_slot = false;
	segment_slot_give_back(&fetch->server);
	segment_budget_answered(&fetch->workspace, answered ? t->status : 0,
							answered ? t->ratelimit_limit : -1,
							answered ? t->ratelimit_remaining : -1,
							answered ? t->ratelimit_reset : -1);
	if (!answered)
		return;
	segment_shared_count(&fetch->server, SEGMENT_COUNT_BYTES, t->len);
	if (t->status == 429)
		segment_shared_count(&fetch->server, SEGMENT_COUNT_RATE_LIMITED, 1);
	segment_shared_rate_limit(&fetch->server, t->ratelimit_limit,
							  t->ratelimit_remaining, t->ratelimit_reset);
}

/*
 * Give back the slots of the transfers that finished, in every fetch of
 * the backend: the wait of one scan drives all of them, and another scan
 * of the same query may not be read again until this one gets its turn.
 */
static void
give_back_finished(void)
{
	dlist_iter	iter;

	dlist_foreach(iter, &live_fetches)
	{
		SegmentFetch *fetch = dlist_container(SegmentFetch, node, iter.cur);
		int			i;

		for (i = 0; i < fetch->max_concurrency; i++)
		{
			FetchSlot  *s = &fetch->slots[i];

			if (s->holds_slot && s->transfer.done)
				attempt_ended(fetch, s);
		}
	}
}

/*
 * Leave the queue of the server, when the fetch stops asking for a turn:
 * it hands back a response (its consumer may not come back soon), or it
 * pauses.
 */
static void
leave_queue(SegmentFetch *fetch)
{
	if (fetch->queued)
	{
		segment_slot_leave_queue();
		fetch->queued = false;
	}
}

/*
 * May a request start now?  Not while it would bring the workspace's budget
 * below rate_limit_reserve: the fetch waits for the hour to reset if that
 * is within max_retry_wait_ms, else fails.  Not while max_total_concurrency
 * requests of the server are in flight, or other backends came first: the
 * fetch is queued.  True when it may, with a slot taken for it.
 */
static bool
may_start(SegmentFetch *fetch, TimestampTz now)
{
	SegmentBudget budget;

	segment_budget_get(&fetch->workspace, &budget);
	if (below_reserve(fetch->opts, &budget, 1))
	{
		if (budget.reset > 0 &&
			budget.reset - now <= (int64) fetch->max_retry_wait_ms * 1000)
		{
			/* the reset second has to be over, as for a 429 */
			fetch->paused_until = Max(fetch->paused_until,
									  budget.reset + USECS_PER_SEC);
			return false;
		}
		refuse_budget(fetch->opts, fetch->relname, 1, &budget);
	}
	if (!segment_slot_take(&fetch->server, fetch->opts->max_total_concurrency))
	{
		fetch->queued = true;
		return false;
	}
	fetch->queued = false;
	return true;
}

/*
 * Would "needed" more requests take "budget" below the server's
 * rate_limit_reserve (0: no reserve)?
 */
static bool
below_reserve(const SegmentFdwOptions *opts, const SegmentBudget *budget,
			  int64 needed)
{
	return opts->rate_limit_reserve > 0 && budget->known &&
		budget->remaining - needed < segment_reserve_of(opts, budget->limit);
}

/*
 * Refuse, before it sends them, a scan of "relname" whose "needed" requests
 * would take the budget below rate_limit_reserve.
 */
static void
refuse_budget(const SegmentFdwOptions *opts, const char *relname,
			  int64 needed, const SegmentBudget *budget)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("a scan of foreign table \"%s\" would take Braze's rate limit below rate_limit_reserve",
					relname),
			 errdetail("Requests needed: " INT64_FORMAT "; the workspace has about " INT64_FORMAT " of " INT64_FORMAT " left this hour; the reserve is " INT64_FORMAT "; the limit resets at %s.",
					   needed, Max(budget->remaining, 0), budget->limit,
					   segment_reserve_of(opts, budget->limit),
					   budget->reset > 0 ? timestamptz_to_str(budget->reset) : "an unknown time"),
			 errhint("Wait for the reset, narrow the query, or lower the server option rate_limit_reserve.")));
}

/*
 * Before a scan sends its "needed" requests: refuse it at once if the
 * workspace's budget, as the latest response of any backend said, leaves
 * fewer above rate_limit_reserve.
 */
void
segment_fetch_check_budget(const SegmentFdwOptions *opts, const char *relname,
						   int64 needed)
{
	SegmentWorkspaceRef workspace;
	SegmentBudget budget;

	if (needed <= 0 || opts->api_key == NULL || opts->rate_limit_reserve == 0)
		return;
	segment_workspace_ref(&workspace, opts->url, opts->api_key);
	segment_budget_get(&workspace, &budget);
	if (below_reserve(opts, &budget, needed))
		refuse_budget(opts, relname, needed, &budget);
}

/*
 * End of the transaction: every scan has ended or is about to be freed
 * with it (a WITH HOLD cursor's ran to its end at commit).  Abort whatever
 * transfer is left, then tidy the connection cache.  Does not throw.
 */
static void
xact_callback(XactEvent event, void *arg)
{
	dlist_iter	iter;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			dlist_foreach(iter, &live_fetches)
				abort_transfers(dlist_container(SegmentFetch, node, iter.cur));
			segment_http_end_of_xact();
			break;
		default:
			break;
	}
}

/*
 * End of a subtransaction.  Aborted: the scans started in it go with it
 * (their portals and executor state are freed next), so their transfers
 * stop now.  Committed: its fetches belong to the parent from now on, as
 * its cursors do.  Does not throw.
 */
static void
subxact_callback(SubXactEvent event, SubTransactionId mySubid,
				 SubTransactionId parentSubid, void *arg)
{
	dlist_iter	iter;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	dlist_foreach(iter, &live_fetches)
	{
		SegmentFetch *fetch = dlist_container(SegmentFetch, node, iter.cur);

		if (fetch->owner != mySubid)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			fetch->owner = parentSubid;
		else
		{
			abort_transfers(fetch);
			fetch->abandoned = true;
		}
	}
}

/*
 * Take the next request into the free slot of number next_start; false
 * when there is none.  The slot's memory is reset first: the body and the
 * request it held were handed back and released.
 */
static bool
take_request(SegmentFetch *fetch)
{
	FetchSlot  *slot = &fetch->slots[fetch->next_start % fetch->max_concurrency];
	MemoryContext oldcxt;
	bool		found;

	if (fetch->exhausted)
		return false;
	Assert(slot->transfer.handle == NULL);
	MemoryContextReset(slot->cxt);
	memset(&slot->transfer, 0, sizeof(SegmentTransfer));
	slot->attempts = 0;
	slot->recorded = slot->waiting = false;
	slot->retry_at = 0;
	slot->wants_descriptor = false;
	slot->holds_slot = false;
	oldcxt = MemoryContextSwitchTo(slot->cxt);
	found = fetch->next_request(fetch->next_arg, &slot->request);
	MemoryContextSwitchTo(oldcxt);
	if (!found)
	{
		fetch->exhausted = true;
		return false;
	}
	slot->transfer.request = &slot->request;
	slot->transfer.cxt = slot->cxt;
	return true;
}

/*
 * The transfers of the fetch that are running (only the window can be).
 */
static int
running(SegmentFetch *fetch)
{
	int			n = 0;
	int64		i;

	for (i = fetch->next_emit; i < fetch->next_start; i++)
	{
		if (SLOT(fetch, i)->transfer.handle != NULL)
			n++;
	}
	return n;
}

/*
 * Start an attempt of the request of slot "s".
 */
static void
start(SegmentFetch *fetch, FetchSlot *s)
{
	/* counted first: attempt_ended settles both if the start fails */
	s->holds_slot = true;
	segment_budget_sent(&fetch->workspace);
	segment_transfer_start(&s->transfer, &fetch->http);
	segment_shared_count(&fetch->server, SEGMENT_COUNT_REQUESTS, 1);
	s->attempts++;
	s->waiting = false;
	s->recorded = false;
	fetch->stats->requests++;
	fetch->stats->max_in_flight = Max(fetch->stats->max_in_flight,
									  running(fetch));
}

/*
 * Take and start new requests while there is room in the ring, and
 * descriptors allow.
 */
static void
start_new(SegmentFetch *fetch)
{
	TimestampTz now = GetCurrentTimestamp();

	while (fetch->next_start < fetch->next_emit + fetch->max_concurrency &&
		   running(fetch) < fetch->in_flight_cap &&
		   take_request(fetch))
	{
		FetchSlot  *s = SLOT(fetch, fetch->next_start++);

		if (!may_start(fetch, now))
		{
			/* taken, not sent: it goes when it may, as a retry would */
			s->waiting = true;
			s->retry_at = 0;
			break;
		}
		start(fetch, s);
	}
}

/*
 * Send the first requests now, max_concurrency of them, without waiting
 * for any: the caller has other work to do before it asks for the
 * responses (a batched join's round before this one).  curl is let act for
 * a millisecond at most (connections opened, requests written on kept-alive
 * ones); the rest is done when the responses are asked for.
 */
void
segment_fetch_start(SegmentFetch *fetch)
{
	start_new(fetch);
	/* its consumer is elsewhere until the responses are asked for */
	leave_queue(fetch);
	fetch->stats->wait_ms += segment_http_wait(1);
}

/*
 * Did the latest attempt of slot "s" bring a usable response?
 */
static bool
succeeded(const FetchSlot *s)
{
	return s->transfer.result == 0 && s->transfer.status == 200;
}

/*
 * An attempt of slot "s" found no descriptor for its connection: it never left.
 * Make it wait for one, not counted as an attempt, when a running transfer
 * will free a connection (or idle ones could be closed), and keep no more
 * in flight than now run; false when there is no hope.
 */
static bool
wait_for_descriptor(SegmentFetch *fetch, FetchSlot *s, TimestampTz now)
{
	if (segment_http_running() == 0 && !segment_http_close_idle())
		return false;
	s->attempts--;
	fetch->stats->requests--;
	fetch->stats->descriptor_waits++;
	fetch->in_flight_cap = Max(1, running(fetch));
	s->transfer.done = false;
	s->waiting = true;
	s->retry_at = now;
	/* not before a transfer, this fetch's or another's, frees a connection */
	s->wants_descriptor = segment_http_running() > 0;
	s->finished_before = segment_http_finished();
	return true;
}

/*
 * The milliseconds to wait before trying slot "s" again, or -1 if its failure
 * is final.  A 429 within max_retry_wait_ms also pauses the whole fetch
 * until the limit resets, so the other requests do not run into it.
 */
static long
retry_delay(SegmentFetch *fetch, FetchSlot *s, TimestampTz now)
{
	long		backoff;

	if (s->attempts > fetch->max_retries)
		return -1;

	backoff = Min((long) RETRY_BASE_MS << Min(s->attempts - 1, 16),
				  RETRY_MAX_BACKOFF_MS);
	backoff = backoff / 2 + (long) pg_prng_uint64_range(&pg_global_prng_state,
														 0, backoff / 2);

	if (s->transfer.result != 0)
		return segment_transfer_is_transient(&s->transfer) ? backoff : -1;

	switch (s->transfer.status)
	{
		case 500:
		case 502:
		case 503:
		case 504:
			return backoff;

		case 429:
			{
				long		wait_ms;

				/* values beyond a day are just "too long": no overflow */
				if (s->transfer.retry_after >= 0)
					wait_ms = Min(s->transfer.retry_after, SECS_PER_DAY) * 1000;
				else if (s->transfer.ratelimit_reset >= 0)
				{
					pg_time_t	reset = Min((pg_time_t) s->transfer.ratelimit_reset,
											timestamptz_to_time_t(now) + SECS_PER_DAY);

					/* the reset second has to be over, hence + 1 s */
					wait_ms = Max(0, (long) ((time_t_to_timestamptz(reset) - now) / 1000) + 1000);
				}
				else
					wait_ms = backoff;

				if (wait_ms > fetch->max_retry_wait_ms)
					return -1;
				fetch->paused_until = Max(fetch->paused_until,
										  TimestampTzPlusMilliseconds(now, wait_ms));
				return wait_ms;
			}

		default:
			return -1;
	}
}

/*
 * Count an attempt that ended, log it, and warn (once per scan, whatever
 * its rescans) when the rate limit is nearly used up.
 */
static void
record_attempt(SegmentFetch *fetch, FetchSlot *s)
{
	SegmentFetchStats *stats = fetch->stats;
	int			i;

	stats->bytes += s->transfer.len;
	if (s->transfer.result == 0)
	{
		for (i = 0; i < stats->nstatuses; i++)
		{
			if (stats->status[i] == s->transfer.status)
				break;
		}
		if (i == stats->nstatuses && i < SEGMENT_STATUS_SLOTS)
		{
			stats->status[i] = s->transfer.status;
			stats->status_count[i] = 0;
			stats->nstatuses++;
		}
		if (i < stats->nstatuses)
			stats->status_count[i]++;

		ereport(segment_log_requests ? LOG : DEBUG1,
				(errmsg_internal("segment_fdw: GET %s: HTTP %ld, %zu bytes, %.1f ms, attempt %d",
								 s->transfer.request->url, s->transfer.status, s->transfer.len,
								 s->transfer.elapsed_ms, s->attempts),
				 errhidestmt(true)));
	}
	else
	{
		/* a status may have come, but not the whole body */
		stats->transport_errors++;
		ereport(segment_log_requests ? LOG : DEBUG1,
				(errmsg_internal("segment_fdw: GET %s: no response (%s), %.1f ms, attempt %d",
								 s->transfer.request->url,
								 s->transfer.errbuf[0] ? s->transfer.errbuf : "transfer failed",
								 s->transfer.elapsed_ms, s->attempts),
				 errhidestmt(true)));
	}

	if (!stats->warned_low && s->transfer.ratelimit_limit > 0 &&
		s->transfer.ratelimit_remaining >= 0 &&
		s->transfer.ratelimit_remaining < s->transfer.ratelimit_limit * RATELIMIT_WARN_FRACTION)
	{
		stats->warned_low = true;
		ereport(WARNING,
				(errmsg("Braze rate limit nearly used up: %ld of %ld requests left",
						s->transfer.ratelimit_remaining, s->transfer.ratelimit_limit),
				 s->transfer.ratelimit_reset >= 0 ?
				 errhint("The limit resets at %s.",
						 timestamptz_to_str(time_t_to_timestamptz((pg_time_t) s->transfer.ratelimit_reset))) : 0));
	}
}

/*
 * Hand slot "s"'s transfer to the caller as a response; the body becomes the
 * caller's (see segment_fetch_release_body).
 */
static void
fill_response(SegmentFetch *fetch, FetchSlot *s, SegmentResponse *resp)
{
	resp->request = s->transfer.request;
	resp->status = s->transfer.status;
	resp->body = s->transfer.body ? s->transfer.body : MemoryContextAllocZero(fetch->cxt, 1);
	resp->len = s->transfer.len;
	resp->attempts = s->attempts;
	resp->ratelimit_reset = s->transfer.ratelimit_reset;
	resp->retry_after = s->transfer.retry_after;
	resp->max_retry_wait_ms = fetch->max_retry_wait_ms;
	resp->out_of_retries = (s->attempts > fetch->max_retries);
	s->transfer.body = NULL;
	s->transfer.len = s->transfer.cap = 0;
}

/*
 * Hand back the next successful response of the fetch (HTTP 200), in
 * request order, waiting for it as needed; false when all have been handed
 * back.
 *
 * A request whose failure is final fails the scan as soon as it is seen,
 * whatever its place, ahead of earlier responses still in flight: this is
 * the one place that raises the error of a finished transfer, a transport
 * failure's or an HTTP error status's (with its body, for the message).
 */
bool
segment_fetch_next(SegmentFetch *fetch, SegmentResponse *resp)
{
	/* its scan went with the subtransaction: nothing can read it again */
	if (fetch->abandoned)
		elog(ERROR, "segment_fdw: the requests of a scan were abandoned with its subtransaction");

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz wake = 0;
		FetchSlot  *head;
		long		timeout = -1;
		int64		i;

		give_back_finished();

		/* transfers out of time end as timed out; wake for the next one */
		for (i = fetch->next_emit; i < fetch->next_start; i++)
		{
			long		left = segment_transfer_time_left(&SLOT(fetch, i)->transfer,
														  &fetch->http);

			if (left > 0 && (timeout < 0 || left < timeout))
				timeout = left;
		}

		/* attempts that ended: count them, retry or fail */
		for (i = fetch->next_emit; i < fetch->next_start; i++)
		{
			FetchSlot *s = SLOT(fetch, i);
			long		delay;

			if (!s->transfer.done || s->recorded)
				continue;
			attempt_ended(fetch, s);
			if (s->transfer.no_descriptor && wait_for_descriptor(fetch, s, now))
				continue;
			record_attempt(fetch, s);
			s->recorded = true;
			if (succeeded(s))
				continue;

			delay = retry_delay(fetch, s, now);
			if (delay < 0)
			{
				segment_shared_count(&fetch->server, SEGMENT_COUNT_FAILED, 1);
				if (s->transfer.result != 0)
					segment_report_transfer_error(&s->transfer, &fetch->http, s->attempts);
				fill_response(fetch, s, resp);
				segment_report_http_error(resp, fetch->api_key);
			}
			s->transfer.done = false;
			s->waiting = true;
			s->retry_at = TimestampTzPlusMilliseconds(now, delay);
			fetch->stats->retries++;
			segment_shared_count(&fetch->server, SEGMENT_COUNT_RETRIES, 1);
		}

		/* start retries that are due, then new requests, as room allows */
		if (now >= fetch->paused_until)
		{
			for (i = fetch->next_emit; i < fetch->next_start; i++)
			{
				FetchSlot *s = SLOT(fetch, i);

				if (s->waiting && s->wants_descriptor &&
					segment_http_finished() != s->finished_before)
					s->wants_descriptor = false;
				if (s->waiting && !s->wants_descriptor && now >= s->retry_at &&
					running(fetch) < fetch->in_flight_cap)
				{
					if (!may_start(fetch, now))
					{
						/* due, and waits for its turn: woken by the latch */
						s->retry_at = 0;
						break;
					}
					start(fetch, s);
				}
			}
			if (!fetch->queued && now >= fetch->paused_until)
				start_new(fetch);
		}

		if (fetch->next_emit >= fetch->next_start)
		{
			/* nothing in flight: no more requests, or a pause (429) */
			if (fetch->exhausted)
			{
				leave_queue(fetch);
				return false;
			}
		}
		else
		{
			head = SLOT(fetch, fetch->next_emit);
			if (head->transfer.done && head->recorded && succeeded(head))
			{
				fetch->next_emit++;
				fill_response(fetch, head, resp);
				leave_queue(fetch);
				return true;
			}
		}

		/* wait for curl, or for the end of a pause or the next retry */
		if (fetch->paused_until > now)
		{
			wake = fetch->paused_until;
			leave_queue(fetch);
		}
		else if (running(fetch) < fetch->in_flight_cap)
		{
			for (i = fetch->next_emit; i < fetch->next_start; i++)
			{
				FetchSlot *s = SLOT(fetch, i);

				/* one waiting for a descriptor wakes with curl's sockets */
				if (s->waiting && !s->wants_descriptor && s->retry_at != 0 &&
					(wake == 0 || s->retry_at < wake))
					wake = s->retry_at;
			}
		}
		if (wake != 0)
		{
			long		until_wake = Max(0, (long) ((wake - now + 999) / 1000));

			timeout = (timeout < 0) ? until_wake : Min(timeout, until_wake);
		}
		{
			double		waited = segment_http_wait(timeout);

			fetch->stats->wait_ms += waited;
			if (fetch->queued)
				fetch->stats->queue_wait_ms += waited;
		}
	}
}

/*
 * The caller is done with a response's body: free it, so a fetch holds at
 * most max_concurrency bodies.
 */
void
segment_fetch_release_body(SegmentFetch *fetch, SegmentResponse *resp)
{
	pfree(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

/*
 * End a fetch: abort the transfers still running and free its memory.
 */
void
segment_fetch_end(SegmentFetch *fetch)
{
	MemoryContextDelete(fetch->cxt);
}
