/*-------------------------------------------------------------------------
 *
 * endpoint.c
 *		  The endpoints of the Braze API that segment_fdw reads, described
 *		  once for the planner, the requests, the options, IMPORT FOREIGN
 *		  SCHEMA, the parsers and the errors (layer 1, see segment_util.h)
 *
 * GET /segments/data_series gives the daily size of a segment;
 * GET /segments/list the workspace's segments, 100 a page; and
 * GET /segments/details one segment's details.  A foreign table reads one
 * of them, chosen by its option "endpoint".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "segment_api.h"

#define F(f) SEGMENT_FIELD_BIT(SEGMENT_FIELD_##f)

/* Names of the API fields, indexed by SegmentField */
const char *const segment_field_names[SEGMENT_NUM_FIELDS] = {
	[SEGMENT_FIELD_SEGMENT_ID] = "segment_id",
	[SEGMENT_FIELD_TIME] = "time",
	[SEGMENT_FIELD_SIZE] = "size",
	[SEGMENT_FIELD_LENGTH] = "length",
	[SEGMENT_FIELD_ENDING_AT] = "ending_at",
	[SEGMENT_FIELD_ID] = "id",
	[SEGMENT_FIELD_NAME] = "name",
	[SEGMENT_FIELD_ANALYTICS_TRACKING_ENABLED] = "analytics_tracking_enabled",
	[SEGMENT_FIELD_TAGS] = "tags",
	[SEGMENT_FIELD_DESCRIPTION] = "description",
	[SEGMENT_FIELD_TEXT_DESCRIPTION] = "text_description",
	[SEGMENT_FIELD_CREATED_AT] = "created_at",
	[SEGMENT_FIELD_UPDATED_AT] = "updated_at",
	[SEGMENT_FIELD_TEAMS] = "teams",
};

const SegmentEndpoint segment_endpoints[SEGMENT_NUM_ENDPOINTS] = {
	[SEGMENT_ENDPOINT_DATA_SERIES] = {
		.id = SEGMENT_ENDPOINT_DATA_SERIES,
		.name = "data_series",
		.path = "/segments/data_series",
		.params = {SEGMENT_PARAM_SEGMENT_ID, SEGMENT_PARAM_LENGTH, SEGMENT_PARAM_ENDING_AT},
		.permission = "segments.data_series",
		.table = "data_series",
		.columns = "segment_id text, \"time\" date, size bigint",
		.fields = F(SEGMENT_ID) | F(TIME) | F(SIZE) | F(LENGTH) | F(ENDING_AT),
		.field_list = "segment_id, time, size, length and ending_at",
		.type_hint = "segment_id takes text or varchar; time takes date, timestamp, timestamptz, text or varchar; size takes smallint, integer, bigint or numeric; length takes an integer type; ending_at takes timestamptz.",
		.needs_segment = true,
		.windows = true,
		.paged = false,
	},
	[SEGMENT_ENDPOINT_LIST] = {
		.id = SEGMENT_ENDPOINT_LIST,
		.name = "list",
		.path = "/segments/list",
		.params = {SEGMENT_PARAM_PAGE, SEGMENT_PARAM_SORT_ASC},
		.permission = "segments.list",
		.table = "segments",
		.columns = "id text, name text, analytics_tracking_enabled boolean, tags text[]",
		.fields = F(ID) | F(NAME) | F(ANALYTICS_TRACKING_ENABLED) | F(TAGS),
		.field_list = "id, name, analytics_tracking_enabled and tags",
		.type_hint = "id and name take text or varchar; analytics_tracking_enabled takes boolean; tags takes text[].",
		.needs_segment = false,
		.windows = false,
		.paged = true,
	},
	[SEGMENT_ENDPOINT_DETAILS] = {
		.id = SEGMENT_ENDPOINT_DETAILS,
		.name = "details",
		.path = "/segments/details",
		.params = {SEGMENT_PARAM_SEGMENT_ID},
		.permission = "segments.details",
		.table = "segment_details",
		.columns = "segment_id text, name text, description text, text_description text, created_at timestamptz, updated_at timestamptz, tags text[], teams text[]",
		.fields = F(SEGMENT_ID) | F(NAME) | F(DESCRIPTION) | F(TEXT_DESCRIPTION) |
		F(CREATED_AT) | F(UPDATED_AT) | F(TAGS) | F(TEAMS),
		.field_list = "segment_id, name, description, text_description, created_at, updated_at, tags and teams",
		.type_hint = "segment_id, name, description and text_description take text or varchar; created_at and updated_at take timestamptz; tags and teams take text[].",
		.needs_segment = true,
		.windows = false,
		.paged = false,
	},
};

/*
 * The endpoint whose option value is "name", or NULL.
 */
const SegmentEndpoint *
segment_endpoint_by_name(const char *name)
{
	int			i;

	for (i = 0; i < SEGMENT_NUM_ENDPOINTS; i++)
	{
		if (strcmp(segment_endpoints[i].name, name) == 0)
			return &segment_endpoints[i];
	}
	return NULL;
}

/*
 * Is "field" one of the fields of "endpoint"?
 */
bool
segment_endpoint_has_field(const SegmentEndpoint *endpoint, SegmentField field)
{
	return (endpoint->fields & SEGMENT_FIELD_BIT(field)) != 0;
}
