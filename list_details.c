/*-------------------------------------------------------------------------
 *
 * list_details.c
 *		  json-c for the workspace's segments: bodies of GET /segments/list
 *		  and GET /segments/details to rows (layer 2, see segment_util.h)
 *
 * A list page holds at most 100 segments and a details body one segment,
 * so both are small by nature: a body is parsed as one json-c tree, but
 * only up to LIST_MAX_BYTES or DETAILS_MAX_BYTES (a larger one is refused,
 * so that no body costs more memory than a tree of that size), and only
 * once the whole body is known to be UTF-8; fed to json-c in chunks
 * with a check for interrupts between them.  Text is converted from UTF-8
 * (Braze's) to the database encoding, which also checks it.
 *
 * Like response.c, this file includes json-c and not utils/builtins.h,
 * whose json_object is another thing; every json-c object and tokenizer
 * is released on every path, errors included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"


#include <json-c/json.h>

#include "mb/pg_wchar.h"

#include "segment_json.h"

/*
 * Largest bodies parsed, so that a tree costs at most about 270 bytes a
 * byte of them (see README, worst-case memory): a list page, 2,500 bytes for
 * each of its 100 segments, where a real one needs a few hundred (a list
 * scan holds one body at a time); a details body, 64 kB, where a real one
 * needs a few hundred bytes (a details scan holds max_concurrency bodies,
 * as a data_series scan, whose parse never costs more than 64 kB's tree).
 */
#define LIST_MAX_BYTES (256 * 1024)
#define DETAILS_MAX_BYTES (64 * 1024)

/* What a list or details body is parsed for */
typedef struct InfoParse
{
	const SegmentResponse *resp;
	const char *api_key;
	const char *element;		/* "element N of \"segments\"", or NULL */
} InfoParse;

static json_object *parse_tree(const SegmentResponse *resp);
static char *get_text(const InfoParse *p, json_object *obj,
					  const char *name, bool nullable);
static void get_strings(const InfoParse *p, json_object *obj,
						const char *name, bool nullable,
						SegmentInfoRow *row, SegmentField field);
pg_noreturn static void bad_shape(const InfoParse *p, const char *message,
								  const char *name);
static char *to_server(const InfoParse *p, json_object *str);
static char *get_time(const InfoParse *p, json_object *obj,
					  const char *name);
static bool is_iso_timestamp(const char *s);
static void conversion_context(void *arg);

/*
 * Parse a list or details body as one JSON value followed by nothing but white
 * space.  Returns the root, which the caller must json_object_put; raises
 * an error on malformed or oversized input.  A page or a segment's details
 * are a few kilobytes, so the tree is bounded by the endpoint's cap.
 */
static json_object *
parse_tree(const SegmentResponse *resp)
{
	int			max_bytes = resp->request->endpoint->paged ?
		LIST_MAX_BYTES : DETAILS_MAX_BYTES;

	if (resp->len > max_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("response from Braze is larger than %d bytes, the most GET %s takes",
						max_bytes, resp->request->endpoint->path),
				 errdetail("The body has %zu bytes; a page of %d segments, or the details of one, has a few kilobytes.",
						   resp->len, SEGMENT_LIST_PAGE_SIZE),
				 segment_request_errcontext(resp->request->target)));

	/* Braze sends UTF-8, as for data_series */
	segment_check_utf8(resp);
	return segment_parse_json(resp, max_bytes, false);
}

/*
 * Raise "message", a whole message (marked with gettext_noop) whose two %s
 * are the element being parsed and the member "name": "invalid response
 * from Braze: element 3 of "segments" has no "id" string".
 */
static void
bad_shape(const InfoParse *p, const char *message, const char *name)
{
	Assert(p->element != NULL);
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
			 errmsg(message, p->element, name),
			 segment_request_errcontext(p->resp->request->target)));
	pg_unreachable();
}

/*
 * Error context of a conversion: the element and the request.
 */
static void
conversion_context(void *arg)
{
	const InfoParse *p = (const InfoParse *) arg;

	if (p->element)
		errcontext("%s of Braze request GET %s", p->element,
				   p->resp->request->target);
	else
		errcontext("Braze request GET %s", p->resp->request->target);
}

/*
 * A JSON string as text of the database encoding: converted from UTF-8,
 * which checks it too (invalid UTF-8, a NUL written \u0000, or a character
 * the database encoding lacks are errors).
 */
static char *
to_server(const InfoParse *p, json_object *str)
{
	const char *s = json_object_get_string(str);
	int			len = json_object_get_string_len(str);
	char	   *converted;
	ErrorContextCallback errcallback;

	/* PostgreSQL's conversion errors name no request: say which */
	errcallback.callback = conversion_context;
	errcallback.arg = (void *) p;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	converted = pg_any_to_server(s, len, PG_UTF8);
	error_context_stack = errcallback.previous;

	/* pg_any_to_server may return its input, which json-c owns */
	return converted == s ? pnstrdup(s, len) : converted;
}

/*
 * Member "name" of "obj" as text, which must be a string, or (when
 * "nullable") null, which gives NULL.  A missing member is an error: the
 * API always sends it.
 */
static char *
get_text(const InfoParse *p, json_object *obj, const char *name,
		 bool nullable)
{
	json_object *value;

	if (!json_object_object_get_ex(obj, name, &value))
		bad_shape(p, nullable ?
				  gettext_noop("invalid response from Braze: %s has no \"%s\"") :
				  gettext_noop("invalid response from Braze: %s has no \"%s\" string"),
				  name);
	if (value == NULL && nullable)
		return NULL;
	if (!json_object_is_type(value, json_type_string))
		bad_shape(p, nullable ?
				  gettext_noop("invalid response from Braze: %s has a \"%s\" that is neither a string nor null") :
				  gettext_noop("invalid response from Braze: %s has no \"%s\" string"),
				  name);
	return to_server(p, value);
}

/*
 * Member "name" of "obj", an array of strings, into "field" of "row";
 * null (when "nullable") leaves it NULL.
 */
static void
get_strings(const InfoParse *p, json_object *obj, const char *name,
			bool nullable, SegmentInfoRow *row, SegmentField field)
{
	json_object *value;
	size_t		n;
	size_t		i;

	if (!json_object_object_get_ex(obj, name, &value))
		bad_shape(p, gettext_noop("invalid response from Braze: %s has no \"%s\" array"),
				  name);
	if (value == NULL && nullable)
		return;
	if (!json_object_is_type(value, json_type_array))
		bad_shape(p, gettext_noop("invalid response from Braze: %s has no \"%s\" array"),
				  name);
	n = json_object_array_length(value);
	row->nelems[field] = (int) n;
	row->elems[field] = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		json_object *elem = json_object_array_get_idx(value, i);

		if (!json_object_is_type(elem, json_type_string))
			bad_shape(p, gettext_noop("invalid response from Braze: %s has a \"%s\" array with an element that is not a string"),
					  name);
		row->elems[field][i] = to_server(p, elem);
	}
}

/*
 * Parse a successful body of GET /segments/list into SegmentInfoRow
 * (id, name, analytics_tracking_enabled, tags), in the order sent.  Every
 * element of "segments" must have all four, of their types: rows are never
 * guessed.
 */
int
segment_parse_list(const SegmentResponse *resp, const char *api_key,
				   void **rows)
{
	json_object *volatile root = parse_tree(resp);
	SegmentInfoRow *result = NULL;
	size_t		n = 0;

	PG_TRY();
	{
		InfoParse p = {resp, api_key, NULL};
		json_object *segments;
		size_t		i;

		segment_check_success(resp, root, api_key);
		segments = segment_array_member(resp, root, "segments");

		n = json_object_array_length(segments);
		result = palloc0(sizeof(SegmentInfoRow) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			json_object *seg = json_object_array_get_idx(segments, i);
			json_object *tracking;
			SegmentInfoRow *row = &result[i];

			p.element = psprintf("element %zu of \"segments\"", i + 1);
			if (!json_object_is_type(seg, json_type_object))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("invalid response from Braze: %s is not an object",
								p.element),
						 segment_request_errcontext(resp->request->target)));
			row->values[SEGMENT_FIELD_ID] = get_text(&p, seg, "id", false);
			row->values[SEGMENT_FIELD_NAME] = get_text(&p, seg, "name", false);
			if (!json_object_object_get_ex(seg, "analytics_tracking_enabled",
										   &tracking) ||
				!json_object_is_type(tracking, json_type_boolean))
				bad_shape(&p, gettext_noop("invalid response from Braze: %s has no \"%s\" boolean"),
						  "analytics_tracking_enabled");
			row->values[SEGMENT_FIELD_ANALYTICS_TRACKING_ENABLED] =
				json_object_get_boolean(tracking) ? "true" : "false";
			get_strings(&p, seg, "tags", false, row, SEGMENT_FIELD_TAGS);
		}
	}
	PG_FINALLY();
	{
		json_object_put(root);
	}
	PG_END_TRY();

	*rows = result;
	return (int) n;
}

/*
 * Parse a successful body of GET /segments/details into one
 * SegmentInfoRow: name (a string), description, text_description,
 * created_at and updated_at (strings or null), tags and teams (arrays of
 * strings, or null).  A member missing is an error: the API always sends
 * them all.  The timestamps must be written as the API writes them; the
 * column's input function reads them.
 */
int
segment_parse_details(const SegmentResponse *resp, const char *api_key,
					  void **rows)
{
	json_object *volatile root = parse_tree(resp);
	SegmentInfoRow *row = palloc0(sizeof(SegmentInfoRow));

	PG_TRY();
	{
		InfoParse p = {resp, api_key, NULL};

		segment_check_success(resp, root, api_key);
		p.element = "the body";
		row->values[SEGMENT_FIELD_NAME] = get_text(&p, root, "name", false);
		row->values[SEGMENT_FIELD_DESCRIPTION] =
			get_text(&p, root, "description", true);
		row->values[SEGMENT_FIELD_TEXT_DESCRIPTION] =
			get_text(&p, root, "text_description", true);
		row->values[SEGMENT_FIELD_CREATED_AT] =
			get_time(&p, root, "created_at");
		row->values[SEGMENT_FIELD_UPDATED_AT] =
			get_time(&p, root, "updated_at");
		get_strings(&p, root, "tags", true, row, SEGMENT_FIELD_TAGS);
		get_strings(&p, root, "teams", true, row, SEGMENT_FIELD_TEAMS);
	}
	PG_FINALLY();
	{
		json_object_put(root);
	}
	PG_END_TRY();

	*rows = row;
	return 1;
}

/*
 * Member "name" of "obj": a date and time as the API writes them, or NULL
 * for null.
 */
static char *
get_time(const InfoParse *p, json_object *obj, const char *name)
{
	char	   *value = get_text(p, obj, name, true);

	if (value != NULL && !is_iso_timestamp(value))
		bad_shape(p, gettext_noop("invalid response from Braze: %s has a \"%s\" that is not a date and time such as 2020-01-11T12:00:00Z"),
				  name);
	return value;
}

/*
 * Is "s" written as the API writes times: YYYY-MM-DDTHH:MM:SS, perhaps a
 * fraction of a second, then Z or an offset such as +02:00?  timestamptz's
 * input function would also take words ("now", "infinity") and times
 * without a zone, read in the session's TimeZone: neither is Braze's.
 */
static bool
is_iso_timestamp(const char *s)
{
	static const char form[] = "dddd-dd-ddTdd:dd:dd";
	int			i;

	for (i = 0; form[i] != '\0'; i++)
	{
		if (form[i] == 'd' ? !isdigit((unsigned char) s[i]) : s[i] != form[i])
			return false;
	}
	s += i;
	if (*s == '.')
	{
		if (!isdigit((unsigned char) *++s))
			return false;
		while (isdigit((unsigned char) *s))
			s++;
	}
	if (*s == 'Z')
		return s[1] == '\0';
	return (*s == '+' || *s == '-') &&
		isdigit((unsigned char) s[1]) && isdigit((unsigned char) s[2]) &&
		s[3] == ':' &&
		isdigit((unsigned char) s[4]) && isdigit((unsigned char) s[5]) &&
		s[6] == '\0';
}
