/*-------------------------------------------------------------------------
 *
 * http.c
 *		  libcurl for segment_fdw: URLs, the backend's multi handle, single
 *		  transfers, and waiting on them
 *
 * One CURLM lives for the whole backend, so its connection cache keeps
 * connections to Braze alive across queries; easy handles go back to a
 * small pool when a transfer ends.  Which transfers run when, and what is
 * retried, is fetch.c's business: this file starts a transfer, lets curl
 * work on it, and records its outcome in the SegmentTransfer.
 *
 * Every connection's socket goes through open_socket and close_socket,
 * which take and give back a descriptor of fd.c's external allowance
 * (AcquireExternalFD), as postgres_fdw's connections do: fd.c sizes its own
 * use of descriptors on what it knows of, and refuses us before the backend
 * runs out.  The multi handle keeps three reserved for as long as it lives:
 * its wake-up socket pair, and the epoll set of segment_http_wait, so that
 * a backend whose connections took the rest can still wait on them.  The
 * threaded resolver's pair for each name lookup, closed when the lookup
 * ends, is libcurl's alone.  A refused socket ends its transfer with no_descriptor set;
 * fetch.c then waits for a running transfer's connection, or fails.
 *
 * Connections are kept for the next query, at most
 * segment_fdw.max_idle_connections of them (CURLMOPT_MAXCONNECTS), and none
 * is used again once idle for segment_fdw.idle_connection_timeout
 * (CURLOPT_MAXAGE_CONN).  Idle connections are closed together at the end
 * of the first transaction that finds the backend idle that long
 * (segment_http_end_of_xact): nothing runs in a backend waiting for its
 * client, so that is the first moment they can be.
 *
 * The backend waits on curl's sockets and its own latch together
 * (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION with a WaitEventSet),
 * so cancel and statement_timeout act at once and nothing busy-loops.
 *
 * No PostgreSQL error is ever raised inside a curl callback: the callbacks
 * record what happened and return (an abort code if need be), and errors
 * are raised afterwards by the caller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include <fcntl.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "segment_http.h"

/* Easy handles kept for reuse (memory only: connections are the multi's) */
#define MAX_POOLED_HANDLES 16

/* segment_fdw.max_idle_connections and segment_fdw.idle_connection_timeout */
int			segment_max_idle_connections = 8;
int			segment_idle_connection_timeout = 60000;

/* A socket curl wants watched, and for what (CURL_POLL_IN/OUT/INOUT) */
typedef struct WatchedSocket
{
	curl_socket_t fd;
	int			what;
} WatchedSocket;

StaticAssertDecl(SEGMENT_ERROR_SIZE >= CURL_ERROR_SIZE,
				 "SEGMENT_ERROR_SIZE must hold libcurl's error buffer");

static CURLM *multi = NULL;
static bool multi_broken = false;	/* curl gave up on it: replace it */
static dlist_head attached = DLIST_STATIC_INIT(attached);	/* transfers
															 * in the multi */
static instr_time last_activity;	/* a transfer was last attached or
									 * ended */
static int	n_sockets = 0;		/* open, each an external descriptor */
static uint64 n_finished = 0;	/* transfers that left the multi handle */
static CURL *idle_handles[MAX_POOLED_HANDLES];
static int	n_idle_handles = 0;
static WatchedSocket *watched = NULL;	/* malloc'd: grown in a callback */
static int	n_watched = 0;
static int	max_watched = 0;
static long timer_ms = -1;		/* curl's timeout, -1 for none */
static instr_time timer_set_at;

/*
 * Milliseconds the backend has spent in segment_http_wait, driving
 * libcurl, on the monotonic clock.  timeout_ms counts this time, not the
 * wall clock's: transfers progress only while some scan waits, and a query
 * that leaves transfers in flight while it does something else (rows
 * consumed slowly, a cursor idle between FETCHes) must not find them timed
 * out with their answer unread.  libcurl's own total timeout runs on the
 * clock, so it is only a far backstop.  connect_timeout_ms stays
 * libcurl's: it also decides when to try a host's next address.
 */
static double driven_ms = 0;

#define CURL_BACKSTOP_MS (24L * 3600 * 1000)

static void ensure_multi(void);
static void detach(SegmentTransfer *t);
static void close_connections(void);
static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
								 struct curl_sockaddr *address);
static int	close_socket(void *clientp, curl_socket_t fd);
static int	socket_callback(CURL *easy, curl_socket_t fd, int what,
							void *userp, void *socketp);
static int	timer_callback(CURLM *m, long timeout_ms, void *userp);
static size_t write_callback(char *ptr, size_t size, size_t nmemb,
							 void *userdata);
static size_t header_callback(char *ptr, size_t size, size_t nmemb,
							  void *userdata);
static void forget_rate_limit(SegmentTransfer *t);
static bool handle_connected(CURL *easy);
static double ms_since(instr_time since);
static void release_handle(CURL *easy);
static int	idle_cap(void);
static void forget_outcome(SegmentTransfer *t, const SegmentHttpConfig *http);
static CURLcode configure_handle(CURL *easy, SegmentTransfer *t,
								 const SegmentHttpConfig *http);
static void drive(curl_socket_t fd, int ev_bitmask);
pg_noreturn static void report_no_descriptor(const SegmentRequest *req);
static uint32 wait_event(void);

/*
 * Called by _PG_init: the settings of URLs and connections.
 */
void
segment_http_init(void)
{
	DefineCustomStringVariable("segment_fdw.allowed_urls",
							   "URL bases that servers owned by roles other than superusers may use.",
							   "A comma-separated list of URLs; a server's url falls under one when scheme, host and port are the same and its path is the base's path or below it.  Braze's REST endpoints are always allowed.",
							   &segment_allowed_urls,
							   "",
							   PGC_SUSET,
							   0,
							   segment_check_allowed_urls, NULL, NULL);
	DefineCustomIntVariable("segment_fdw.max_idle_connections",
							"Connections to Braze a backend keeps open between requests.",
							"Connections beyond it are closed as their requests end; 0 closes each one when its request ends.",
							&segment_max_idle_connections,
							8, 0, 64,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("segment_fdw.idle_connection_timeout",
							"Time after which a backend's idle connections to Braze are closed.",
							"A connection idle for longer is never used again, and the first transaction to end after the backend left them all idle that long closes them.",
							&segment_idle_connection_timeout,
							60000, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

/*
 * Create the backend's multi handle on first use, or again after curl gave
 * up on it.
 */
static void
ensure_multi(void)
{
	static bool global_done = false;

	if (multi != NULL && multi_broken)
		close_connections();
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

	/* while it lives: its wake-up socket pair, and the wait's epoll set */
	ReserveExternalFD();
	ReserveExternalFD();
	ReserveExternalFD();
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, socket_callback);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, timer_callback);
}

/*
 * Close every connection and the multi handle itself.  Transfers still in
 * it (a broken multi's, of open cursors) end as failed: their fetches
 * report it when they next look.  Does not throw.
 */
static void
close_connections(void)
{
	dlist_mutable_iter iter;

	dlist_foreach_modify(iter, &attached)
	{
		SegmentTransfer *t = dlist_container(SegmentTransfer, node, iter.cur);

		detach(t);
		t->done = true;
		t->result = CURLE_FAILED_INIT;
		snprintf(t->errbuf, sizeof(t->errbuf), "%s",
				 "The backend's libcurl multi handle failed, and the transfer was abandoned with it.");
	}
	/* closes the cached connections, through close_socket */
	curl_multi_cleanup(multi);
	ReleaseExternalFD();
	ReleaseExternalFD();
	ReleaseExternalFD();
	multi = NULL;
	multi_broken = false;
	n_watched = 0;
	timer_ms = -1;
}

/*
 * At the end of a transaction, after fetch.c aborted the transfers of the
 * scans that ended with it: replace a multi handle curl gave up on, and
 * close the connections when the backend has left them idle for
 * idle_connection_timeout.  Does not throw.
 */
void
segment_http_end_of_xact(void)
{
	if (multi == NULL || !dlist_is_empty(&attached))
		return;
	if (multi_broken ||
		ms_since(last_activity) >= segment_idle_connection_timeout)
		close_connections();
}

/*
 * The transfers running in this backend, of every scan.
 */
int
segment_http_running(void)
{
	int			n = 0;
	dlist_iter	iter;

	dlist_foreach(iter, &attached)
		n++;
	return n;
}

/*
 * Close the idle connections, when no transfer runs; false if there was
 * none to close.  Does not throw.
 */
bool
segment_http_close_idle(void)
{
	if (multi == NULL || n_sockets == 0 || !dlist_is_empty(&attached))
		return false;
	close_connections();
	return true;
}

/*
 * CURLOPT_OPENSOCKETFUNCTION: a socket, if fd.c allows one more external
 * descriptor.  A refusal is recorded in the transfer; curl ends it as a
 * connection that could not be made.
 */
static curl_socket_t
open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
	SegmentTransfer *t = (SegmentTransfer *) clientp;
	curl_socket_t fd;

	if (!AcquireExternalFD())
	{
		t->no_descriptor = true;
		return CURL_SOCKET_BAD;
	}
	/* not inherited by programs the backend runs (COPY FROM PROGRAM) */
	fd = socket(address->family, address->socktype, address->protocol);
	if (fd == CURL_SOCKET_BAD || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
	{
		if (fd != CURL_SOCKET_BAD)
			close(fd);
		ReleaseExternalFD();
		return CURL_SOCKET_BAD;
	}
	n_sockets++;
	return fd;
}

/*
 * CURLOPT_CLOSESOCKETFUNCTION: close a socket of open_socket's and give
 * its descriptor back.  curl may call it long after the transfer that
 * opened the connection ended, so it uses no transfer.
 */
static int
close_socket(void *clientp, curl_socket_t fd)
{
	int			rc = close(fd);

	ReleaseExternalFD();
	n_sockets--;
	return rc;
}

/*
 * curl tells which sockets to watch, and for what.  Recorded for the next
 * wait.  The table grows with realloc, which does not throw; only if that
 * fails is -1 returned, and curl then takes the whole multi handle for
 * dead (drive reports it, and ensure_multi replaces it).
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
		if (n_watched == max_watched)
		{
			int			newmax = Max(16, max_watched * 2);
			WatchedSocket *grown = realloc(watched,
										   sizeof(WatchedSocket) * newmax);

			if (grown == NULL)
				return -1;
			watched = grown;
			max_watched = newmax;
		}
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
	INSTR_TIME_SET_CURRENT(timer_set_at);
	return 0;
}

/*
 * Milliseconds on the monotonic clock since "since".
 */
static double
ms_since(instr_time since)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, since);
	return INSTR_TIME_GET_MILLISEC(now);
}

/*
 * Append received body bytes.  Memory comes from the transfer's context
 * without throwing; past max_bytes or out of memory, abort the transfer
 * (returning a short count) and let the caller report it.
 */
static size_t
write_callback(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	SegmentTransfer *t = (SegmentTransfer *) userdata;
	size_t		n = size * nmemb;

	if (t->len + n > t->max_bytes)
	{
		t->too_large = true;
		return 0;
	}

	if (t->len + n + 1 > t->cap)
	{
		size_t		newcap = Max(t->cap * 2, Max(t->len + n + 1, 8192));
		char	   *newbody;

		/* never more than the largest body allowed (see above) needs */
		newcap = Min(newcap, t->max_bytes + 1);

		newbody = MemoryContextAllocExtended(t->cxt, newcap,
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
 * Read a number from a header line's value (not NUL-terminated); -1 if
 * there is none.
 */
static long
header_number(const char *value, size_t len)
{
	char		buf[32];
	char	   *end;
	long		v;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, value, len);
	buf[len] = '\0';
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno != 0 || end == buf || v < 0)
		return -1;
	return v;
}

/*
 * Pick the rate-limit headers out of the response.  Names are matched
 * without regard to case (HTTP/2 sends them in lower case).  A status line
 * starts a new response (after a 100 Continue, say): forget the last one.
 */
static size_t
header_callback(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	static const struct
	{
		const char *name;
		size_t		offset;
	}			headers[] = {
		{"x-ratelimit-limit:", offsetof(SegmentTransfer, ratelimit_limit)},
		{"x-ratelimit-remaining:", offsetof(SegmentTransfer, ratelimit_remaining)},
		{"x-ratelimit-reset:", offsetof(SegmentTransfer, ratelimit_reset)},
		{"retry-after:", offsetof(SegmentTransfer, retry_after)},
	};
	SegmentTransfer *t = (SegmentTransfer *) userdata;
	size_t		n = size * nmemb;
	int			i;

	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
	{
		forget_rate_limit(t);
		return n;
	}

	for (i = 0; i < lengthof(headers); i++)
	{
		size_t		namelen = strlen(headers[i].name);

		if (n >= namelen && pg_strncasecmp(ptr, headers[i].name, namelen) == 0)
		{
			*(long *) ((char *) t + headers[i].offset) =
				header_number(ptr + namelen, n - namelen);
			break;
		}
	}
	return n;
}

/*
 * No rate-limit header seen yet
 */
static void
forget_rate_limit(SegmentTransfer *t)
{
	t->ratelimit_limit = t->ratelimit_remaining = -1;
	t->ratelimit_reset = t->retry_after = -1;
}

/*
 * Has the transfer of "easy" got as far as sending its request?  Zero time
 * to "ready to send" means no connection was made.
 */
static bool
handle_connected(CURL *easy)
{
	curl_off_t	pretransfer = 0;

	curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
	return pretransfer > 0;
}

/*
 * The request headers of a user: the key in a Bearer Authorization header
 * (never in the URL).  The list is malloc'd by curl: the caller frees it
 * with segment_free_headers on every path.
 */
void *
segment_make_headers(const char *api_key)
{
	char	   *auth = psprintf("Authorization: Bearer %s", api_key);
	struct curl_slist *list;
	struct curl_slist *more = NULL;

	list = curl_slist_append(NULL, auth);
	memset(auth, 0, strlen(auth));
	pfree(auth);
	if (list != NULL)
		more = curl_slist_append(list, "Accept: application/json");
	if (more == NULL)
	{
		curl_slist_free_all(list);
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	}
	return more;
}

void
segment_free_headers(void *headers)
{
	curl_slist_free_all((struct curl_slist *) headers);
}

/*
 * Return an easy handle to the pool, forgetting its options (they point to
 * memory of the transfer that used it).
 */
static void
release_handle(CURL *easy)
{
	curl_easy_reset(easy);
	if (n_idle_handles < MAX_POOLED_HANDLES)
		idle_handles[n_idle_handles++] = easy;
	else
		curl_easy_cleanup(easy);
}

/*
 * The connections kept idle: segment_fdw.max_idle_connections, but never
 * more than a quarter of the descriptors fd.c allows outside its own files
 * (a third of max_safe_fds), so that idle connections leave room for the
 * next query's and for PostgreSQL's own (a small max_files_per_process).
 */
static int
idle_cap(void)
{
	return Max(1, Min(segment_max_idle_connections, max_safe_fds / 3 / 4));
}

/*
 * Forget the outcome of an earlier attempt of transfer "t".
 */
static void
forget_outcome(SegmentTransfer *t, const SegmentHttpConfig *http)
{
	if (t->body)
		pfree(t->body);
	t->body = NULL;
	t->len = t->cap = 0;
	t->done = false;
	t->result = CURLE_OK;
	t->status = 0;
	t->too_large = t->out_of_memory = t->connected = false;
	t->no_descriptor = false;
	forget_rate_limit(t);
	t->elapsed_ms = 0;
	t->errbuf[0] = '\0';
	t->driven_at_start = driven_ms;
	t->max_bytes = (size_t) http->max_response_bytes;
}

/*
 * Set the options of "easy" for transfer "t", as "http" says; the first
 * error libcurl gives, or CURLE_OK.  Does not throw.
 */
static CURLcode
configure_handle(CURL *easy, SegmentTransfer *t, const SegmentHttpConfig *http)
{
	CURLcode	rc = CURLE_OK;

#define SETOPT(opt, val) \
	do { if (rc == CURLE_OK) rc = curl_easy_setopt(easy, opt, val); } while (0)

	SETOPT(CURLOPT_URL, t->request->url);
	SETOPT(CURLOPT_HTTPGET, 1L);
	SETOPT(CURLOPT_HTTPHEADER, (struct curl_slist *) http->headers);
	SETOPT(CURLOPT_USERAGENT, "segment_fdw/" SEGMENT_FDW_VERSION);
	SETOPT(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
	/* an aborted transfer must not wait for a DNS lookup to end */
	SETOPT(CURLOPT_QUICK_EXIT, 1L);
#endif
#if LIBCURL_VERSION_NUM >= 0x075500
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
	SETOPT(CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
	SETOPT(CURLOPT_REDIR_PROTOCOLS, (long) CURLPROTO_HTTPS);
#endif
	/* a redirect is an answer, never followed */
	SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	if (http->ca_file)
		SETOPT(CURLOPT_CAINFO, http->ca_file);

	/*
	 * The server's proxy, or none: not one that http_proxy, https_proxy or
	 * all_proxy in the postmaster's environment name, which no role chose
	 * for this server, and which would see its key on plain http.  An empty
	 * string is libcurl's "no proxy, whatever the environment", and an empty
	 * no-proxy list its "the proxy for every host".
	 */
	if (http->proxy)
	{
		SETOPT(CURLOPT_PROXY, http->proxy);
		SETOPT(CURLOPT_NOPROXY, "");
	}
	else
	{
		/* a libcurl built without proxies refuses it, and reads none */
		(void) curl_easy_setopt(easy, CURLOPT_PROXY, "");
	}
	/* timeout_ms is enforced by segment_transfer_time_left */
	SETOPT(CURLOPT_TIMEOUT_MS, CURL_BACKSTOP_MS);
	SETOPT(CURLOPT_CONNECTTIMEOUT_MS, (long) http->connect_timeout_ms);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) http->max_response_bytes);
	SETOPT(CURLOPT_WRITEFUNCTION, write_callback);
	SETOPT(CURLOPT_WRITEDATA, t);
	SETOPT(CURLOPT_HEADERFUNCTION, header_callback);
	SETOPT(CURLOPT_HEADERDATA, t);
	SETOPT(CURLOPT_ERRORBUFFER, t->errbuf);
	SETOPT(CURLOPT_PRIVATE, t);
	SETOPT(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	SETOPT(CURLOPT_OPENSOCKETDATA, t);
	SETOPT(CURLOPT_CLOSESOCKETFUNCTION, close_socket);
	SETOPT(CURLOPT_CLOSESOCKETDATA, NULL);
	/* no connection idle for longer is used again (curl counts seconds) */
	SETOPT(CURLOPT_MAXAGE_CONN,
		   (long) Max(1, segment_idle_connection_timeout / 1000 +
					  (segment_idle_connection_timeout % 1000 != 0)));
	if (segment_max_idle_connections == 0)
		SETOPT(CURLOPT_FORBID_REUSE, 1L);
#undef SETOPT

	return rc;
}

/*
 * Start (or restart) transfer "t": configure an easy handle from "http"
 * and add it to the multi handle.  The outcome of an earlier attempt is
 * forgotten.
 */
void
segment_transfer_start(SegmentTransfer *t, const SegmentHttpConfig *http)
{
	CURL	   *easy;
	CURLcode	rc;
	CURLMcode	mrc;

	ensure_multi();
	Assert(t->handle == NULL);

	easy = (n_idle_handles > 0) ? idle_handles[--n_idle_handles] : curl_easy_init();
	if (easy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory"),
				 errdetail("Could not create a libcurl handle.")));

	forget_outcome(t, http);
	rc = configure_handle(easy, t, http);
	if (rc != CURLE_OK)
	{
		release_handle(easy);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not configure a libcurl handle: %s",
						curl_easy_strerror(rc))));
	}

	/* connections kept once their transfer ends (0 would be "no limit") */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long) idle_cap());
	mrc = curl_multi_add_handle(multi, easy);
	if (mrc != CURLM_OK)
	{
		release_handle(easy);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not start a libcurl transfer: %s",
						curl_multi_strerror(mrc))));
	}
	t->handle = easy;
	dlist_push_tail(&attached, &t->node);
	INSTR_TIME_SET_CURRENT(last_activity);
}

/*
 * The milliseconds transfer "t" has left before timeout_ms, counted in
 * time spent driving libcurl (see driven_ms).  A transfer out of time is
 * stopped and ends as libcurl's own timeout would, with
 * CURLE_OPERATION_TIMEDOUT; 0 is returned then, and -1 for a transfer that
 * is not running.
 */
long
segment_transfer_time_left(SegmentTransfer *t, const SegmentHttpConfig *http)
{
	double		spent;
	double		left;
	bool		connected;

	if (t->handle == NULL)
		return -1;

	spent = driven_ms - t->driven_at_start;
	left = http->timeout_ms - spent;
	if (left >= 1)
		return (long) left;

	connected = handle_connected((CURL *) t->handle);
	segment_transfer_abort(t);
	t->done = true;
	t->result = CURLE_OPERATION_TIMEDOUT;
	t->no_descriptor = false;
	t->connected = connected;
	t->elapsed_ms = spent;
	snprintf(t->errbuf, sizeof(t->errbuf),
			 "No complete response after %.0f ms of waiting (%zu bytes of body received).",
			 spent, t->len);
	return 0;
}

/*
 * Stop transfer "t" if it is running, closing its connection.  Does not
 * throw: it runs from memory context reset callbacks.
 */
void
segment_transfer_abort(SegmentTransfer *t)
{
	if (t->handle != NULL)
		detach(t);
}

/*
 * Take transfer "t" out of the multi handle and return its easy handle to
 * the pool.  Does not throw.
 */
static void
detach(SegmentTransfer *t)
{
	curl_multi_remove_handle(multi, (CURL *) t->handle);
	release_handle((CURL *) t->handle);
	t->handle = NULL;
	dlist_delete(&t->node);
	n_finished++;
	INSTR_TIME_SET_CURRENT(last_activity);
}

/*
 * How many transfers have left the multi handle (ended or aborted) since
 * the backend started: a request waiting for a descriptor waits for this
 * to change, as a connection may then be free.
 */
uint64
segment_http_finished(void)
{
	return n_finished;
}

/*
 * Let curl act on socket "fd" (or on its timer, for CURL_SOCKET_TIMEOUT),
 * then record the transfers it finished.  Each finished handle goes back
 * to the pool at once; its connection stays in the multi's cache.
 */
static void
drive(curl_socket_t fd, int ev_bitmask)
{
	int			running;
	int			pending;
	CURLMsg    *msg;
	CURLMcode	mrc;

	if (fd == CURL_SOCKET_TIMEOUT)
		timer_ms = -1;
	mrc = curl_multi_socket_action(multi, fd, ev_bitmask, &running);
	if (mrc != CURLM_OK)
	{
		multi_broken = true;
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("libcurl failed: %s", curl_multi_strerror(mrc))));
	}

	while ((msg = curl_multi_info_read(multi, &pending)) != NULL)
	{
		SegmentTransfer *t = NULL;
		CURL	   *easy = msg->easy_handle;
		curl_off_t	total = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t);
		t->result = msg->data.result;
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->status);
		curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total);
		t->connected = handle_connected(easy);
		t->elapsed_ms = total / 1000.0;
		t->done = true;
		/* a refused socket matters only if no other address connected */
		if (t->result != CURLE_COULDNT_CONNECT || t->connected)
			t->no_descriptor = false;
		detach(t);
	}
}

/*
 * Wait until one of curl's sockets is ready, curl's timer expires, the
 * latch is set or "timeout" ms pass (-1: no limit of the caller's), then
 * let curl act.  Interrupts (cancel, statement_timeout, termination) are
 * honoured right after the wait.  Returns the milliseconds waited.
 */
double
segment_http_wait(long timeout)
{
	WaitEventSet *volatile set = NULL;
	WaitEvent  *occurred = palloc(sizeof(WaitEvent) * (n_watched + 2));
	instr_time	began;
	double		waited;
	int			nevents = 0;
	int			i;

	INSTR_TIME_SET_CURRENT(began);

	if (timeout < 0)
		timeout = 1000;
	if (timer_ms >= 0)
		timeout = Min(timeout, Max(timer_ms - (long) ms_since(timer_set_at), 0));

	if (timeout > 0)
	{
		/*
		 * The set's epoll descriptor is fd.c's to give: the one the multi
		 * handle keeps reserved for it, or, without one, one still free.
		 */
		if (multi != NULL)
			ReleaseExternalFD();
		if (!AcquireExternalFD())
		{
			if (multi != NULL)
				ReserveExternalFD();
			report_no_descriptor(NULL);
		}
		ReleaseExternalFD();

		PG_TRY();
		{
			set = CreateWaitEventSet(NULL, n_watched + 2);
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
			nevents = WaitEventSetWait(set, timeout, occurred, n_watched + 2,
									   wait_event());
		}
		PG_FINALLY();
		{
			if (set != NULL)
				FreeWaitEventSet(set);
			if (multi != NULL)
				ReserveExternalFD();
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

	pfree(occurred);

	/* curl's timer may have expired while we waited or acted */
	if (timer_ms >= 0 && ms_since(timer_set_at) >= timer_ms)
		drive(CURL_SOCKET_TIMEOUT, 0);

	waited = ms_since(began);
	driven_ms += waited;
	CHECK_FOR_INTERRUPTS();
	return waited;
}

/*
 * The wait event shown in pg_stat_activity while waiting on Braze: a named
 * extension event on PostgreSQL 17 and later, "Extension" before.
 */
static uint32
wait_event(void)
{
	static uint32 event = 0;

	if (event == 0)
		event = WaitEventExtensionNew("SegmentFdwResponse");
	return event;
}

/*
 * Did the attempt fail in a way worth retrying: a connection that could
 * not be made or broke, or a timeout?  Refused TLS, a body too large and
 * local trouble are not.
 */
bool
segment_transfer_is_transient(const SegmentTransfer *t)
{
	if (t->too_large || t->out_of_memory || t->no_descriptor)
		return false;
	switch ((CURLcode) t->result)
	{
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
			return true;
		default:
			return false;
	}
}

/*
 * Raise the error of a backend that has no descriptor left for a
 * connection to Braze (or for waiting on one), naming "req" if given.
 */
static void
report_no_descriptor(const SegmentRequest *req)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("could not connect to Braze"),
			 errdetail("There are too many open files on the local server."),
			 errhint("Raise max_files_per_process, or lower the server's max_concurrency."),
			 req ? segment_request_errcontext(req->target) : 0));
}

/*
 * Raise the error of a transfer that failed below HTTP: a body too large,
 * a timeout (saying which one expired), a connection that could not be
 * made, or one that broke.  "attempts" counts the tries made.
 */
void
segment_report_transfer_error(const SegmentTransfer *t,
							  const SegmentHttpConfig *http, int attempts)
{
	const char *reason = t->errbuf[0] ? t->errbuf :
		curl_easy_strerror((CURLcode) t->result);

	if (t->too_large || t->result == CURLE_FILESIZE_EXCEEDED)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("response from Braze exceeds max_response_bytes (%d bytes)",
						http->max_response_bytes),
				 errhint("A real response is a few kilobytes; check the server's url, or raise max_response_bytes."),
				 segment_request_errcontext(t->request->target)));

	if (t->out_of_memory)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while receiving a response from Braze"),
				 segment_request_errcontext(t->request->target)));

	if (t->no_descriptor)
		report_no_descriptor(t->request);

	switch ((CURLcode) t->result)
	{
		case CURLE_OPERATION_TIMEDOUT:
			/* before the connection was made, the shorter limit expired */
			if (!t->connected &&
				http->connect_timeout_ms <= http->timeout_ms)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
						 attempts > 1 ?
						 errmsg("could not connect to Braze within connect_timeout_ms (%d ms) after %d attempts",
								http->connect_timeout_ms, attempts) :
						 errmsg("could not connect to Braze within connect_timeout_ms (%d ms)",
								http->connect_timeout_ms),
						 errdetail_internal("%s", reason),
						 segment_request_errcontext(t->request->target)));
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 attempts > 1 ?
					 errmsg("request to Braze did not complete within timeout_ms (%d ms) after %d attempts",
							http->timeout_ms, attempts) :
					 errmsg("request to Braze did not complete within timeout_ms (%d ms)",
							http->timeout_ms),
					 errdetail_internal("%s", reason),
					 segment_request_errcontext(t->request->target)));
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
					 attempts > 1 ?
					 errmsg("could not connect to Braze after %d attempts", attempts) :
					 errmsg("could not connect to Braze"),
					 errdetail_internal("%s", reason),
					 segment_request_errcontext(t->request->target)));
			break;

		default:
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 attempts > 1 ?
					 errmsg("request to Braze failed after %d attempts", attempts) :
					 errmsg("request to Braze failed"),
					 errdetail_internal("%s", reason),
					 segment_request_errcontext(t->request->target)));
	}
}
