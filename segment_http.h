/*-------------------------------------------------------------------------
 *
 * segment_http.h
 *		  libcurl for segment_fdw: URLs a server may use and a request's URL
 *		  (url.c); transfers, the backend's connections, waiting (http.c)
 *
 * Layer 2 (segment_util.h draws the layers).  No libcurl type is declared
 * here: what above needs of curl is a pointer it does not look into.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_HTTP_H
#define SEGMENT_HTTP_H

#include "lib/ilist.h"
#include "utils/guc.h"

#include "segment_api.h"

/* How requests are sent: from the server's options and the user's key */
typedef struct SegmentHttpConfig
{
	void	   *headers;		/* curl_slist from segment_make_headers */
	const char *ca_file;		/* CA bundle, or NULL for the system's */
	const char *proxy;			/* proxy URL, or NULL for none */
	int			timeout_ms;
	int			connect_timeout_ms;
	int			max_response_bytes;
} SegmentHttpConfig;

#define SEGMENT_ERROR_SIZE 256	/* >= CURL_ERROR_SIZE */

/*
 * One HTTP request in flight or done, as http.c runs it: the outcome of
 * its latest attempt.  Retrying is the caller's business.
 */
typedef struct SegmentTransfer
{
	const SegmentRequest *request;
	void	   *handle;			/* CURL *, while attached to the multi */
	dlist_node	node;			/* in http.c's list, while attached */
	MemoryContext cxt;			/* where the body grows */
	size_t		max_bytes;

	/* outcome of the latest attempt */
	bool		done;
	int			result;			/* CURLcode */
	long		status;			/* HTTP status, 0 if none came */
	char	   *body;			/* NUL-terminated, in cxt */
	size_t		len;
	size_t		cap;
	bool		too_large;		/* body passed max_bytes */
	bool		out_of_memory;
	bool		connected;		/* a connection was established */
	bool		no_descriptor;	/* fd.c allowed no socket for it */
	long		ratelimit_limit;	/* X-RateLimit-* headers, -1 if absent */
	long		ratelimit_remaining;
	long		ratelimit_reset;	/* epoch seconds */
	long		retry_after;	/* Retry-After, in seconds */
	double		elapsed_ms;
	double		driven_at_start;	/* segment_http_wait's clock, see http.c */
	char		errbuf[SEGMENT_ERROR_SIZE];
} SegmentTransfer;

/* in url.c */
extern char *segment_allowed_urls;
extern bool segment_check_url(const char *url, char **detail);
extern bool segment_check_proxy(const char *url, char **detail);
extern bool segment_url_is_allowed(const char *url);
extern bool segment_check_allowed_urls(char **newval, void **extra,
									   GucSource source);
extern void segment_url_for_request(const char *base_url,
									SegmentRequest *req);

/* in http.c */
extern void segment_http_init(void);
extern int	segment_max_idle_connections;
extern int	segment_idle_connection_timeout;
extern void *segment_make_headers(const char *api_key);
extern void segment_free_headers(void *headers);
extern void segment_transfer_start(SegmentTransfer *t,
								   const SegmentHttpConfig *http);
extern void segment_transfer_abort(SegmentTransfer *t);
extern long segment_transfer_time_left(SegmentTransfer *t,
									   const SegmentHttpConfig *http);
extern bool segment_transfer_is_transient(const SegmentTransfer *t);
pg_noreturn extern void segment_report_transfer_error(const SegmentTransfer *t,
										  const SegmentHttpConfig *http,
										  int attempts);
extern double segment_http_wait(long timeout);
extern int	segment_http_running(void);
extern uint64 segment_http_finished(void);
extern bool segment_http_close_idle(void);
extern void segment_http_end_of_xact(void);

#endif							/* SEGMENT_HTTP_H */
