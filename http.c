/*-------------------------------------------------------------------------
 *
 * http.c
 *		  libcurl for segment_fdw: URLs, the shared multi handle, transfers
 *		  and waiting on them
 *
 * One CURLM lives for the whole backend, so its connection cache keeps
 * connections to Braze alive across queries; finished easy handles go back
 * to a small pool.  A scan's requests run as a "fetch": up to
 * max_concurrency transfers at once, handed back in request order so rows
 * come out in a stable order, holding at most max_concurrency bodies.
 *
 * The backend waits on curl's sockets and its own latch together
 * (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION with a WaitEventSet),
 * so cancel and statement_timeout act at once and nothing busy-loops.
 *
 * No PostgreSQL error is ever raised inside a curl callback: the callbacks
 * record what happened and return, and errors are raised afterwards.  The
 * easy handles of a fetch are detached by a reset callback of the fetch's
 * memory context, so they are released whether the scan ends normally or
 * its query fails.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "segment_fdw.h"

/* Handles kept for reuse, and sockets curl may ask us to watch at once */
#define MAX_IDLE_HANDLES 64
#define MAX_WATCHED_SOCKETS 256

/* Longest single wait; curl's timer normally fires sooner */
#define MAX_WAIT_MS 1000

/* One HTTP request of a fetch, and what came back */
typedef struct Transfer
{
	SegmentFetch *fetch;
	SegmentRequest *request;
	CURL	   *easy;			/* attached to the multi handle, or NULL */
	bool		started;
	bool		done;
	CURLcode	result;
	long		status;
	char	   *body;			/* in the fetch's context */
	size_t		len;
	size_t		cap;
	bool		too_large;		/* body passed max_response_bytes */
	bool		out_of_memory;
	bool		connected;		/* connection (and TLS) was established */
	long		ratelimit_remaining;	/* -1 if the header was absent */
	long		ratelimit_reset;
	char		errbuf[CURL_ERROR_SIZE];
} Transfer;

struct SegmentFetch
{
	MemoryContext cxt;			/* holds this struct and the bodies */
	MemoryContextCallback cleanup;
	struct curl_slist *headers; /* Authorization, Accept */
	int			timeout_ms;
	int			connect_timeout_ms;
	int			max_concurrency;
	size_t		max_response_bytes;
	Transfer   *transfers;
	int			ntransfers;
	int			next_start;		/* first transfer not yet started */
	int			next_emit;		/* first transfer not yet handed back */
};

/* A socket curl wants watched, and for what (CURL_POLL_IN/OUT/INOUT) */
typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;
} WatchedSocket;

static CURLM *multi = NULL;
static CURL *idle_handles[MAX_IDLE_HANDLES];
static int	n_idle_handles = 0;
static WatchedSocket watched[MAX_WATCHED_SOCKETS];
static int	n_watched = 0;
static long timer_ms = -1;		/* curl's timeout, -1 for none */
static TimestampTz timer_set_at;

static void ensure_multi(void);
static int	socket_callback(CURL *easy, curl_socket_t fd, int what,
							void *userp, void *socketp);
static int	timer_callback(CURLM *m, long timeout_ms, void *userp);
static size_t write_callback(char *ptr, size_t size, size_t nmemb,
							 void *userdata);
static size_t header_callback(char *ptr, size_t size, size_t nmemb,
							  void *userdata);
static void fetch_cleanup(void *arg);
static void start_transfer(SegmentFetch *fetch, Transfer *t);
static void release_handle(CURL *easy);
static void wait_for_activity(void);
static void drive(curl_socket_t fd, int ev_bitmask);
static void report_transfer_error(SegmentFetch *fetch, Transfer *t);

/*
 * Check that "url" can be a server's url: an absolute http or https URL
 * without credentials, query or fragment.  On failure, set *detail to why.
 * No network access.
 */
bool
segment_check_url(const char *url, char **detail)
{
	CURLU	   *h = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *part = NULL;
	bool		ok = false;

	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
		*detail = "It is not an absolute URL.";
	else if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
			 (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		*detail = "Only http and https URLs are supported.";
	else if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
			 host[0] == '\0')
		*detail = "The URL has no host.";
	else if (curl_url_get(h, CURLUPART_USER, &part, 0) == CURLUE_OK)
		*detail = "The URL must not contain credentials; put the key in the user mapping's api_key option.";
	else if (curl_url_get(h, CURLUPART_QUERY, &part, 0) == CURLUE_OK)
		*detail = "The URL must not have a query string.";
	else if (curl_url_get(h, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK)
		*detail = "The URL must not have a fragment.";
	else
		ok = true;

	curl_free(scheme);
	curl_free(host);
	curl_free(part);
	curl_url_cleanup(h);
	return ok;
}

/*
 * Append "name=value" to the query of "h", the value percent-encoded by
 * curl.  Does not throw.
 */
static CURLUcode
append_param(CURLU *h, const char *name, const char *value)
{
	char	   *escaped = curl_easy_escape(NULL, value, 0);
	char	   *param;
	CURLUcode	rc;

	if (escaped == NULL)
		return CURLUE_OUT_OF_MEMORY;
	param = palloc_extended(strlen(name) + strlen(escaped) + 2,
							MCXT_ALLOC_NO_OOM);
	if (param == NULL)
	{
		curl_free(escaped);
		return CURLUE_OUT_OF_MEMORY;
	}
	sprintf(param, "%s=%s", name, escaped);
	curl_free(escaped);
	rc = curl_url_set(h, CURLUPART_QUERY, param, CURLU_APPENDQUERY);
	pfree(param);
	return rc;
}

/*
 * Set req->url and req->target (path and query) for a request: the API path
 * appended to the server's url, and its parameters encoded by curl's URL
 * API, so a segment id such as "a&b=c d/é" arrives intact.
 */
void
segment_url_for_request(const char *base_url, SegmentRequest *req)
{
	CURLU	   *h = curl_url();
	char	   *path = NULL;
	char	   *url = NULL;
	char	   *query = NULL;
	char	   *newpath;
	size_t		pathlen;
	CURLUcode	rc;

	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	/* from here to curl_url_cleanup, nothing may throw */
	rc = curl_url_set(h, CURLUPART_URL, base_url, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(h, CURLUPART_PATH, &path, 0);
	if (rc == CURLUE_OK)
	{
		/* base path without trailing slashes, then the API's path */
		pathlen = strlen(path);
		while (pathlen > 0 && path[pathlen - 1] == '/')
			pathlen--;
		newpath = palloc_extended(pathlen + sizeof(SEGMENT_API_PATH),
								  MCXT_ALLOC_NO_OOM);
		if (newpath == NULL)
			rc = CURLUE_OUT_OF_MEMORY;
		else
		{
			memcpy(newpath, path, pathlen);
			strcpy(newpath + pathlen, SEGMENT_API_PATH);
			rc = curl_url_set(h, CURLUPART_PATH, newpath, 0);
			pfree(newpath);
		}
	}

	/* percent-encode the values (a space as %20, never '+') */
	if (rc == CURLUE_OK)
		rc = append_param(h, "segment_id", req->segment_id);
	if (rc == CURLUE_OK)
	{
		char		length[16];

		snprintf(length, sizeof(length), "%d", req->length);
		rc = append_param(h, "length", length);
	}
	if (rc == CURLUE_OK && req->ending_at)
		rc = append_param(h, "ending_at", req->ending_at);

	curl_free(path);
	path = NULL;
	if (rc == CURLUE_OK)
		rc = curl_url_get(h, CURLUPART_URL, &url, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(h, CURLUPART_PATH, &path, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(h, CURLUPART_QUERY, &query, 0);

	if (rc == CURLUE_OK)
	{
		req->url = pstrdup(url);
		req->target = psprintf("%s?%s", path, query);
	}

	curl_free(url);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(h);

	if (rc != CURLUE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not build the request URL for segment \"%s\"",
						req->segment_id),
				 errdetail_internal("%s", curl_url_strerror(rc))));
}

/*
 * Create the backend's multi handle on first use.
 */
static void
ensure_multi(void)
{
	static bool global_done = false;

	if (multi != NULL)
		return;

	if (!global_done)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("could not initialize libcurl")));
		global_done = true;
	}

	multi = curl_multi_init();
	if (multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a libcurl multi handle.")));

	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_callback);
	/* enough idle connections for the largest max_concurrency */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) MAX_IDLE_HANDLES);
}

/*
 * curl tells which sockets to watch, and for what.  Recorded for the next
 * wait; returns -1 (failing the transfer) only if the table is full.
 */
static int
socket_callback(CURL *easy, curl_socket_t fd, int what, void *userp,
				void *socketp)
{
	int			i;

	for (i = 0; i < n_watched; i++)
	{
		if (watched[i].fd == fd)
			break;
	}

	if (what == CURL_POLL_REMOVE)
	{
		if (i < n_watched)
			watched[i] = watched[--n_watched];
		return 0;
	}

	if (i == n_watched)
	{
		if (n_watched == MAX_WATCHED_SOCKETS)
			return -1;
		n_watched++;
	}
	watched[i].fd = fd;
	watched[i].what = what;
	return 0;
}

/*
 * curl tells when it next wants to be called without socket activity.
 */
static int
timer_callback(CURLM *m, long timeout_ms, void *userp)
{
	timer_ms = timeout_ms;
	timer_set_at = GetCurrentTimestamp();
	return 0;
}

/*
 * Append received body bytes.  Memory comes from the fetch's context
 * without throwing; past max_response_bytes or out of memory, abort the
 * transfer (returning a short count) and let the caller report it.
 */
static size_t
write_callback(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Transfer   *t = (Transfer *) userdata;
	size_t		n = size * nmemb;

	if (t->len + n > t->fetch->max_response_bytes)
	{
		t->too_large = true;
		return 0;
	}

	if (t->len + n + 1 > t->cap)
	{
		size_t		newcap = Max(t->cap * 2, Max(t->len + n + 1, 8192));
		char	   *newbody;

		newbody = MemoryContextAllocExtended(t->fetch->cxt, newcap,
											 MCXT_ALLOC_NO_OOM | MCXT_ALLOC_HUGE);
		if (newbody == NULL)
		{
			t->out_of_memory = true;
			return 0;
		}
		if (t->body)
		{
			memcpy(newbody, t->body, t->len);
			pfree(t->body);
		}
		t->body = newbody;
		t->cap = newcap;
	}

	memcpy(t->body + t->len, ptr, n);
	t->len += n;
	t->body[t->len] = '\0';
	return n;
}

/*
 * Pick the rate-limit headers out of the response.  Names are matched
 * without regard to case (HTTP/2 sends them in lower case).
 */
static size_t
header_callback(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	Transfer   *t = (Transfer *) userdata;
	size_t		n = size * nmemb;
	static const char remaining[] = "x-ratelimit-remaining:";
	static const char reset[] = "x-ratelimit-reset:";
	char		value[32];
	size_t		namelen;
	long	   *target;

	if (n >= sizeof(remaining) - 1 &&
		pg_strncasecmp(ptr, remaining, sizeof(remaining) - 1) == 0)
	{
		namelen = sizeof(remaining) - 1;
		target = &t->ratelimit_remaining;
	}
	else if (n >= sizeof(reset) - 1 &&
			 pg_strncasecmp(ptr, reset, sizeof(reset) - 1) == 0)
	{
		namelen = sizeof(reset) - 1;
		target = &t->ratelimit_reset;
	}
	else
		return n;

	/* the header line is not NUL-terminated: copy the value out */
	if (n - namelen < sizeof(value))
	{
		char	   *end;
		long		v;

		memcpy(value, ptr + namelen, n - namelen);
		value[n - namelen] = '\0';
		errno = 0;
		v = strtol(value, &end, 10);
		if (errno == 0 && end != value)
			*target = v;
	}
	return n;
}

/*
 * Start fetching "requests" (a list of SegmentRequest): the transfers are
 * started by segment_fetch_next as room allows.  The fetch and its bodies
 * live in a new child of "parent".
 */
SegmentFetch *
segment_fetch_begin(MemoryContext parent, const SegmentFdwOptions *opts,
					List *requests)
{
	MemoryContext cxt;
	SegmentFetch *fetch;
	char	   *auth;
	struct curl_slist *list;
	ListCell   *lc;
	int			i = 0;

	ensure_multi();

	cxt = AllocSetContextCreate(parent, "segment_fdw fetch",
								ALLOCSET_DEFAULT_SIZES);
	fetch = MemoryContextAllocZero(cxt, sizeof(SegmentFetch));
	fetch->cxt = cxt;
	fetch->timeout_ms = opts->timeout_ms;
	fetch->connect_timeout_ms = opts->connect_timeout_ms;
	fetch->max_concurrency = opts->max_concurrency;
	fetch->max_response_bytes = (size_t) opts->max_response_bytes;
	fetch->ntransfers = list_length(requests);
	fetch->transfers = MemoryContextAllocZero(cxt,
											  sizeof(Transfer) * Max(fetch->ntransfers, 1));
	foreach(lc, requests)
	{
		Transfer   *t = &fetch->transfers[i++];

		t->fetch = fetch;
		t->request = (SegmentRequest *) lfirst(lc);
		t->ratelimit_remaining = -1;
		t->ratelimit_reset = -1;
	}

	/* from now on, the context's deletion releases the handles */
	fetch->cleanup.func = fetch_cleanup;
	fetch->cleanup.arg = fetch;
	MemoryContextRegisterResetCallback(cxt, &fetch->cleanup);

	auth = psprintf("Authorization: Bearer %s", opts->api_key);
	list = curl_slist_append(NULL, auth);
	memset(auth, 0, strlen(auth));
	pfree(auth);
	if (list != NULL)
	{
		fetch->headers = list;
		list = curl_slist_append(list, "Accept: application/json");
	}
	if (list == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	return fetch;
}

/*
 * Release what a fetch holds outside PostgreSQL's memory: the easy handles
 * still attached and the header list.  Runs when the fetch's context is
 * reset or deleted, on success and on error alike; it must not throw.
 */
static void
fetch_cleanup(void *arg)
{
	SegmentFetch *fetch = (SegmentFetch *) arg;
	int			i;

	for (i = 0; i < fetch->ntransfers; i++)
	{
		Transfer   *t = &fetch->transfers[i];

		if (t->easy != NULL)
		{
			curl_multi_remove_handle(multi, t->easy);
			release_handle(t->easy);
			t->easy = NULL;
		}
	}
	curl_slist_free_all(fetch->headers);
	fetch->headers = NULL;
}

/*
 * Return an easy handle to the pool, forgetting its options (they point to
 * memory of the fetch that used it).
 */
static void
release_handle(CURL *easy)
{
	curl_easy_reset(easy);
	if (n_idle_handles < MAX_IDLE_HANDLES)
		idle_handles[n_idle_handles++] = easy;
	else
		curl_easy_cleanup(easy);
}

/*
 * Configure an easy handle for transfer "t" and add it to the multi handle.
 */
static void
start_transfer(SegmentFetch *fetch, Transfer *t)
{
	CURL	   *easy;
	CURLcode	rc = CURLE_OK;
	CURLMcode	mrc;

	easy = (n_idle_handles > 0) ? idle_handles[--n_idle_handles] : curl_easy_init();
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a libcurl handle.")));

	t->started = true;
	t->done = false;
	t->len = 0;
	t->errbuf[0] = '\0';

#define SETOPT(opt, val) \
	do { if (rc == CURLE_OK) rc = curl_easy_setopt(easy, opt, val); } while (0)

	SETOPT(CURLOPT_URL, t->request->url);
	SETOPT(CURLOPT_HTTPGET, 1L);
	SETOPT(CURLOPT_HTTPHEADER, fetch->headers);
	SETOPT(CURLOPT_USERAGENT, "segment_fdw/" SEGMENT_FDW_VERSION);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_TIMEOUT_MS, (long) fetch->timeout_ms);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long) fetch->connect_timeout_ms);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) fetch->max_response_bytes);
	SETOPT(CURLOPT_WRITEFUNCTION, write_callback);
	SETOPT(CURLOPT_WRITEDATA, t);
	SETOPT(CURLOPT_HEADERFUNCTION, header_callback);
	SETOPT(CURLOPT_HEADERDATA, t);
	SETOPT(CURLOPT_ERRORBUFFER, t->errbuf);
	SETOPT(CURLOPT_PRIVATE, t);
#undef SETOPT

	if (rc != CURLE_OK)
	{
		release_handle(easy);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not configure a libcurl handle: %s",
						curl_easy_strerror(rc))));
	}

	mrc = curl_multi_add_handle(multi, easy);
	if (mrc != CURLM_OK)
	{
		release_handle(easy);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not start a libcurl transfer: %s",
						curl_multi_strerror(mrc))));
	}
	t->easy = easy;
}

/*
 * Let curl act on socket "fd" (or on its timer, for CURL_SOCKET_TIMEOUT),
 * then collect the transfers it finished.  Each finished handle goes back
 * to the pool at once; its connection stays in the multi's cache.
 */
static void
drive(curl_socket_t fd, int ev_bitmask)
{
	int			running;
	int			pending;
	CURLMsg    *msg;
	curl_off_t	pretransfer;

	if (fd == CURL_SOCKET_TIMEOUT)
		timer_ms = -1;
	curl_multi_socket_action(multi, fd, ev_bitmask, &running);

	while ((msg = curl_multi_info_read(multi, &pending)) != NULL)
	{
		Transfer   *t = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		t->result = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &t->status);
		/* zero time to "ready to send" means the connection never was */
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRETRANSFER_TIME_T,
							  &pretransfer) == CURLE_OK)
			t->connected = (pretransfer > 0);
		t->done = true;

		curl_multi_remove_handle(multi, t->easy);
		release_handle(t->easy);
		t->easy = NULL;
	}
}

/*
 * Wait until one of curl's sockets is ready, curl's timer expires or the
 * latch is set, then let curl act.  Interrupts (cancel, statement_timeout,
 * termination) are honoured right after the wait.
 */
static void
wait_for_activity(void)
{
	WaitEventSet *volatile set = NULL;
	WaitEvent	occurred[MAX_WATCHED_SOCKETS + 2];
	long		timeout = MAX_WAIT_MS;
	int			nevents = 0;
	int			i;

	if (timer_ms >= 0)
	{
		long		elapsed = (long) ((GetCurrentTimestamp() - timer_set_at) / 1000);

		timeout = Min(timeout, Max(timer_ms - elapsed, 0));
	}

	if (timeout > 0)
	{
		PG_TRY();
		{
#if PG_VERSION_NUM >= 170000
			set = CreateWaitEventSet(NULL, n_watched + 2);
#else
			set = CreateWaitEventSet(CurrentMemoryContext, n_watched + 2);
#endif
			AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
			AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET,
							  NULL, NULL);
			for (i = 0; i < n_watched; i++)
			{
				uint32		events = 0;

				if (watched[i].what & CURL_POLL_IN)
					events |= WL_SOCKET_READABLE;
				if (watched[i].what & CURL_POLL_OUT)
					events |= WL_SOCKET_WRITEABLE;
				AddWaitEventToSet(set, events, watched[i].fd, NULL, NULL);
			}
			nevents = WaitEventSetWait(set, timeout, occurred, lengthof(occurred),
									   segment_wait_event());
		}
		PG_FINALLY();
		{
			if (set != NULL)
				FreeWaitEventSet(set);
		}
		PG_END_TRY();
	}

	for (i = 0; i < nevents; i++)
	{
		WaitEvent  *ev = &occurred[i];

		if (ev->events & WL_LATCH_SET)
			ResetLatch(MyLatch);
		else if (ev->events & (WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
		{
			int			bitmask = 0;

			if (ev->events & WL_SOCKET_READABLE)
				bitmask |= CURL_CSELECT_IN;
			if (ev->events & WL_SOCKET_WRITEABLE)
				bitmask |= CURL_CSELECT_OUT;
			drive(ev->fd, bitmask);
		}
	}

	/* curl's timer may have expired while we waited or acted */
	if (timer_ms >= 0 &&
		(GetCurrentTimestamp() - timer_set_at) / 1000 >= timer_ms)
		drive(CURL_SOCKET_TIMEOUT, 0);

	CHECK_FOR_INTERRUPTS();
}

/*
 * The wait event shown in pg_stat_activity while waiting on Braze.
 */
uint32
segment_wait_event(void)
{
#if PG_VERSION_NUM >= 170000
	static uint32 event = 0;

	if (event == 0)
		event = WaitEventExtensionNew("SegmentFdwResponse");
	return event;
#else
	return PG_WAIT_EXTENSION;
#endif
}

/*
 * Hand back the next response of the fetch, in request order, waiting for
 * it as needed; false when all have been handed back.  A transfer that
 * failed at the transport level raises its error here, as soon as it is
 * seen, whatever its place; an HTTP error status is handed back (with its
 * body, for the message) ahead of earlier responses still in flight.
 */
bool
segment_fetch_next(SegmentFetch *fetch, SegmentResponse *resp)
{
	for (;;)
	{
		Transfer   *t;
		int			i;

		/* start what fits in the window of max_concurrency transfers */
		while (fetch->next_start < fetch->ntransfers &&
			   fetch->next_start < fetch->next_emit + fetch->max_concurrency)
			start_transfer(fetch, &fetch->transfers[fetch->next_start++]);

		if (fetch->next_emit >= fetch->ntransfers)
			return false;

		/* a failure anywhere fails the scan now */
		t = NULL;
		for (i = fetch->next_emit; i < fetch->next_start; i++)
		{
			Transfer   *u = &fetch->transfers[i];

			if (u->done && (u->result != CURLE_OK || u->status != 200))
			{
				t = u;
				break;
			}
		}
		if (t == NULL && fetch->transfers[fetch->next_emit].done)
			t = &fetch->transfers[fetch->next_emit++];

		if (t != NULL)
		{
			if (t->result != CURLE_OK)
				report_transfer_error(fetch, t);

			resp->request = t->request;
			resp->status = t->status;
			resp->body = t->body ? t->body : "";
			resp->len = t->len;
			resp->ratelimit_remaining = t->ratelimit_remaining;
			resp->ratelimit_reset = t->ratelimit_reset;
			t->body = NULL;		/* now the caller's, see release_body */
			t->len = t->cap = 0;
			return true;
		}

		wait_for_activity();
	}
}

/*
 * The caller is done with a response's body: free it, so a fetch holds at
 * most max_concurrency bodies.
 */
void
segment_fetch_release_body(SegmentFetch *fetch, SegmentResponse *resp)
{
	if (resp->len > 0)
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

/*
 * Errors context line naming the request, without host, headers or key.
 */
int
segment_request_errcontext(const SegmentRequest *req)
{
	return errcontext("Braze request GET %s", req->target);
}

/*
 * Raise the error of a transfer that failed below HTTP: a body too large,
 * a timeout (saying which one expired), a connection that could not be
 * made, or one that broke.
 */
static void
report_transfer_error(SegmentFetch *fetch, Transfer *t)
{
	const char *reason = t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->result);

	if (t->too_large || t->result == CURLE_FILESIZE_EXCEEDED)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("response from Braze exceeds max_response_bytes (%zu bytes)",
						fetch->max_response_bytes),
				 errhint("A real response is a few kilobytes; check the server's url, or raise max_response_bytes."),
				 segment_request_errcontext(t->request)));

	if (t->out_of_memory)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while receiving a response from Braze"),
				 segment_request_errcontext(t->request)));

	switch (t->result)
	{
		case CURLE_OPERATION_TIMEDOUT:
			/* before the connection was made, the shorter limit expired */
			if (!t->connected &&
				fetch->connect_timeout_ms <= fetch->timeout_ms)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
						 errmsg("could not connect to Braze within connect_timeout_ms (%d ms)",
								fetch->connect_timeout_ms),
						 errdetail_internal("%s", reason),
						 segment_request_errcontext(t->request)));
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("request to Braze did not complete within timeout_ms (%d ms)",
							fetch->timeout_ms),
					 errdetail_internal("%s", reason),
					 segment_request_errcontext(t->request)));
			break;

		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_CERTPROBLEM:
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("could not connect to Braze"),
					 errdetail_internal("%s", reason),
					 segment_request_errcontext(t->request)));
			break;

		default:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("request to Braze failed"),
					 errdetail_internal("%s", reason),
					 segment_request_errcontext(t->request)));
	}
}
