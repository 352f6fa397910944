/*-------------------------------------------------------------------------
 *
 * segment_fdw.h
 *		  Shared definitions of segment_fdw, a foreign data wrapper for
 *		  Braze's segment endpoints (GET /segments/data_series, /segments/list
 *		  and /segments/details)
 *
 * The files of the extension, by concern:
 *	segment_fdw.c	handler and FDW callbacks (sizes, paths, plan, scan, EXPLAIN)
 *	join.c			joins on segment_id fetched in one concurrent batch
 *	endpoint.c		the endpoints: data_series, list, details
 *	day.c			days as the API writes them, YYYY-MM-DD
 *	catalog.c		json-c: list and details bodies -> rows
 *	option.c		option validator; reading options and column mapping
 *	request.c		scan conditions -> the list of HTTP requests
 *	fetch.c			a scan's requests: concurrency, order, retries, rate limits
 *	url.c			URLs: a server's url, who may use it, a request's URL
 *	http.c			libcurl: the shared multi handle, transfers, waiting
 *	response.c		json-c: response bodies -> raw rows; HTTP error reports
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_FDW_H
#define SEGMENT_FDW_H

#include "lib/ilist.h"
#include "access/xact.h"
#include "nodes/pathnodes.h"
#include "nodes/pg_list.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "segment_compat.h"

#define SEGMENT_FDW_VERSION "1.0"

/* The documented limits of the API */
#define SEGMENT_API_MAX_LENGTH 100	/* days of one data_series request */
#define SEGMENT_LIST_PAGE_SIZE 100	/* segments of one full list page */

/*
 * The most a server whose owner is not a superuser may set, so that any
 * role that can create a server has a bound on one query's memory: the
 * bodies in flight (max_concurrency x max_response_bytes) and their rows.
 */
#define SEGMENT_UNPRIVILEGED_MAX_CONCURRENCY 16
#define SEGMENT_UNPRIVILEGED_MAX_RESPONSE_BYTES (8 * 1024 * 1024)

/*
 * Days of data one request is asked to cover.  The API's boundary and time
 * zone are undocumented, so each request asks for one more day on each side
 * than it keeps: 100 - 2.
 */
#define SEGMENT_WINDOW_DAYS (SEGMENT_API_MAX_LENGTH - 2)

/* Longest segment_id sent, in bytes of UTF-8 */
#define SEGMENT_MAX_ID_BYTES 1024

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

	/* user mapping */
	char	   *api_key;		/* NULL when the mapping has none */

	/* foreign table */
	int			endpoint;		/* SegmentEndpointId */
	char	   *segment_id;		/* pinned segment, or NULL */
	int			default_days;	/* days when no lower bound on time */
} SegmentFdwOptions;

/* The API fields a column can map to, of every endpoint */
typedef enum SegmentField
{
	SEGMENT_FIELD_SEGMENT_ID,	/* request parameter of data_series, details */
	SEGMENT_FIELD_TIME,
	SEGMENT_FIELD_SIZE,
	SEGMENT_FIELD_LENGTH,		/* request parameter, optional column */
	SEGMENT_FIELD_ENDING_AT,	/* request parameter, optional column */
	SEGMENT_FIELD_ID,			/* list */
	SEGMENT_FIELD_NAME,			/* list, details */
	SEGMENT_FIELD_ANALYTICS_TRACKING_ENABLED,	/* list */
	SEGMENT_FIELD_TAGS,			/* list, details */
	SEGMENT_FIELD_DESCRIPTION,	/* details */
	SEGMENT_FIELD_TEXT_DESCRIPTION, /* details */
	SEGMENT_FIELD_CREATED_AT,	/* details */
	SEGMENT_FIELD_UPDATED_AT,	/* details */
	SEGMENT_FIELD_TEAMS,		/* details */
	SEGMENT_NUM_FIELDS
} SegmentField;

#define SEGMENT_FIELD_BIT(f) (1U << (f))

/* The endpoints a foreign table can read (table option "endpoint") */
typedef enum SegmentEndpointId
{
	SEGMENT_ENDPOINT_DATA_SERIES,	/* the default */
	SEGMENT_ENDPOINT_LIST,
	SEGMENT_ENDPOINT_DETAILS,
	SEGMENT_NUM_ENDPOINTS
} SegmentEndpointId;

/*
 * A row of /segments/list or /segments/details: each field's value as text
 * in the database encoding (NULL for JSON null or a field the endpoint does
 * not have), and the elements of array fields (tags, teams).  Converted to
 * the columns' types by their input functions, or construct_array.
 */
typedef struct SegmentCatalogRow
{
	char	   *values[SEGMENT_NUM_FIELDS];
	char	  **elems[SEGMENT_NUM_FIELDS];
	int			nelems[SEGMENT_NUM_FIELDS];
} SegmentCatalogRow;

/* The query parameters of a request, as the endpoints name them */
typedef enum SegmentParam
{
	SEGMENT_PARAM_END = 0,		/* ends an endpoint's list */
	SEGMENT_PARAM_SEGMENT_ID,	/* segment_id=<the segment, in UTF-8> */
	SEGMENT_PARAM_LENGTH,		/* length=<days> */
	SEGMENT_PARAM_ENDING_AT,	/* ending_at=<day or time>, when given */
	SEGMENT_PARAM_PAGE,			/* page=<n, from 0> */
	SEGMENT_PARAM_SORT_ASC		/* sort_direction=asc: oldest first */
} SegmentParam;

#define SEGMENT_MAX_PARAMS 4

struct SegmentResponse;

/*
 * How a successful body becomes rows: an array of the endpoint's rows
 * (SegmentRow or SegmentCatalogRow), palloc'd, in *rows; returns their
 * number.  Raises an error for anything the API does not promise.
 */
typedef int (*SegmentParseBody) (const struct SegmentResponse *resp,
								 const char *api_key, void **rows);

/*
 * One endpoint of the API, as every part of segment_fdw sees it: the
 * planner (which conditions it needs, what a scan costs), the requests
 * (path and parameters), the option validator and column mapping (which
 * fields it has), IMPORT FOREIGN SCHEMA (the table it makes), the parser
 * and errors (the permission a key needs).  Adding an endpoint is adding
 * an entry to segment_endpoints (endpoint.c) and its row parser.
 */
typedef struct SegmentEndpoint
{
	const char *name;			/* value of the table option "endpoint" */
	const char *path;			/* below the server's url */
	SegmentParam params[SEGMENT_MAX_PARAMS];	/* of its query, in order */
	const char *permission;		/* the API key's permission it needs */
	const char *table;			/* name of the table IMPORT FOREIGN SCHEMA
								 * creates */
	const char *columns;		/* its column definitions */
	uint32		fields;			/* SEGMENT_FIELD_BIT of the fields it has */
	const char *field_list;		/* the same, for hints */
	const char *type_hint;		/* the types each field takes */
	bool		needs_segment;	/* requests name a segment: a scan needs a
								 * segment_id condition */
	bool		windows;		/* data_series: days cut into windows, and
								 * the time, length and ending_at columns */
	bool		paged;			/* list: pages asked one after another while
								 * full */
	SegmentParseBody parse;		/* body -> rows */
} SegmentEndpoint;

extern const SegmentEndpoint segment_endpoints[SEGMENT_NUM_ENDPOINTS];
extern const char *const segment_field_names[SEGMENT_NUM_FIELDS];

/* Which attribute holds each field (0 = none), and its type */
typedef struct SegmentColumns
{
	AttrNumber	attnum[SEGMENT_NUM_FIELDS];
	Oid			typid[SEGMENT_NUM_FIELDS];
} SegmentColumns;

/*
 * What a pushed-down condition says; one per expression in the scan's
 * fdw_exprs.  The column is always on the left: "time < expr".
 */
typedef enum SegmentCondKind
{
	SEGMENT_COND_SEGMENT_EQ,	/* segment_id = expr */
	SEGMENT_COND_SEGMENT_ANY,	/* segment_id = ANY (array expr) */
	SEGMENT_COND_TIME_LT,
	SEGMENT_COND_TIME_LE,
	SEGMENT_COND_TIME_EQ,
	SEGMENT_COND_TIME_GE,
	SEGMENT_COND_TIME_GT,
	SEGMENT_COND_TIME_ANY,		/* time = ANY (array expr), time IN (...) */
	SEGMENT_COND_LENGTH_EQ,		/* length = expr */
	SEGMENT_COND_ENDING_AT_EQ,	/* ending_at = expr */
	SEGMENT_COND_TIME_NULL,		/* time IS NULL: a NULL constant */
	SEGMENT_COND_TIME_OR,		/* an OR of time conditions: its leaves */
	SEGMENT_NUM_CONDS
} SegmentCondKind;

/* What makes each kind of condition, and how EXPLAIN shows it */
typedef struct SegmentCondDesc
{
	SegmentField field;			/* the column's field */
	CompareType cmptype;		/* the comparison (COMPARE_EQ for = ANY) */
	bool		any;			/* field = ANY (array expr) */
	const Oid  *types;			/* value (element) types, InvalidOid-ended */
	const char *label;			/* EXPLAIN: before the expression */
	const char *label_end;		/* and after it */
} SegmentCondDesc;

/*
 * A condition found by the planner: its kind and the non-column side.  An
 * OR of time conditions (SEGMENT_COND_TIME_OR) has the OR clause as expr,
 * and its conditions as leaves, each with the number of its branch.
 */
typedef struct SegmentCond
{
	SegmentCondKind kind;
	Expr	   *expr;
	List	   *leaves;			/* SegmentCond, of an OR */
	int			branch;			/* of a leaf: its branch of the OR, from 0 */
} SegmentCond;

/*
 * The value a condition's expression had when the scan started.  The
 * leaves of an OR come one after another, with their OR's number (from 1)
 * and their branch.
 */
typedef struct SegmentCondValue
{
	SegmentCondKind kind;
	Oid			type;			/* type of the expression */
	Datum		value;
	bool		isnull;
	int			or_group;		/* 0: not in an OR */
	int			or_branch;
} SegmentCondValue;

/* One HTTP request of a scan */
typedef struct SegmentRequest
{
	const SegmentEndpoint *endpoint;
	int64		page;			/* list: the page, from 0 */
	char	   *segment_id;
	int			length;			/* "length" parameter */
	char	   *ending_at;		/* "ending_at" parameter, or NULL to omit */
	DateADT		first_day;		/* days of the response to keep */
	DateADT		last_day;
	bool		length_isnull;	/* for a length column: NULL? */
	Datum		ending_at_value;	/* for an ending_at column */
	bool		ending_at_isnull;
	char	   *url;			/* full URL */
	char	   *target;			/* path and query, for EXPLAIN and errors */
} SegmentRequest;

/* A range of days that one request is for, inclusive */
typedef struct SegmentWindow
{
	DateADT		first_day;
	DateADT		last_day;
} SegmentWindow;

/*
 * The requests of one run of a scan, as segments and days: request i is
 * built on demand by segment_plan_request, so a plan costs the same memory
 * whatever the number of requests.  Requests are numbered segment by
 * segment (in the order given), each segment's windows in day order.
 */
typedef struct SegmentPlan
{
	const SegmentEndpoint *endpoint;
	const char *url;			/* the server's base URL */
	char	  **segments;		/* each once, in the order first given */
	int			nsegments;
	bool		parameter_mode; /* length or ending_at given: one request per
								 * segment with exactly those values */
	int			length;			/* parameter mode: the values sent */
	char	   *ending_at;		/* NULL to omit */
	Datum		ending_at_value;
	DateADT		lo;				/* normal mode: the days of every segment */
	DateADT		hi;
	SegmentWindow *windows;		/* the windows of a time IN (...) list, or
								 * NULL: lo..hi cut every SEGMENT_WINDOW_DAYS */
	int64		windows_per_segment;
	int64		nrequests;		/* nsegments * windows_per_segment; a paged
								 * plan: the pages known to be needed so far */
} SegmentPlan;

/* A row of a response: one day of one segment */
typedef struct SegmentRow
{
	DateADT		day;
	int64		size;
} SegmentRow;

/* A response handed back by a fetch */
typedef struct SegmentResponse
{
	const SegmentRequest *request;
	long		status;			/* HTTP status */
	char	   *body;			/* NUL-terminated */
	size_t		len;
	int			attempts;		/* tries made, retries included */
	long		ratelimit_reset;	/* X-RateLimit-Reset, or -1 */
	long		retry_after;	/* Retry-After, or -1 */
	int			max_retry_wait_ms;	/* the wait segment_fdw allows */
	bool		out_of_retries; /* max_retries attempts were made */
} SegmentResponse;

/* in segment_fdw.c */
extern bool segment_rel_batchable(RelOptInfo *rel, const SegmentColumns **cols);
extern bool segment_rel_clause_cond(PlannerInfo *root, RelOptInfo *rel,
									RestrictInfo *rinfo, SegmentCond *cond);
extern void segment_rel_batch_cost(RelOptInfo *rel, double segments,
								   double *rows, Cost *startup_cost,
								   Cost *total_cost);
extern double segment_rel_round_segments(RelOptInfo *rel);
extern Path *segment_batch_inner_path(PlannerInfo *root, RelOptInfo *rel,
									  double rows, Cost startup_cost,
									  Cost total_cost);
extern bool segment_scan_is_batched(PlanState *ps);
extern bool segment_scan_id_is_sendable(ForeignScanState *node,
										const char *id);
extern int64 segment_scan_begin_batch(ForeignScanState *node,
									  int *round_ids);
extern void segment_scan_start_batch(ForeignScanState *node, Datum ids);
extern HTAB *segment_cstring_hash_create(const char *name, long nelem,
										 Size entrysize, MemoryContext cxt);

/* in join.c */
extern bool segment_batch_joins;
extern void segment_join_init(void);

/* in day.c */
extern bool segment_parse_day(const char *str, DateADT *day);
extern char *segment_format_day(DateADT day);

/* in endpoint.c */
extern const SegmentEndpoint *segment_endpoint_by_name(const char *name);
extern bool segment_endpoint_has_field(const SegmentEndpoint *endpoint,
									   SegmentField field);

/* in option.c */
extern void segment_get_options(Oid foreigntableid, Oid userid,
								SegmentFdwOptions *opts);
extern void segment_get_columns(Oid foreigntableid,
								const SegmentEndpoint *endpoint,
								SegmentColumns *cols);

/* in request.c */
extern const SegmentCondDesc segment_conds[SEGMENT_NUM_CONDS];
extern const Oid segment_time_types[];
extern bool segment_type_in(Oid type, const Oid *types);
extern bool segment_cond_is_pushable(PlannerInfo *root, RelOptInfo *baserel,
									 const SegmentColumns *cols,
									 Expr *clause, SegmentCond *cond);
extern bool segment_cond_is_segment(SegmentCondKind kind);
extern int	segment_id_max_chars(Oid typid, int32 typmod);
extern bool segment_id_is_sendable(const char *id, int max_chars);
extern SegmentPlan *segment_plan_build(const SegmentFdwOptions *opts,
									   Oid time_type, int id_max_chars,
									   const SegmentCondValue *vals,
									   int nvals);
extern void segment_plan_request(const SegmentPlan *plan, int64 i,
								 SegmentRequest *req);
extern void segment_plan_check_cap(const SegmentPlan *plan,
								   const char *relname, int max_requests);
pg_noreturn extern void segment_plan_refuse_batch(const char *relname,
									  int max_requests, int64 before,
									  int64 round);
extern void segment_plan_next_page(SegmentPlan *plan, const char *relname,
								   int max_requests);
extern double segment_estimate_segments(const SegmentFdwOptions *opts,
										List *conds);
extern double segment_estimate_days(PlannerInfo *root,
									const SegmentFdwOptions *opts,
									List *conds);
extern double segment_estimate_requests(double days);

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
 * One HTTP request in flight or done, as http.c runs it.  The outcome
 * fields describe the latest attempt.
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

	/* retry state, fetch.c's */
	int			attempts;
	bool		recorded;		/* the latest attempt was counted */
	bool		waiting;		/* for retry_at */
	TimestampTz retry_at;
} SegmentTransfer;

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
	bool		warned_low;		/* the rate-limit warning was given */
	int			nstatuses;
	long		status[SEGMENT_STATUS_SLOTS];	/* responses by status */
	int64		status_count[SEGMENT_STATUS_SLOTS];
} SegmentFetchStats;

/* in url.c */
extern char *segment_allowed_urls;
extern bool segment_check_url(const char *url, char **detail);
extern bool segment_check_proxy(const char *url, char **detail);
extern bool segment_url_is_allowed(const char *url);
extern bool segment_check_allowed_urls(char **newval, void **extra,
									   GucSource source);
extern void segment_url_for_request(const char *base_url,
									SegmentRequest *req);
extern int	segment_request_errcontext(const SegmentRequest *req);

/* in http.c */
extern void *segment_make_headers(const char *api_key);
extern void segment_free_headers(void *headers);
extern void segment_transfer_start(SegmentTransfer *t,
								   const SegmentHttpConfig *http);
extern void segment_transfer_abort(SegmentTransfer *t);
extern double segment_http_wait(long timeout);
extern int	segment_max_idle_connections;
extern int	segment_idle_connection_timeout;
extern int	segment_http_running(void);
extern bool segment_http_close_idle(void);
extern int	segment_http_open_sockets(void);
extern void segment_http_end_of_xact(void);
extern bool segment_transfer_is_transient(const SegmentTransfer *t);
extern long segment_transfer_time_left(SegmentTransfer *t,
									   const SegmentHttpConfig *http);
pg_noreturn extern void segment_report_transfer_error(const SegmentTransfer *t,
										  const SegmentHttpConfig *http,
										  int attempts);

/* in fetch.c */
typedef struct SegmentFetch SegmentFetch;

extern bool segment_log_requests;
/*
 * Fills in the next request to send (allocated in the current memory
 * context, which the fetch resets when it no longer needs the request), or
 * returns false when there is none.
 */
typedef bool (*SegmentNextRequest) (void *arg, SegmentRequest *req);

extern void segment_fetch_init(void);
extern SegmentFetch *segment_fetch_begin(MemoryContext parent,
										 const SegmentFdwOptions *opts,
										 SubTransactionId owner,
										 SegmentNextRequest next_request,
										 void *arg,
										 SegmentFetchStats *stats);
extern void segment_fetch_start(SegmentFetch *fetch);
extern bool segment_fetch_next(SegmentFetch *fetch, SegmentResponse *resp);
extern void segment_fetch_release_body(SegmentFetch *fetch,
									   SegmentResponse *resp);
extern void segment_fetch_end(SegmentFetch *fetch);

/* in response.c */
extern int	segment_parse_body(const SegmentResponse *resp,
							   const char *api_key, SegmentRow **rows);
extern int	segment_parse_list(const SegmentResponse *resp,
							   const char *api_key, void **rows);
extern int	segment_parse_details(const SegmentResponse *resp,
								  const char *api_key, void **rows);
extern void segment_check_utf8(const SegmentResponse *resp);
extern struct json_object *segment_parse_json(const SegmentResponse *resp,
											  size_t max_bytes, bool quiet);
extern void segment_check_success(const SegmentResponse *resp,
								  struct json_object *root,
								  const char *api_key);
pg_noreturn extern void segment_report_http_error(const SegmentResponse *resp,
									  const char *api_key);

#endif							/* SEGMENT_FDW_H */
