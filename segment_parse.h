/*-------------------------------------------------------------------------
 *
 * segment_parse.h
 *		  Response bodies to rows, and the errors of HTTP statuses
 *		  (response.c: data_series and what the endpoints share;
 *		  list_details.c: /segments/list and /segments/details)
 *
 * Layer 2 (segment_util.h draws the layers).  json-c stays below this
 * header: the two parsers share its types through segment_json.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_PARSE_H
#define SEGMENT_PARSE_H

#include "segment_api.h"

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

/* A row of /segments/data_series: one day of one segment */
typedef struct SegmentRow
{
	DateADT		day;
	int64		size;
} SegmentRow;

/*
 * A row of /segments/list or /segments/details: each field's value as text
 * in the database encoding (NULL for JSON null or a field the endpoint does
 * not have), and the elements of array fields (tags, teams).  Converted to
 * the columns' types by their input functions, or construct_array.
 */
typedef struct SegmentInfoRow
{
	char	   *values[SEGMENT_NUM_FIELDS];
	char	  **elems[SEGMENT_NUM_FIELDS];
	int			nelems[SEGMENT_NUM_FIELDS];
} SegmentInfoRow;

/*
 * A successful body's rows: an array of its endpoint's rows (SegmentRow or
 * SegmentInfoRow), palloc'd, in *rows; returns their number.  Raises an
 * error for anything the API does not promise.
 */
extern int	segment_parse_rows(const SegmentResponse *resp,
							   const char *api_key, void **rows);
pg_noreturn extern void segment_report_http_error(const SegmentResponse *resp,
									  const char *api_key);

#endif							/* SEGMENT_PARSE_H */
