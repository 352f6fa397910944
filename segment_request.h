/*-------------------------------------------------------------------------
 *
 * segment_request.h
 *		  A scan's conditions, and the requests they make (request.c)
 *
 * Layer 4 (segment_util.h draws the layers).  The planner finds the
 * conditions it can push down; when the scan starts, their values become
 * the list of HTTP requests to send.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_REQUEST_H
#define SEGMENT_REQUEST_H

#include "nodes/pathnodes.h"

#include "segment_options.h"

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

/* A range of days that one request is for, inclusive */
typedef struct SegmentWindow
{
	DateADT		first_day;
	DateADT		last_day;
} SegmentWindow;

/*
 * The requests of one run of a scan, as segments and days: request i is
 * built on demand by segment_requests_get, so a list costs the same memory
 * whatever the number of requests.  Requests are numbered segment by
 * segment (in the order given), each segment's windows in day order.
 */
typedef struct SegmentRequestList
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
								 * list: the pages known to be needed so far */
} SegmentRequestList;

extern const SegmentCondDesc segment_conds[SEGMENT_NUM_CONDS];
extern bool segment_cond_is_pushable(PlannerInfo *root, RelOptInfo *baserel,
									 const SegmentColumns *cols,
									 Expr *clause, SegmentCond *cond);
extern bool segment_cond_is_segment(SegmentCondKind kind);
extern int	segment_id_max_chars(Oid typid, int32 typmod);
extern bool segment_id_is_sendable(const char *id, int max_chars);
extern SegmentRequestList *segment_requests_build(const SegmentFdwOptions *opts,
												  Oid time_type,
												  int id_max_chars,
												  const SegmentCondValue *vals,
												  int nvals);
extern void segment_requests_get(const SegmentRequestList *list, int64 i,
								 SegmentRequest *req);
extern void segment_requests_check_cap(const SegmentRequestList *list,
									   const char *relname, int max_requests);
pg_noreturn extern void segment_requests_refuse_batch(const char *relname,
													  int max_requests,
													  int64 before,
													  int64 round);
extern void segment_requests_next_page(SegmentRequestList *list,
									   const char *relname, int max_requests);
extern double segment_estimate_segments(const SegmentFdwOptions *opts,
										List *conds);
extern double segment_estimate_days(PlannerInfo *root,
									const SegmentFdwOptions *opts,
									List *conds);
extern double segment_estimate_requests(double days);

#endif							/* SEGMENT_REQUEST_H */
