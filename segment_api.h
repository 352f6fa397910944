/*-------------------------------------------------------------------------
 *
 * segment_api.h
 *		  The Braze API as segment_fdw reads it: its endpoints, their fields
 *		  and parameters, and one request to one of them
 *
 * Layer 1 (segment_util.h draws the layers).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_API_H
#define SEGMENT_API_H

#include "segment_util.h"

/* The documented limits of the API */
#define SEGMENT_API_MAX_LENGTH 100	/* days of one data_series request */
#define SEGMENT_LIST_PAGE_SIZE 100	/* segments of one full list page */

/*
 * Days of data one request is asked to cover.  The API's boundary and time
 * zone are undocumented, so each request asks for one more day on each side
 * than it keeps: 100 - 2.
 */
#define SEGMENT_WINDOW_DAYS (SEGMENT_API_MAX_LENGTH - 2)

/* Longest segment_id sent, in bytes of UTF-8 */
#define SEGMENT_MAX_ID_BYTES 1024

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

extern const char *const segment_field_names[SEGMENT_NUM_FIELDS];

/* The endpoints a foreign table can read (table option "endpoint") */
typedef enum SegmentEndpointId
{
	SEGMENT_ENDPOINT_DATA_SERIES,	/* the default */
	SEGMENT_ENDPOINT_LIST,
	SEGMENT_ENDPOINT_DETAILS,
	SEGMENT_NUM_ENDPOINTS
} SegmentEndpointId;

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

/*
 * One endpoint of the API, as every part of segment_fdw sees it: the
 * planner (which conditions it needs, what a scan costs), the requests
 * (path and parameters), the option validator and column mapping (which
 * fields it has), IMPORT FOREIGN SCHEMA (the table it makes), the parsers
 * and errors (the permission a key needs).  Adding an endpoint is adding an
 * entry to segment_endpoints (endpoint.c), and its row parser to
 * segment_parse_rows (response.c).
 */
typedef struct SegmentEndpoint
{
	SegmentEndpointId id;
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
} SegmentEndpoint;

extern const SegmentEndpoint segment_endpoints[SEGMENT_NUM_ENDPOINTS];

extern const SegmentEndpoint *segment_endpoint_by_name(const char *name);
extern bool segment_endpoint_has_field(const SegmentEndpoint *endpoint,
									   SegmentField field);

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

#endif							/* SEGMENT_API_H */
