/*-------------------------------------------------------------------------
 *
 * response.c
 *		  json-c for segment_fdw: response bodies to rows, and the errors
 *		  Braze reports
 *
 * json-c's "json_object" type shares its name with a SQL function that
 * utils/builtins.h declares, so this file includes json-c and not that
 * header.  json-c objects are malloc'd and reference-counted: the root of
 * every parse is released on every path, errors included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include <json-c/json.h>

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "segment_fdw.h"

/* How much of a body an error message quotes */
#define BODY_EXCERPT_BYTES 200

static json_object *parse_json(const SegmentResponse *resp, bool quiet);
static char *remote_text(const char *s, size_t len, const char *api_key);
static char *body_excerpt(const SegmentResponse *resp, const char *api_key);
static const char *status_reason(long status);
static char *scrub_secret(const char *text, const char *secret);

/*
 * Parse a day written exactly as YYYY-MM-DD, as the API writes them and as
 * text columns hold them.  Unlike date_in, which accepts many spellings
 * ("today", "Jan 8") and throws on bad input, this accepts only the one
 * form and returns false on anything else, so it can judge both remote data
 * and text conditions.
 */
bool
segment_parse_day(const char *str, DateADT *day)
{
	int			year,
				month,
				mday,
				i;
	int			y2,
				m2,
				d2;

	if (strlen(str) != 10 || str[4] != '-' || str[7] != '-')
		return false;
	for (i = 0; i < 10; i++)
	{
		if (i != 4 && i != 7 && (str[i] < '0' || str[i] > '9'))
			return false;
	}
	year = atoi(str);
	month = atoi(str + 5);
	mday = atoi(str + 8);

	/* a day that does not exist (2024-02-30) does not survive a round trip */
	if (month < 1 || month > 12 || mday < 1 || mday > 31)
		return false;
	j2date(date2j(year, month, mday), &y2, &m2, &d2);
	if (y2 != year || m2 != month || d2 != mday)
		return false;

	*day = date2j(year, month, mday) - POSTGRES_EPOCH_JDATE;
	return true;
}

/*
 * Parse a body as one JSON value followed by nothing but white space.
 * Returns the root (which the caller must json_object_put), or, on
 * malformed input, NULL if "quiet", else raises an error.
 */
static json_object *
parse_json(const SegmentResponse *resp, bool quiet)
{
	json_tokener *tok;
	json_object *root;
	enum json_tokener_error jerr;
	size_t		end;

	if (resp->len > INT_MAX)
	{
		if (quiet)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_FDW_REPLY_HANDLE),
				 errmsg("response from Braze is too large to parse"),
				 segment_request_errcontext(resp->request)));
	}

	tok = json_tokener_new();
	if (tok == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	root = json_tokener_parse_ex(tok, resp->body, (int) resp->len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);

	/* only white space may follow the value */
	if (jerr == json_tokener_success)
	{
		while (end < resp->len && strchr(" \t\r\n", resp->body[end]) != NULL)
			end++;
		if (end < resp->len)
		{
			json_object_put(root);
			root = NULL;
			if (quiet)
				return NULL;
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
					 errmsg("invalid JSON in response from Braze: unexpected data after the value at byte %zu",
							end),
					 segment_request_errcontext(resp->request)));
		}
		return root;
	}

	json_object_put(root);		/* NULL-safe */
	if (quiet)
		return NULL;
	if (jerr == json_tokener_continue)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
				 errmsg("invalid JSON in response from Braze: the body ends after %zu bytes, in the middle of a value",
						resp->len),
				 errdetail("The response was truncated."),
				 segment_request_errcontext(resp->request)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
			 errmsg("invalid JSON in response from Braze: %s at byte %zu",
					json_tokener_error_desc(jerr), end),
			 segment_request_errcontext(resp->request)));
	return NULL;				/* keep compiler quiet */
}

/*
 * Parse a successful response body into rows, in the order sent.  Checks
 * everything the API promises: an object whose "message" is "success" and
 * whose "data" is an array of objects with a "time" (YYYY-MM-DD) and a
 * non-negative integer "size".  Anything else raises an error; rows are
 * never guessed.  Returns the number of rows, and the rows in *rows
 * (palloc'd).
 */
int
segment_parse_body(const SegmentResponse *resp, const char *api_key,
				   SegmentRow **rows)
{
	json_object *volatile root = parse_json(resp, false);
	SegmentRow *result = NULL;
	size_t		n = 0;

	/* the tree is json-c's (malloc'd): released whatever happens below */
	PG_TRY();
	{
		json_object *message;
		json_object *data;
		size_t		i;

		if (!json_object_is_type(root, json_type_object))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid response from Braze: the body is not a JSON object"),
					 segment_request_errcontext(resp->request)));

		if (!json_object_object_get_ex(root, "message", &message) ||
			!json_object_is_type(message, json_type_string))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid response from Braze: no \"message\" string"),
					 segment_request_errcontext(resp->request)));

		if (strcmp(json_object_get_string(message), "success") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("Braze reported a failure"),
					 errdetail_internal("Message: %s",
										remote_text(json_object_get_string(message),
													json_object_get_string_len(message),
													api_key)),
					 segment_request_errcontext(resp->request)));

		if (!json_object_object_get_ex(root, "data", &data))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid response from Braze: no \"data\""),
					 segment_request_errcontext(resp->request)));
		if (!json_object_is_type(data, json_type_array))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("invalid response from Braze: \"data\" is not an array"),
					 segment_request_errcontext(resp->request)));

		n = json_object_array_length(data);
		result = palloc_extended(sizeof(SegmentRow) * Max(n, 1), MCXT_ALLOC_HUGE);

		for (i = 0; i < n; i++)
		{
			json_object *row = json_object_array_get_idx(data, i);
			json_object *time;
			json_object *size;
			int64		value;

			if (!json_object_is_type(row, json_type_object))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("invalid response from Braze: element %zu of \"data\" is not an object",
								i + 1),
						 segment_request_errcontext(resp->request)));

			if (!json_object_object_get_ex(row, "time", &time) ||
				!json_object_is_type(time, json_type_string))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("invalid response from Braze: element %zu of \"data\" has no \"time\" string",
								i + 1),
						 segment_request_errcontext(resp->request)));
			if (!segment_parse_day(json_object_get_string(time), &result[i].day))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
						 errmsg("invalid response from Braze: \"time\" of element %zu is \"%s\", not a date YYYY-MM-DD",
								i + 1,
								remote_text(json_object_get_string(time),
											json_object_get_string_len(time),
											api_key)),
						 segment_request_errcontext(resp->request)));

			if (!json_object_object_get_ex(row, "size", &size) ||
				!json_object_is_type(size, json_type_int))
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("invalid response from Braze: element %zu of \"data\" has no integer \"size\"",
								i + 1),
						 segment_request_errcontext(resp->request)));

			/* json-c keeps integers beyond int64 as uint64, saturating here */
			value = json_object_get_int64(size);
			if (value < 0)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("invalid response from Braze: \"size\" of element %zu is negative",
								i + 1),
						 segment_request_errcontext(resp->request)));
			if (value == PG_INT64_MAX &&
				json_object_get_uint64(size) > (uint64) PG_INT64_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("invalid response from Braze: \"size\" of element %zu is out of range for bigint",
								i + 1),
						 segment_request_errcontext(resp->request)));
			result[i].size = value;
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
 * Text from the remote for a message: control characters, bytes that are
 * not UTF-8 (json-c keeps both) and, unless the database is UTF-8,
 * non-ASCII characters shown as '?'; line breaks and tabs as spaces; the
 * API key masked.  Never throws on bad input, so it is safe while a json-c
 * tree is held.
 */
static char *
remote_text(const char *s, size_t len, const char *api_key)
{
	StringInfoData buf;
	bool		utf8 = (GetDatabaseEncoding() == PG_UTF8);
	size_t		i = 0;

	initStringInfo(&buf);
	while (i < len)
	{
		const unsigned char *p = (const unsigned char *) s + i;
		int			l;

		if (*p < 0x80)
		{
			if (*p >= ' ' && *p != 0x7f)
				appendStringInfoChar(&buf, (char) *p);
			else if (*p == '\n' || *p == '\r' || *p == '\t')
				appendStringInfoChar(&buf, ' ');
			else
				appendStringInfoChar(&buf, '?');
			i++;
			continue;
		}
		l = pg_utf_mblen(p);
		if (i + l <= len && pg_utf8_islegal(p, l))
		{
			if (utf8)
				appendBinaryStringInfo(&buf, (const char *) p, l);
			else
				appendStringInfoChar(&buf, '?');
			i += l;
		}
		else
		{
			appendStringInfoChar(&buf, '?');	/* not UTF-8 */
			i++;
		}
	}
	return scrub_secret(buf.data, api_key);
}

/*
 * Quote the start of a body for an error message: at most
 * BODY_EXCERPT_BYTES of it, white space folded, as remote_text cleans it.
 */
static char *
body_excerpt(const SegmentResponse *resp, const char *api_key)
{
	char	   *text = remote_text(resp->body, Min(resp->len, BODY_EXCERPT_BYTES),
								   api_key);
	StringInfoData buf;
	char	   *p;

	initStringInfo(&buf);
	for (p = text; *p; p++)
	{
		if (*p == ' ' && buf.len > 0 && buf.data[buf.len - 1] == ' ')
			continue;
		appendStringInfoChar(&buf, *p);
	}
	if (resp->len > BODY_EXCERPT_BYTES)
		appendStringInfoString(&buf, "...");
	return buf.data;
}

/*
 * The standard reason phrase of the statuses Braze documents.
 */
static const char *
status_reason(long status)
{
	switch (status)
	{
		case 400:
			return "Bad Request";
		case 401:
			return "Unauthorized";
		case 403:
			return "Forbidden";
		case 404:
			return "Not Found";
		case 429:
			return "Too Many Requests";
		case 500:
			return "Internal Server Error";
		case 502:
			return "Bad Gateway";
		case 503:
			return "Service Unavailable";
		case 504:
			return "Gateway Timeout";
		default:
			return "unexpected status";
	}
}

/*
 * Raise the error for a response whose HTTP status is not 200.  The API's
 * "message" (or, for a body that is not the API's JSON, an excerpt) goes
 * into the detail; a hint says what to check.
 */
void
segment_report_http_error(const SegmentResponse *resp, const char *api_key)
{
	json_object *volatile root = parse_json(resp, true);
	json_object *message;
	char	   *volatile detail = NULL;
	int			code;
	const char *hint = NULL;
	char	   *tries = resp->attempts > 1 ?
		psprintf(" after %d attempts", resp->attempts) : "";

	PG_TRY();
	{
		if (root != NULL &&
			json_object_is_type(root, json_type_object) &&
			json_object_object_get_ex(root, "message", &message) &&
			json_object_is_type(message, json_type_string))
			detail = psprintf("Message: %s",
							  remote_text(json_object_get_string(message),
										  json_object_get_string_len(message),
										  api_key));
		else if (resp->len > 0)
			detail = psprintf("Response body: %s", body_excerpt(resp, api_key));
		else
			detail = pstrdup("The response body is empty.");
	}
	PG_FINALLY();
	{
		json_object_put(root);
	}
	PG_END_TRY();

	switch (resp->status)
	{
		case 401:
			code = ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION;
			hint = "Check the api_key option of the user mapping, and that the server's url is the REST endpoint of the instance the key belongs to.";
			break;
		case 403:
			code = ERRCODE_INSUFFICIENT_PRIVILEGE;
			hint = "The API key needs the permission segments.data_series.";
			break;
		case 404:
			code = ERRCODE_FDW_ERROR;
			hint = "Check the server's url and the segment_id.";
			break;
		case 429:
			code = ERRCODE_CONFIGURATION_LIMIT_EXCEEDED;
			if (resp->retry_after >= 0)
				hint = psprintf("Braze asks to retry after %ld s, longer than max_retry_wait_ms (%d ms) allows waiting.",
								resp->retry_after, resp->max_retry_wait_ms);
			else if (resp->ratelimit_reset >= 0)
				hint = psprintf("The rate limit resets at %s; segment_fdw waits for a reset only up to max_retry_wait_ms (%d ms).",
								timestamptz_to_str(time_t_to_timestamptz((pg_time_t) resp->ratelimit_reset)),
								resp->max_retry_wait_ms);
			else
				hint = "The Braze rate limit is shared by the workspace; retry later.";
			break;
		default:
			code = ERRCODE_FDW_ERROR;
			if (resp->status >= 500)
				hint = "Braze had trouble answering; retry later.";
			else if (resp->status >= 300 && resp->status < 400)
				hint = "Redirects are not followed: check that the server's url is the REST endpoint itself, with https.";
			break;
	}

	ereport(ERROR,
			(errcode(code),
			 resp->status == 429 ?
			 errmsg("rate limited by Braze (HTTP 429)%s", tries) :
			 errmsg("Braze API returned HTTP %ld (%s)%s",
					resp->status, status_reason(resp->status), tries),
			 errdetail_internal("%s", detail),
			 hint ? errhint("%s", hint) : 0,
			 segment_request_errcontext(resp->request)));
}

/*
 * Return a copy of "text" with every occurrence of "secret" masked, so a
 * remote message that echoes the API key never shows it.
 */
static char *
scrub_secret(const char *text, const char *secret)
{
	StringInfoData buf;
	size_t		slen = secret ? strlen(secret) : 0;
	const char *p = text;
	const char *hit;

	if (slen == 0)
		return pstrdup(text);

	initStringInfo(&buf);
	while ((hit = strstr(p, secret)) != NULL)
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, "********");
		p = hit + slen;
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}
