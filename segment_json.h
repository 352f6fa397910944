/*-------------------------------------------------------------------------
 *
 * segment_json.h
 *		  What the two parsers, response.c and list_details.c, share: the
 *		  json-c tree of a body, and its checks
 *
 * Layer 2, private to the parsers: no other file includes it, and it is
 * the only header that names a json-c type (segment_util.h draws the
 * layers).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_JSON_H
#define SEGMENT_JSON_H

#include "segment_parse.h"

struct json_object;

/* in response.c */
extern void segment_check_utf8(const SegmentResponse *resp);
extern struct json_object *segment_parse_json(const SegmentResponse *resp,
											  size_t max_bytes, bool quiet);
extern void segment_check_success(const SegmentResponse *resp,
								  struct json_object *root,
								  const char *api_key);
extern struct json_object *segment_array_member(const SegmentResponse *resp,
												struct json_object *root,
												const char *name);

/* in list_details.c */
extern int	segment_parse_list(const SegmentResponse *resp,
							   const char *api_key, void **rows);
extern int	segment_parse_details(const SegmentResponse *resp,
								  const char *api_key, void **rows);

#endif							/* SEGMENT_JSON_H */
