/*-------------------------------------------------------------------------
 *
 * shared.c
 *		  The state every backend of the cluster shares: requests in flight
 *		  per server, a first-come-first-served queue for more, each
 *		  workspace's rate-limit budget, a cache of settled windows, and
 *		  the statistics of segment_fdw_stats
 *
 * All of it lives in one block of shared memory, sized at server start,
 * guarded by one LWLock (every operation is a few comparisons or a copy of
 * one window's rows).  Without shared_preload_libraries there is no block:
 * servers have no shared limit, no cache and no statistics, and the budget
 * is kept in this backend for what it has seen.
 *
 * A backend counts the slots it holds; a callback at its exit, however it
 * ends (error, cancel, pg_terminate_backend, FATAL), gives them back and
 * leaves the queue.  A crash restarts the server, and shared memory with
 * it.
 *
 * Keys never hold an API key: a workspace is the SHA-256 of the server's
 * url and the key, a cached window the SHA-256 of its workspace and its
 * request.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "access/twophase.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "segment_shared.h"

#define SHARED_SERVERS 64
#define SHARED_WORKSPACES 64
#define KEY_LEN PG_SHA256_DIGEST_LENGTH
StaticAssertDecl(SEGMENT_KEY_LEN == KEY_LEN, "a workspace key is a SHA-256");

/* A key's success lets the cache answer it for so long (see README) */
#define VERIFIED_US ((int64) 60 * USECS_PER_SEC)

/* segment_fdw.cache_size, in kB */
int			segment_cache_size = 16384;

typedef struct SharedServer
{
	Oid			dbid;
	Oid			serverid;		/* InvalidOid: a free entry */
	int			in_flight;
	int			waiting;
	dlist_head	queue;			/* Waiter, first come first */
	ConditionVariable cv;		/* a slot was given back */
	int64		counters[SEGMENT_NUM_COUNTERS];
	bool		rl_seen;
	int64		rl_limit;
	int64		rl_remaining;
	TimestampTz rl_reset;
} SharedServer;

typedef struct Workspace
{
	bool		used;
	uint8		key[KEY_LEN];
	TimestampTz touched;
	SegmentBudget budget;
	int64		sent_since;		/* requests sent since the budget was seen */
	int			in_flight;
	TimestampTz ok_at;			/* the latest 200 and 401/403 for the key */
	TimestampTz denied_at;
} Workspace;

typedef struct Waiter
{
	dlist_node	node;
	int			server;			/* whose queue it is in, or -1 */
} Waiter;

typedef struct CacheEntry
{
	bool		used;
	uint8		key[KEY_LEN];
	uint8		url[KEY_LEN];	/* SHA-256 of the server's url */
	uint8		workspace[KEY_LEN]; /* its workspace's key */
	int			next;			/* in its bucket, or -1 */
	dlist_node	lru;			/* in lru (used) or free */
	TimestampTz expires;
	int			nrows;
	SegmentRow	rows[SEGMENT_API_MAX_LENGTH];
} CacheEntry;

typedef struct SegmentShared
{
	LWLock	   *lock;
	SharedServer servers[SHARED_SERVERS];
	Workspace	workspaces[SHARED_WORKSPACES];
	int			nwaiters;
	int			ncache;
	int			nbuckets;
	dlist_head	lru;			/* most recently used first */
	dlist_head	free;
	/* then Waiter[nwaiters], int buckets[nbuckets], CacheEntry[ncache] */
} SegmentShared;

static SegmentShared *shared = NULL;
static Waiter *waiters;
static int *buckets;
static CacheEntry *entries;

/* without shared memory: this backend's budgets */
static Workspace local_workspaces[SHARED_WORKSPACES];

/* the slots this backend holds, by server */
static int	held[SHARED_SERVERS];
static bool exit_callback_set = false;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void shared_request(void);
static void shared_startup(void);
static int	waiter_count(void);
static Size shared_size(void);
static Waiter *my_waiter(void);
static void shared_exit(int code, Datum arg);
static void digest(uint8 out[KEY_LEN], const char *a, size_t alen,
				   const char *b, size_t blen);
static Workspace *workspace_array(void);
static void lock_exclusive(void);
static void unlock(void);
static CacheEntry *cache_find(const uint8 key[KEY_LEN]);
static SharedServer *server_locked(SegmentServerRef *ref, bool claim);
static Workspace *workspace_locked(SegmentWorkspaceRef *ref, bool claim);
static void give_back(int server);
static int64 cache_reset(const uint8 *urlkey, const uint8 *workspace);
static const char *option_of(List *options, const char *name);
static const char *own_api_key(Oid serverid);
static void cache_remove(CacheEntry *e);

/*
 * Called by _PG_init: while preloading, the setting and the hooks that make
 * the block.
 */
void
segment_shared_init(void)
{
	/* a setting of the postmaster's alone, as shared memory is */
	if (!process_shared_preload_libraries_in_progress)
		return;
	DefineCustomIntVariable("segment_fdw.cache_size",
							"Shared memory for the cache of settled days.",
							"Windows of settled days are kept for cache_ttl in this much shared memory, least recently used first out; 0 turns the cache off.  Needs segment_fdw in shared_preload_libraries.",
							&segment_cache_size,
							16384, 0, INT_MAX / 1024,
							PGC_POSTMASTER,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shared_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shared_startup;
}

/*
 * Is the library preloaded, with its block?
 */
bool
segment_shared_enabled(void)
{
	return shared != NULL;
}

/*
 * Every process that can run a query has a PGPROC, and a Waiter.
 */
static int
waiter_count(void)
{
	return MaxBackends + NUM_AUXILIARY_PROCS + max_prepared_xacts;
}

/*
 * The bytes of the block at the current settings.
 */
static Size
shared_size(void)
{
	int			ncache = (int) (((int64) segment_cache_size * 1024) /
								sizeof(CacheEntry));
	Size		size = MAXALIGN(sizeof(SegmentShared));

	size = add_size(size, MAXALIGN(mul_size(waiter_count(), sizeof(Waiter))));
	size = add_size(size, MAXALIGN(mul_size(Max(ncache, 1), sizeof(int))));
	size = add_size(size, mul_size(ncache, sizeof(CacheEntry)));
	return size;
}

static void
shared_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("segment_fdw", 1);
}

static void
shared_startup(void)
{
	bool		found;
	char	   *base;
	int			i;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("segment_fdw", shared_size(), &found);
	base = (char *) shared + MAXALIGN(sizeof(SegmentShared));
	if (!found)
	{
		memset(shared, 0, sizeof(SegmentShared));
		shared->lock = &(GetNamedLWLockTranche("segment_fdw"))->lock;
		shared->nwaiters = waiter_count();
		shared->ncache = (int) (((int64) segment_cache_size * 1024) /
								sizeof(CacheEntry));
		shared->nbuckets = Max(shared->ncache, 1);
		for (i = 0; i < SHARED_SERVERS; i++)
		{
			dlist_init(&shared->servers[i].queue);
			ConditionVariableInit(&shared->servers[i].cv);
		}
		dlist_init(&shared->lru);
		dlist_init(&shared->free);
	}
	waiters = (Waiter *) base;
	base += MAXALIGN(mul_size(shared->nwaiters, sizeof(Waiter)));
	buckets = (int *) base;
	base += MAXALIGN(mul_size(shared->nbuckets, sizeof(int)));
	entries = (CacheEntry *) base;
	if (!found)
	{
		for (i = 0; i < shared->nwaiters; i++)
			waiters[i].server = -1;
		for (i = 0; i < shared->nbuckets; i++)
			buckets[i] = -1;
		for (i = 0; i < shared->ncache; i++)
		{
			entries[i].used = false;
			dlist_push_tail(&shared->free, &entries[i].lru);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
lock_exclusive(void)
{
	if (shared)
		LWLockAcquire(shared->lock, LW_EXCLUSIVE);
}

static void
unlock(void)
{
	if (shared)
		LWLockRelease(shared->lock);
}

/*
 * This backend's Waiter, and the callback that cleans up after it.
 */
static Waiter *
my_waiter(void)
{
	if (!exit_callback_set)
	{
		before_shmem_exit(shared_exit, (Datum) 0);
		exit_callback_set = true;
	}
	return &waiters[segment_my_proc_number()];
}

/*
 * The backend ends, however: give back its slots, leave any queue.
 */
static void
shared_exit(int code, Datum arg)
{
	int			i;

	if (shared == NULL)
		return;
	segment_slot_leave_queue();
	for (i = 0; i < SHARED_SERVERS; i++)
	{
		while (held[i] > 0)
			give_back(i);
	}
}

/*
 * A reference to server "serverid" of this database, found in shared
 * memory when first used.
 */
void
segment_server_ref(SegmentServerRef *ref, Oid serverid)
{
	ref->serverid = serverid;
	ref->index = -1;
}

/*
 * The entry of "ref", under the lock: where it was last found if it is
 * still there, else found again, else (with "claim") made, taking over an
 * idle entry of any server when the table is full (whose statistics start
 * over).  NULL without shared memory, or when every entry is busy.
 */
static SharedServer *
server_locked(SegmentServerRef *ref, bool claim)
{
	int			free_at = -1;
	int			idle_at = -1;
	int			i;

	if (shared == NULL || ref == NULL)
		return NULL;
	if (ref->index >= 0 &&
		shared->servers[ref->index].serverid == ref->serverid &&
		shared->servers[ref->index].dbid == MyDatabaseId)
		return &shared->servers[ref->index];
	for (i = 0; i < SHARED_SERVERS; i++)
	{
		SharedServer *s = &shared->servers[i];

		if (s->serverid == ref->serverid && s->dbid == MyDatabaseId)
		{
			ref->index = i;
			return s;
		}
		if (!OidIsValid(s->serverid) && free_at < 0)
			free_at = i;
		if (s->in_flight == 0 && s->waiting == 0 && idle_at < 0)
			idle_at = i;
	}
	i = (free_at >= 0) ? free_at : idle_at;
	if (!claim || i < 0)
		return NULL;
	shared->servers[i].dbid = MyDatabaseId;
	shared->servers[i].serverid = ref->serverid;
	memset(shared->servers[i].counters, 0, sizeof(shared->servers[i].counters));
	shared->servers[i].rl_seen = false;
	ref->index = i;
	return &shared->servers[i];
}

/*
 * Take a slot of "server" for one request, if fewer than "max_total" are
 * in flight and no backend waits before this one; otherwise join the queue
 * (once) and return false.  A queued backend's latch is set when a slot is
 * given back, so the caller waits for curl and for its turn at once, and
 * tries again.
 */
bool
segment_slot_take(SegmentServerRef *ref, int max_total)
{
	SharedServer *s;
	Waiter	   *me;
	bool		taken = false;
	bool		wake = false;
	int			left = -1;
	int			server;

	if (shared == NULL)
		return true;
	me = my_waiter();
	lock_exclusive();
	s = server_locked(ref, true);
	unlock();
	if (s == NULL)
		return true;			/* no entry free: no shared limit for it */
	server = ref->index;
	/* before looking: a slot given back from now on sets the latch */
	ConditionVariablePrepareToSleep(&s->cv);
	lock_exclusive();
	if (server_locked(ref, false) != s)
	{
		/* taken over meanwhile (it was idle): look again next time */
		unlock();
		ConditionVariableCancelSleep();
		return false;
	}
	if (s->in_flight < max_total &&
		(dlist_is_empty(&s->queue) ||
		 dlist_head_node(&s->queue) == &me->node))
	{
		if (me->server == server)
		{
			dlist_delete(&me->node);
			me->server = -1;
			s->waiting--;
		}
		s->in_flight++;
		held[server]++;
		taken = true;
		/* the next in line may have room too */
		wake = s->waiting > 0 && s->in_flight < max_total;
	}
	else if (me->server != server)
	{
		/* waiting for another server's turn too: that place is given up */
		if (me->server >= 0)
		{
			dlist_delete(&me->node);
			shared->servers[me->server].waiting--;
			left = me->server;
		}
		dlist_push_tail(&s->queue, &me->node);
		me->server = server;
		s->waiting++;
	}
	unlock();
	if (left >= 0)
		ConditionVariableBroadcast(&shared->servers[left].cv);
	if (taken)
		ConditionVariableCancelSleep();
	if (wake)
		ConditionVariableBroadcast(&s->cv);
	return taken;
}

/*
 * A request of "server" ended: its slot is free for the next in line.
 */
void
segment_slot_give_back(SegmentServerRef *ref)
{
	if (shared != NULL && ref != NULL && ref->index >= 0)
		give_back(ref->index);
}

/*
 * Give back a slot of the server at "server" (it cannot have been taken
 * over: it has requests in flight).
 */
static void
give_back(int server)
{
	SharedServer *s;
	bool		wake;

	if (held[server] <= 0)
		return;
	s = &shared->servers[server];
	lock_exclusive();
	s->in_flight--;
	held[server]--;
	wake = s->waiting > 0;
	unlock();
	if (wake)
		ConditionVariableBroadcast(&s->cv);
}

/*
 * This backend no longer waits for a slot (its query ended or failed).
 */
void
segment_slot_leave_queue(void)
{
	Waiter	   *me;
	int			server;

	if (shared == NULL)
		return;
	me = my_waiter();
	server = me->server;
	if (server < 0)
		return;
	lock_exclusive();
	dlist_delete(&me->node);
	me->server = -1;
	shared->servers[server].waiting--;
	unlock();
	ConditionVariableCancelSleep();
	/* whoever is next may go now */
	ConditionVariableBroadcast(&shared->servers[server].cv);
}

/*
 * Add "n" to a counter of "server".
 */
void
segment_shared_count(SegmentServerRef *ref, SegmentCounter counter, int64 n)
{
	SharedServer *s;

	if (shared == NULL)
		return;
	lock_exclusive();
	if ((s = server_locked(ref, true)) != NULL)
		s->counters[counter] += n;
	unlock();
}

/*
 * A response of "server" carried rate-limit headers (-1: absent).
 */
void
segment_shared_rate_limit(SegmentServerRef *ref, long limit, long remaining,
						  long reset)
{
	SharedServer *s;

	if (shared == NULL || limit < 0 || remaining < 0)
		return;
	lock_exclusive();
	if ((s = server_locked(ref, true)) != NULL)
	{
		s->rl_seen = true;
		s->rl_limit = limit;
		s->rl_remaining = remaining;
		s->rl_reset = reset >= 0 ? time_t_to_timestamptz((pg_time_t) reset) : 0;
	}
	unlock();
}

/*
 * SHA-256 of "a", a NUL, and "b".
 */
static void
digest(uint8 out[KEY_LEN], const char *a, size_t alen,
	   const char *b, size_t blen)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL ||
		pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) a, alen) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) "", 1) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) b, blen) < 0 ||
		pg_cryptohash_final(ctx, out, KEY_LEN) < 0)
	{
		pg_cryptohash_free(ctx);
		elog(ERROR, "segment_fdw: could not compute a SHA-256 digest");
	}
	pg_cryptohash_free(ctx);
}

static Workspace *
workspace_array(void)
{
	return shared ? shared->workspaces : local_workspaces;
}

/*
 * A reference to the workspace of a server's url and an API key: the one
 * Braze budget they share.  Only digests are kept.
 */
void
segment_workspace_ref(SegmentWorkspaceRef *ref, const char *url,
					  const char *api_key)
{
	digest(ref->key, url, strlen(url), api_key, strlen(api_key));
	ref->index = -1;
}

/*
 * The entry of "ref", under the lock (or this backend's, without shared
 * memory): where it was last found if it still holds the same key, else
 * found again, else (with "claim") made in place of the one unused for
 * longest.  NULL when not found and not claimed.
 */
static Workspace *
workspace_locked(SegmentWorkspaceRef *ref, bool claim)
{
	Workspace  *ws = workspace_array();
	int			oldest = 0;
	int			i;

	if (ref->index >= 0 && ws[ref->index].used &&
		memcmp(ws[ref->index].key, ref->key, KEY_LEN) == 0)
		return &ws[ref->index];
	for (i = 0; i < SHARED_WORKSPACES; i++)
	{
		if (ws[i].used && memcmp(ws[i].key, ref->key, KEY_LEN) == 0)
		{
			ref->index = i;
			return &ws[i];
		}
		if (!ws[i].used || (ws[oldest].used && ws[i].touched < ws[oldest].touched))
			oldest = i;
	}
	if (!claim)
		return NULL;
	memset(&ws[oldest], 0, sizeof(Workspace));
	ws[oldest].used = true;
	memcpy(ws[oldest].key, ref->key, KEY_LEN);
	ws[oldest].touched = GetCurrentTimestamp();
	ref->index = oldest;
	return &ws[oldest];
}

/*
 * The budget of "ref" now: what the latest response said, less the
 * requests sent since; unknown once its hour has reset.
 */
void
segment_budget_get(SegmentWorkspaceRef *ref, SegmentBudget *budget)
{
	Workspace  *ws;

	lock_exclusive();
	ws = workspace_locked(ref, false);
	if (ws)
	{
		*budget = ws->budget;
		budget->remaining -= ws->sent_since;
	}
	else
		memset(budget, 0, sizeof(*budget));
	unlock();
	if (budget->known && budget->reset > 0 &&
		GetCurrentTimestamp() >= budget->reset)
		budget->known = false;
}

/*
 * A request of "ref" leaves.
 */
void
segment_budget_sent(SegmentWorkspaceRef *ref)
{
	Workspace  *ws;

	lock_exclusive();
	ws = workspace_locked(ref, true);
	ws->sent_since++;
	ws->in_flight++;
	ws->touched = GetCurrentTimestamp();
	unlock();
}

/*
 * A request of "ref" ended, with "status" (0: no response) and its
 * rate-limit headers (-1: absent).  The requests still in flight may not
 * be counted in the new Remaining yet: they stay subtracted.
 */
void
segment_budget_answered(SegmentWorkspaceRef *ref, long status, long limit,
						long remaining, long reset)
{
	Workspace  *ws;
	TimestampTz now = GetCurrentTimestamp();

	lock_exclusive();
	ws = workspace_locked(ref, true);
	ws->in_flight = Max(ws->in_flight - 1, 0);
	if (limit >= 0 && remaining >= 0)
	{
		ws->budget.known = true;
		ws->budget.limit = limit;
		ws->budget.remaining = remaining;
		ws->budget.reset = reset >= 0 ?
			time_t_to_timestamptz((pg_time_t) reset) : 0;
		ws->sent_since = ws->in_flight;
	}
	if (status == 200)
		ws->ok_at = now;
	else if (status == 401 || status == 403)
		ws->denied_at = now;
	ws->touched = now;
	unlock();
}

/*
 * The entry of "key" in the cache, or NULL.  Under the lock.
 */
static CacheEntry *
cache_find(const uint8 key[KEY_LEN])
{
	uint32		h;
	int			i;

	memcpy(&h, key, sizeof(h));
	for (i = buckets[h % shared->nbuckets]; i >= 0; i = entries[i].next)
	{
		if (memcmp(entries[i].key, key, KEY_LEN) == 0)
			return &entries[i];
	}
	return NULL;
}

/*
 * Take "e" out of its bucket and the LRU list, to the free list.  Under
 * the lock.
 */
static void
cache_remove(CacheEntry *e)
{
	uint32		h;
	int		   *link;
	int			index = e - entries;

	memcpy(&h, e->key, sizeof(h));
	for (link = &buckets[h % shared->nbuckets]; *link >= 0;
		 link = &entries[*link].next)
	{
		if (*link == index)
		{
			*link = e->next;
			break;
		}
	}
	dlist_delete(&e->lru);
	dlist_push_tail(&shared->free, &e->lru);
	e->used = false;
}

/*
 * The rows of a settled window of the workspace of "ref" (its request's
 * "target"), copied into the current memory context, if the cache has
 * them.  Only for a key that Braze answered within VERIFIED_US, and has not
 * refused since: a key that lost its permission soon gets Braze's answer.
 */
bool
segment_cache_get(SegmentWorkspaceRef *ref, const char *target,
				  SegmentRow **rows, int *nrows)
{
	Workspace  *ws;
	CacheEntry *e;
	uint8		key[KEY_LEN];
	TimestampTz now = GetCurrentTimestamp();
	SegmentRow *copy;
	bool		found = false;

	if (shared == NULL || shared->ncache == 0)
		return false;
	digest(key, (const char *) ref->key, KEY_LEN, target, strlen(target));
	copy = palloc(sizeof(SegmentRow) * SEGMENT_API_MAX_LENGTH);
	lock_exclusive();
	ws = workspace_locked(ref, false);
	if (ws != NULL && ws->ok_at > ws->denied_at &&
		now - ws->ok_at <= VERIFIED_US &&
		(e = cache_find(key)) != NULL)
	{
		if (e->expires <= now)
			cache_remove(e);
		else
		{
			dlist_move_head(&shared->lru, &e->lru);
			memcpy(copy, e->rows, sizeof(SegmentRow) * e->nrows);
			*nrows = e->nrows;
			found = true;
		}
	}
	unlock();
	if (found)
		*rows = copy;
	else
		pfree(copy);
	return found;
}

/*
 * Keep the rows of a settled window of the workspace of "ref" for
 * "ttl_ms", pushing out the least recently used window if the cache is
 * full.
 */
void
segment_cache_put(SegmentWorkspaceRef *ref, const char *url,
				  const char *target, const SegmentRow *rows, int nrows,
				  int64 ttl_ms)
{
	CacheEntry *e;
	uint8		key[KEY_LEN];
	uint8		urlkey[KEY_LEN];
	uint32		h;

	if (shared == NULL || shared->ncache == 0 || ttl_ms <= 0 ||
		nrows > SEGMENT_API_MAX_LENGTH)
		return;
	digest(key, (const char *) ref->key, KEY_LEN, target, strlen(target));
	digest(urlkey, url, strlen(url), "", 0);
	lock_exclusive();
	if ((e = cache_find(key)) != NULL)
		cache_remove(e);
	if (dlist_is_empty(&shared->free))
		cache_remove(dlist_tail_element(CacheEntry, lru, &shared->lru));
	e = dlist_head_element(CacheEntry, lru, &shared->free);
	dlist_delete(&e->lru);
	dlist_push_head(&shared->lru, &e->lru);
	e->used = true;
	memcpy(e->key, key, KEY_LEN);
	memcpy(e->url, urlkey, KEY_LEN);
	memcpy(e->workspace, ref->key, KEY_LEN);
	e->expires = GetCurrentTimestamp() + ttl_ms * 1000;
	e->nrows = nrows;
	memcpy(e->rows, rows, sizeof(SegmentRow) * nrows);
	memcpy(&h, key, sizeof(h));
	e->next = buckets[h % shared->nbuckets];
	buckets[h % shared->nbuckets] = e - entries;
	unlock();
}

/*
 * Empty the cache: every window (both NULL), those of a url, or those of
 * one workspace (a url and a key).  Returns the windows dropped.
 */
static int64
cache_reset(const uint8 *urlkey, const uint8 *workspace)
{
	dlist_mutable_iter iter;
	int64		dropped = 0;

	lock_exclusive();
	dlist_foreach_modify(iter, &shared->lru)
	{
		CacheEntry *e = dlist_container(CacheEntry, lru, iter.cur);

		if ((urlkey == NULL || memcmp(e->url, urlkey, KEY_LEN) == 0) &&
			(workspace == NULL || memcmp(e->workspace, workspace, KEY_LEN) == 0))
		{
			cache_remove(e);
			dropped++;
		}
	}
	unlock();
	return dropped;
}

/*
 * The value of option "name" among "options", or NULL.
 */
static const char *
option_of(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}

/*
 * The api_key of the current user's mapping for "serverid" (or PUBLIC's,
 * as GetUserMapping finds it), or NULL when there is none.
 */
static const char *
own_api_key(Oid serverid)
{
	Oid			users[2] = {GetUserId(), InvalidOid};
	int			i;

	for (i = 0; i < 2; i++)
	{
		HeapTuple	tp = SearchSysCache2(USERMAPPINGUSERSERVER,
										 ObjectIdGetDatum(users[i]),
										 ObjectIdGetDatum(serverid));
		Datum		datum;
		bool		isnull;
		const char *key = NULL;

		if (!HeapTupleIsValid(tp))
			continue;
		datum = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp,
								Anum_pg_user_mapping_umoptions, &isnull);
		if (!isnull)
			key = option_of(untransformRelOptions(datum), "api_key");
		ReleaseSysCache(tp);
		return key;
	}
	return NULL;
}

/*
 * Raise the error of a function that needs shared memory.
 */
static void
require_shared(const char *function)
{
	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s needs segment_fdw in shared_preload_libraries",
						function),
				 errdetail("Without it, each session keeps its own state: there are no shared statistics or cache."),
				 errhint("Add segment_fdw to shared_preload_libraries and restart the server.")));
}

PG_FUNCTION_INFO_V1(segment_fdw_cache_reset);

/*
 * segment_fdw_cache_reset(server name DEFAULT NULL): drop the cached windows
 * of a server (its owner: those of the owner's own key; a superuser: those
 * of every key), or all of them (a superuser).
 */
Datum
segment_fdw_cache_reset(PG_FUNCTION_ARGS)
{
	ForeignServer *server;
	SegmentWorkspaceRef ref;
	uint8		urlkey[KEY_LEN];
	const char *url;
	const char *key;

	if (PG_ARGISNULL(0))
	{
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers can empty the whole cache of segment_fdw"),
					 errhint("Name a server you own: segment_fdw_cache_reset('server').")));
		require_shared("segment_fdw_cache_reset()");
		PG_RETURN_INT64(cache_reset(NULL, NULL));
	}
	server = GetForeignServerByName(NameStr(*PG_GETARG_NAME(0)), false);
	if (!superuser() && !segment_server_ownercheck(server->serverid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of foreign server %s", server->servername)));
	require_shared("segment_fdw_cache_reset()");
	url = option_of(server->options, "url");
	if (url == NULL)
		PG_RETURN_INT64(0);
	digest(urlkey, url, strlen(url), "", 0);
	if (superuser())
		PG_RETURN_INT64(cache_reset(urlkey, NULL));
	/* another role's key may use the same url: only the owner's own windows */
	key = own_api_key(server->serverid);
	if (key == NULL)
		PG_RETURN_INT64(0);
	segment_workspace_ref(&ref, url, key);
	PG_RETURN_INT64(cache_reset(urlkey, ref.key));
}

PG_FUNCTION_INFO_V1(segment_fdw_stats);

/*
 * segment_fdw_stats(): one row per server of this database that has sent
 * requests since the server started (or since its entry was taken over).
 */
Datum
segment_fdw_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SharedServer copy[SHARED_SERVERS];
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	MemoryContext oldcxt;
	int			n = 0;
	int			i;

	require_shared("segment_fdw_stats");
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "segment_fdw: return type must be a row type");

	lock_exclusive();
	for (i = 0; i < SHARED_SERVERS; i++)
	{
		if (OidIsValid(shared->servers[i].serverid) &&
			shared->servers[i].dbid == MyDatabaseId)
			copy[n++] = shared->servers[i];
	}
	unlock();

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	tupdesc = CreateTupleDescCopy(tupdesc);
	store = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	MemoryContextSwitchTo(oldcxt);

	for (i = 0; i < n; i++)
	{
		ForeignServer *server = GetForeignServerExtended(copy[i].serverid,
														 FSV_MISSING_OK);
		Datum		values[12];
		bool		nulls[12] = {0};
		Name		name;
		int			c;

		if (server == NULL)
			continue;			/* dropped since */
		/* as pg_foreign_server's options: for those who may use the server */
		if (!superuser() &&
			segment_server_aclcheck(server->serverid, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
			continue;
		name = palloc0(NAMEDATALEN);
		namestrcpy(name, server->servername);
		values[0] = NameGetDatum(name);
		for (c = 0; c < SEGMENT_NUM_COUNTERS; c++)
			values[1 + c] = Int64GetDatum(copy[i].counters[c]);
		values[7] = Int32GetDatum(copy[i].in_flight);
		values[8] = Int32GetDatum(copy[i].waiting);
		values[9] = Int64GetDatum(copy[i].rl_limit);
		values[10] = Int64GetDatum(copy[i].rl_remaining);
		values[11] = TimestampTzGetDatum(copy[i].rl_reset);
		nulls[9] = nulls[10] = !copy[i].rl_seen;
		nulls[11] = !copy[i].rl_seen || copy[i].rl_reset == 0;
		tuplestore_putvalues(store, tupdesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(segment_fdw_stats_reset);

/*
 * segment_fdw_stats_reset(): zero the counters of this database's servers.
 */
Datum
segment_fdw_stats_reset(PG_FUNCTION_ARGS)
{
	int			i;

	require_shared("segment_fdw_stats_reset()");
	lock_exclusive();
	for (i = 0; i < SHARED_SERVERS; i++)
	{
		if (shared->servers[i].dbid == MyDatabaseId)
			memset(shared->servers[i].counters, 0,
				   sizeof(shared->servers[i].counters));
	}
	unlock();
	PG_RETURN_VOID();
}
