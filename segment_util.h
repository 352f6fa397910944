/*-------------------------------------------------------------------------
 *
 * segment_util.h
 *		  What every layer of segment_fdw uses: its version, days as the
 *		  Braze API writes them, the error context of a request, type lists
 *
 * The code is in layers; a file includes its own layer's header and those
 * of the layers below, never one above or beside it (test/layers checks
 * it, on every build).  From the bottom:
 *
 *	0	segment_util.h		util.c				this
 *	1	segment_api.h		endpoint.c			the API: endpoints, fields,
 *												one request
 *	2	segment_http.h		http.c, url.c		libcurl: URLs, transfers
 *		segment_parse.h		response.c,			json-c: bodies -> rows,
 *							list_details.c		HTTP error reports
 *	3	segment_options.h	option.c			options and columns
 *		segment_shared.h	shared.c			what the backends share:
 *												requests in flight, budgets,
 *												the cache, statistics
 *	4	segment_fetch.h		fetch.c				a scan's requests in flight
 *		segment_request.h	request.c			conditions -> requests
 *	5	segment_fdw.h		segment_fdw.c,		the FDW's callbacks and the
 *							join.c				batched join
 *
 * libcurl's types appear only in http.c and url.c, json-c's only in the
 * parsers (segment_json.h is theirs alone).  segment_compat.h, the
 * differences between PostgreSQL majors, is for everyone.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_UTIL_H
#define SEGMENT_UTIL_H

#include "utils/date.h"

#include "segment_compat.h"

#define SEGMENT_FDW_VERSION "1.2"

/* Days as YYYY-MM-DD */
extern bool segment_parse_day(const char *str, DateADT *day);
extern char *segment_format_day(DateADT day);

/* "Braze request GET <target>", for an ereport's context */
extern int	segment_request_errcontext(const char *target);

/* Lists of type OIDs, InvalidOid-ended */
extern const Oid segment_time_types[];
extern bool segment_type_in(Oid type, const Oid *types);

#endif							/* SEGMENT_UTIL_H */
