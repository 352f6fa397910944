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


#include <json-c/json.h>

#include "catalog/namespace.h"
#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/timestamp.h"

#include "segment_json.h"

/* How much of a body an error message quotes, and of any other remote text */
#define BODY_EXCERPT_BYTES 200
#define REMOTE_TEXT_MAX_BYTES 1000
#define TIME_TEXT_MAX_BYTES 100

/*
 * The largest body parsed as one json-c tree, and the largest value (a
 * member of the top-level object, an element of "data") the walk has
 * json-c parse on its own.  A tree costs up to about 264 bytes per byte
 * (a body of empty objects, "[{},{},...]": each has its own hash table),
 * so 64 kB is at most about 17 MB of json-c memory at any time; a real
 * body is a few kB, a row about 35 bytes.
 */
#define TREE_MAX_BYTES 65536
#define VALUE_MAX_BYTES 65536

/* Bytes read between two checks for interrupts */
#define PARSE_CHUNK_BYTES 65536

static bool is_json_space(char c);
static char *remote_text(const char *s, size_t len, const char *api_key,
						 int max_bytes);
static char *body_excerpt(const SegmentResponse *resp, const char *api_key);
static const char *status_reason(long status);
static char *mask_secret(const char *s, size_t len, const char *secret,
						 size_t *outlen);
pg_noreturn static void report_failure(const SegmentResponse *resp,
									   json_object *message,
									   const char *api_key);

/*
 * JSON's white space (json-c's too)
 */
static bool
is_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Parse a body of at most "max_bytes" (a few PARSE_CHUNK_BYTES: the caller
 * bounds the tree it builds) as one JSON value followed by nothing but
 * white space.  json-c is given PARSE_CHUNK_BYTES at a time, with a check
 * for interrupts between them.  Returns the root (which the caller must
 * json_object_put), or, on malformed input, NULL if "quiet", else raises an
 * error.
 */
json_object *
segment_parse_json(const SegmentResponse *resp, size_t max_bytes, bool quiet)
{
	json_tokener *volatile tok;
	json_object *volatile root = NULL;
	volatile enum json_tokener_error jerr = json_tokener_continue;
	volatile size_t pos = 0;
	volatile size_t end = 0;
	const char *nul;

	/* never a tree of a large body (see TREE_MAX_BYTES) */
	if (resp->len > max_bytes)
	{
		if (quiet)
			return NULL;
		elog(ERROR, "segment_fdw: a body of %zu bytes is too large for a tree",
			 resp->len);
	}

	/*
	 * JSON text has no raw NUL (a string writes it \u0000).  json-c stops
	 * reading at one, and inside a comment it even reports a whole value, so
	 * a body with a NUL is malformed whatever json-c would make of it.
	 */
	nul = memchr(resp->body, '\0', resp->len);
	if (nul != NULL)
	{
		if (quiet)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
				 errmsg("invalid JSON in response from Braze: NUL character at byte %zu",
						(size_t) (nul - resp->body)),
				 segment_request_errcontext(resp->request->target)));
	}

	tok = json_tokener_new();
	if (tok == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	/* the tokenizer and a partial tree are malloc'd: freed on every path */
	PG_TRY();
	{
		while (pos < resp->len && jerr == json_tokener_continue)
		{
			size_t		chunk = Min(resp->len - pos, PARSE_CHUNK_BYTES);

			CHECK_FOR_INTERRUPTS();
			root = json_tokener_parse_ex(tok, resp->body + pos, (int) chunk);
			jerr = json_tokener_get_error(tok);
			end = pos + json_tokener_get_parse_end(tok);
			pos += chunk;
		}
	}
	PG_FINALLY();
	{
		json_tokener_free(tok);
	}
	PG_END_TRY();

	/* only white space may follow the value */
	if (jerr == json_tokener_success)
	{
		while (end < resp->len && is_json_space(resp->body[end]))
			end++;
		if (end < resp->len)
		{
			json_object_put(root);
			if (quiet)
				return NULL;
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
					 errmsg("invalid JSON in response from Braze: unexpected data after the value at byte %zu",
							(size_t) end),
					 segment_request_errcontext(resp->request->target)));
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
				 segment_request_errcontext(resp->request->target)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
			 errmsg("invalid JSON in response from Braze: %s at byte %zu",
					json_tokener_error_desc(jerr), (size_t) end),
			 segment_request_errcontext(resp->request->target)));
	return NULL;				/* keep compiler quiet */
}

/*
 * What is wrong with an element of "data", if anything
 */
typedef enum RowProblem
{
	ROW_OK,
	ROW_NOT_OBJECT,
	ROW_NO_TIME,
	ROW_BAD_TIME,
	ROW_NO_SIZE,
	ROW_NEGATIVE_SIZE,
	ROW_SIZE_OUT_OF_RANGE
} RowProblem;

/*
 * The error of each problem: its SQLSTATE, and its whole message, whose
 * one argument is the element's number (from 1).  ROW_BAD_TIME quotes the
 * value as well, so report_row_problem writes it out.
 */
static const struct
{
	int			sqlstate;
	const char *message;
}			row_problems[] = {
	[ROW_NOT_OBJECT] = {ERRCODE_FDW_INVALID_DATA_TYPE,
	gettext_noop("invalid response from Braze: element %zu of \"data\" is not an object")},
	[ROW_NO_TIME] = {ERRCODE_FDW_INVALID_DATA_TYPE,
	gettext_noop("invalid response from Braze: element %zu of \"data\" has no \"time\" string")},
	[ROW_NO_SIZE] = {ERRCODE_FDW_INVALID_DATA_TYPE,
	gettext_noop("invalid response from Braze: element %zu of \"data\" has no integer \"size\"")},
	[ROW_NEGATIVE_SIZE] = {ERRCODE_FDW_INVALID_DATA_TYPE,
	gettext_noop("invalid response from Braze: \"size\" of element %zu is negative")},
	[ROW_SIZE_OUT_OF_RANGE] = {ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
	gettext_noop("invalid response from Braze: \"size\" of element %zu is out of range for bigint")},
};

/*
 * Check an element of "data": an object with a "time" (YYYY-MM-DD) and a
 * non-negative integer "size" that fits a bigint.  Fills *out when it is.
 * Never throws, so it may run while json-c objects are held.
 */
static RowProblem
check_row(json_object *row, SegmentRow *out)
{
	json_object *time;
	json_object *size;
	int64		value;

	if (!json_object_is_type(row, json_type_object))
		return ROW_NOT_OBJECT;
	if (!json_object_object_get_ex(row, "time", &time) ||
		!json_object_is_type(time, json_type_string))
		return ROW_NO_TIME;
	if (!segment_parse_day(json_object_get_string(time), &out->day))
		return ROW_BAD_TIME;
	if (!json_object_object_get_ex(row, "size", &size) ||
		!json_object_is_type(size, json_type_int))
		return ROW_NO_SIZE;

	/* json-c keeps integers beyond int64 as uint64, saturating here */
	value = json_object_get_int64(size);
	if (value < 0)
		return ROW_NEGATIVE_SIZE;
	if (value == PG_INT64_MAX &&
		json_object_get_uint64(size) > (uint64) PG_INT64_MAX)
		return ROW_SIZE_OUT_OF_RANGE;
	out->size = value;
	return ROW_OK;
}

/*
 * Raise the error for element "i" (from 0) of "data", which check_row
 * found "problem" with.
 */
static void
report_row_problem(RowProblem problem, json_object *row, size_t i,
				   const SegmentResponse *resp, const char *api_key)
{
	json_object *time;

	Assert(problem != ROW_OK && problem < lengthof(row_problems));
	if (problem == ROW_BAD_TIME)
	{
		/* the one message that quotes the value */
		time = json_object_object_get(row, "time");
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
				 errmsg("invalid response from Braze: \"time\" of element %zu is \"%s\", not a date YYYY-MM-DD",
						i + 1,
						remote_text(json_object_get_string(time),
									json_object_get_string_len(time),
									api_key, TIME_TEXT_MAX_BYTES)),
				 segment_request_errcontext(resp->request->target)));
	}
	ereport(ERROR,
			(errcode(row_problems[problem].sqlstate),
			 errmsg(row_problems[problem].message, i + 1),
			 segment_request_errcontext(resp->request->target)));
}

/*
 * Parse a successful response body as one json-c tree, and check
 * everything the API promises: an object whose "message" is "success" and
 * whose "data" is an array of rows (see check_row).  Anything else raises
 * an error; rows are never guessed.  This is the reference: whatever it
 * accepts is what json-c accepts, and its errors are the precise ones.
 * Returns the number of rows, and the rows in *rows (palloc'd).
 */
static int
parse_body_tree(const SegmentResponse *resp, const char *api_key,
				SegmentRow **rows)
{
	json_object *volatile root = segment_parse_json(resp, TREE_MAX_BYTES, false);
	SegmentRow *result = NULL;
	size_t		n = 0;

	/* the tree is json-c's (malloc'd): released whatever happens below */
	PG_TRY();
	{
		json_object *data;
		size_t		i;

		segment_check_success(resp, root, api_key);
		data = segment_array_member(resp, root, "data");

		n = json_object_array_length(data);
		result = palloc_extended(sizeof(SegmentRow) * Max(n, 1), MCXT_ALLOC_HUGE);

		for (i = 0; i < n; i++)
		{
			json_object *row = json_object_array_get_idx(data, i);
			RowProblem	problem = check_row(row, &result[i]);

			if (problem != ROW_OK)
				report_row_problem(problem, row, i, resp, api_key);
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
 * A walk over a body by parse_body_fast: where it is, the tokenizers it
 * parses values with, and the value it holds (released on every path).
 * When "report" is set, a problem raises its error where it is found;
 * otherwise the walk just returns false.
 */
typedef struct BodyWalk
{
	const SegmentResponse *resp;
	const char *api_key;
	bool		report;
	const char *body;
	size_t		len;
	size_t		pos;
	json_tokener *member_tok;	/* members of the top-level object */
	json_tokener *element_tok;	/* elements of "data" */
	json_object *value;			/* the value last parsed, or NULL */
	SegmentRow *rows;
	size_t		nrows;
	size_t		maxrows;
} BodyWalk;

/*
 * The walk found malformed JSON at byte "at": raise its error if the walk
 * reports, else return false.  "jerr" is json-c's complaint, if any.
 */
static bool
walk_bad_json(BodyWalk *w, size_t at, enum json_tokener_error jerr)
{
	if (!w->report)
		return false;
	if (jerr == json_tokener_continue || at >= w->len)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
				 errmsg("invalid JSON in response from Braze: the body ends after %zu bytes, in the middle of a value",
						w->len),
				 errdetail("The response was truncated."),
				 segment_request_errcontext(w->resp->request->target)));
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
			 errmsg("invalid JSON in response from Braze: %s at byte %zu",
					jerr == json_tokener_success ? "unexpected character" :
					json_tokener_error_desc(jerr), at),
			 segment_request_errcontext(w->resp->request->target)));
	return false;				/* keep compiler quiet */
}

/*
 * The walk found JSON of the wrong shape: raise "invalid response from
 * Braze: <what>" if the walk reports, else return false.
 */
static bool
walk_bad_shape(BodyWalk *w, const char *what)
{
	if (w->report)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Braze: %s", what),
				 segment_request_errcontext(w->resp->request->target)));
	return false;
}

/*
 * Step over white space, checking for interrupts on long runs of it.
 * (Comments, which json-c also allows between values, are left to the
 * tree.)
 */
static void
walk_space(BodyWalk *w)
{
	size_t		start = w->pos;

	while (w->pos < w->len && is_json_space(w->body[w->pos]))
	{
		if (++w->pos - start >= PARSE_CHUNK_BYTES)
		{
			CHECK_FOR_INTERRUPTS();
			start = w->pos;
		}
	}
}

/*
 * Step over white space; then, if the next character is "c", over it too
 * and return true.
 */
static bool
walk_punct(BodyWalk *w, char c)
{
	walk_space(w);
	if (w->pos < w->len && w->body[w->pos] == c)
	{
		w->pos++;
		return true;
	}
	return false;
}

/*
 * Have json-c parse the value that starts at the walk's position, and hold
 * it in w->value (which may be NULL: JSON null).  False if the text there
 * is not one whole value, or if the value is longer than VALUE_MAX_BYTES:
 * json-c is never given more than that at once, so the tree of one value
 * stays small whatever the body.  "what" names the value for that error.
 * json-c also consumes the white space and comments after the value; the
 * walk goes on after them.
 */
static bool
walk_value(BodyWalk *w, json_tokener *tok, const char *what)
{
	size_t		avail = Min(w->len - w->pos, VALUE_MAX_BYTES);
	enum json_tokener_error jerr;

	json_object_put(w->value);
	w->value = NULL;

	json_tokener_reset(tok);
	w->value = json_tokener_parse_ex(tok, w->body + w->pos, (int) avail);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue && avail < w->len - w->pos)
	{
		if (w->report)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_REPLY_HANDLE),
					 errmsg("invalid response from Braze: %s is larger than %d bytes",
							what, VALUE_MAX_BYTES),
					 errdetail("The value starts at byte %zu.", w->pos),
					 segment_request_errcontext(w->resp->request->target)));
		return false;
	}
	if (jerr != json_tokener_success)
		return walk_bad_json(w, w->pos + json_tokener_get_parse_end(tok), jerr);
	w->pos += json_tokener_get_parse_end(tok);
	return true;
}

/*
 * Walk the elements of "data", from its '['.
 */
static bool
walk_data(BodyWalk *w)
{
	walk_space(w);
	if (w->pos >= w->len)
		return walk_bad_json(w, w->pos, json_tokener_continue);
	if (w->body[w->pos] != '[')
		return walk_bad_shape(w, "\"data\" is not an array");
	w->pos++;
	if (walk_punct(w, ']'))
		return true;
	for (;;)
	{
		SegmentRow	row;
		RowProblem	problem;

		CHECK_FOR_INTERRUPTS();
		if (!walk_value(w, w->element_tok, "an element of \"data\""))
			return false;
		problem = check_row(w->value, &row);
		if (problem != ROW_OK)
		{
			if (w->report)
				report_row_problem(problem, w->value, w->nrows, w->resp,
								   w->api_key);
			return false;
		}
		json_object_put(w->value);
		w->value = NULL;

		if (w->nrows == w->maxrows)
		{
			w->maxrows *= 2;
			w->rows = repalloc_huge(w->rows, sizeof(SegmentRow) * w->maxrows);
		}
		w->rows[w->nrows++] = row;

		if (walk_punct(w, ','))
			continue;
		if (walk_punct(w, ']'))
			return true;
		return walk_bad_json(w, w->pos, json_tokener_success);
	}
}

/*
 * Walk the top-level object: "message" must be "success", "data" is
 * walked, any other member is parsed and let go.
 */
static bool
walk_body(BodyWalk *w)
{
	bool		seen_message = false;
	bool		seen_data = false;

	walk_space(w);
	if (w->pos >= w->len)
		return walk_bad_json(w, w->pos, json_tokener_continue);
	if (w->body[w->pos] != '{')
	{
		/* a JSON value of another kind, or no JSON at all */
		if (strchr("[\"-0123456789tfn", w->body[w->pos]) != NULL)
			return walk_bad_shape(w, "the body is not a JSON object");
		return walk_bad_json(w, w->pos, json_tokener_success);
	}
	w->pos++;
	do
	{
		bool		is_message;
		bool		is_data;
		size_t		name_at;

		CHECK_FOR_INTERRUPTS();
		walk_space(w);
		name_at = w->pos;
		if (!walk_value(w, w->member_tok, "a member name"))
			return false;
		if (!json_object_is_type(w->value, json_type_string))
			return walk_bad_json(w, name_at, json_tokener_success);
		/* C strings, as json-c's objects compare their keys */
		is_message = strcmp(json_object_get_string(w->value), "message") == 0;
		is_data = strcmp(json_object_get_string(w->value), "data") == 0;
		if (!walk_punct(w, ':'))
			return walk_bad_json(w, w->pos, json_tokener_success);

		/* json-c keeps the last of duplicate members: the tree decides */
		if ((is_message && seen_message) || (is_data && seen_data))
		{
			if (w->report)
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
						 errmsg("invalid response from Braze: member \"%s\" appears twice",
								is_data ? "data" : "message"),
						 segment_request_errcontext(w->resp->request->target)));
			return false;
		}
		if (is_data)
		{
			seen_data = true;
			if (!walk_data(w))
				return false;
		}
		else
		{
			if (!walk_value(w, w->member_tok,
							is_message ? "member \"message\"" : "a member"))
				return false;
			if (is_message)
			{
				seen_message = true;
				if (!json_object_is_type(w->value, json_type_string))
					return walk_bad_shape(w, "no \"message\" string");
				if (strcmp(json_object_get_string(w->value), "success") != 0)
				{
					if (w->report)
						report_failure(w->resp, w->value, w->api_key);
					return false;
				}
			}
		}
	} while (walk_punct(w, ','));

	if (!walk_punct(w, '}'))
		return walk_bad_json(w, w->pos, json_tokener_success);
	walk_space(w);
	if (w->pos != w->len)
	{
		if (w->report)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
					 errmsg("invalid JSON in response from Braze: unexpected data after the value at byte %zu",
							w->pos),
					 segment_request_errcontext(w->resp->request->target)));
		return false;
	}
	if (!seen_message)
		return walk_bad_shape(w, "no \"message\" string");
	if (!seen_data)
		return walk_bad_shape(w, "no \"data\"");
	return true;
}

/*
 * The fast path of parse_data_series.  json-c has no streaming interface,
 * and a tree of a whole body costs about 29 bytes of memory per byte of
 * body for rows, and up to 264 for other JSON (empty objects).  So this
 * walks the top-level object and the "data" array itself, reading only the
 * white space and punctuation between values, and has json-c parse each
 * value on its own, at most VALUE_MAX_BYTES of it: each member of the
 * top-level object, then each element of "data", each released before the
 * next.  Memory is the body, the rows (an array that doubles as it fills)
 * and one value.  Interrupts are checked between values, and within long
 * runs of white space.
 *
 * It takes only what a successful response looks like.  On anything else
 * (malformed JSON, a NUL, a duplicate "message" or "data", a row that fails
 * a check, a failure message, a value over VALUE_MAX_BYTES) it returns
 * false, with *rows NULL, so that the caller can parse a small body as a
 * tree, which reports the precise error; or, with "report", it raises the
 * error of the first problem itself (for a body too large for a tree).
 * Every body this accepts, the tree accepts with the same rows: test/fuzz
 * checks it.  The tokenizers' depth limits are what the tree allows at the
 * values' depth.
 */
static bool
parse_body_fast(const SegmentResponse *resp, const char *api_key, bool report,
				SegmentRow **rows, int *nrows)
{
	BodyWalk   *w;
	bool		ok = false;
	const char *nul;

	*rows = NULL;
	*nrows = 0;
	/* see segment_parse_json */
	nul = memchr(resp->body, '\0', resp->len);
	if (nul != NULL)
	{
		if (report)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_STRING_FORMAT),
					 errmsg("invalid JSON in response from Braze: NUL character at byte %zu",
							(size_t) (nul - resp->body)),
					 segment_request_errcontext(resp->request->target)));
		return false;
	}

	w = palloc0(sizeof(BodyWalk));
	w->resp = resp;
	w->api_key = api_key;
	w->report = report;
	w->body = resp->body;
	w->len = resp->len;
	w->maxrows = 128;
	w->rows = palloc(sizeof(SegmentRow) * w->maxrows);

	/* the walk holds malloc'd tokenizers and values: released on every path */
	PG_TRY();
	{
		w->member_tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH - 1);
		w->element_tok = json_tokener_new_ex(JSON_TOKENER_DEFAULT_DEPTH - 2);
		if (w->member_tok == NULL || w->element_tok == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		ok = walk_body(w);
	}
	PG_FINALLY();
	{
		json_object_put(w->value);
		if (w->member_tok)
			json_tokener_free(w->member_tok);
		if (w->element_tok)
			json_tokener_free(w->element_tok);
	}
	PG_END_TRY();

	if (ok)
	{
		*rows = w->rows;
		*nrows = (int) w->nrows;
	}
	else
		pfree(w->rows);
	pfree(w);
	return ok;
}

/*
 * A successful body must be UTF-8, as Braze sends it: raise an error at
 * the first byte that is not.  (NUL bytes are left to the JSON checks.)
 * Checks for interrupts every PARSE_CHUNK_BYTES.
 */
void
segment_check_utf8(const SegmentResponse *resp)
{
	const unsigned char *body = (const unsigned char *) resp->body;
	size_t		i = 0;
	size_t		next_check = PARSE_CHUNK_BYTES;

	while (i < resp->len)
	{
		int			l;

		if (i >= next_check)
		{
			CHECK_FOR_INTERRUPTS();
			next_check = i + PARSE_CHUNK_BYTES;
		}
		if (body[i] < 0x80)
		{
			i++;
			continue;
		}
		l = pg_utf_mblen(body + i);
		if (i + l > resp->len || !pg_utf8_islegal(body + i, l))
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("invalid response from Braze: invalid UTF-8 at byte %zu", i),
					 errdetail("Braze sends UTF-8; the byte there is 0x%02X.", body[i]),
					 segment_request_errcontext(resp->request->target)));
		i += l;
	}
}

/*
 * Parse a successful response body into rows, in the order sent.  Checks
 * everything the API promises (see parse_body_tree) and raises an error
 * on anything else; rows are never guessed.  Returns the number of rows,
 * and the rows in *rows (palloc'd).
 *
 * The body is walked (parse_body_fast); only a body it does not take and
 * that is at most TREE_MAX_BYTES is parsed as a tree, for the precise
 * error.  A larger one gets the error of the first problem the walk met,
 * so no body ever costs more json-c memory than a tree of TREE_MAX_BYTES.
 */
static int
parse_data_series(const SegmentResponse *resp, const char *api_key,
				  SegmentRow **rows)
{
	int			nrows;

	segment_check_utf8(resp);
	if (resp->len <= TREE_MAX_BYTES)
	{
		if (parse_body_fast(resp, api_key, false, rows, &nrows))
			return nrows;
		return parse_body_tree(resp, api_key, rows);
	}
	/* too large for a tree: the walk raises the error of its first problem */
	if (!parse_body_fast(resp, api_key, true, rows, &nrows))
		elog(ERROR, "segment_fdw: the walk refused a body without an error");
	return nrows;
}

/*
 * The rows of a successful body, by the parser of the request's endpoint.
 */
int
segment_parse_rows(const SegmentResponse *resp, const char *api_key,
				   void **rows)
{
	switch (resp->request->endpoint->id)
	{
		case SEGMENT_ENDPOINT_DATA_SERIES:
			return parse_data_series(resp, api_key, (SegmentRow **) rows);
		case SEGMENT_ENDPOINT_LIST:
			return segment_parse_list(resp, api_key, rows);
		case SEGMENT_ENDPOINT_DETAILS:
			return segment_parse_details(resp, api_key, rows);
		case SEGMENT_NUM_ENDPOINTS:
			break;
	}
	elog(ERROR, "segment_fdw: no parser for endpoint %d",
		 (int) resp->request->endpoint->id);
	return 0;					/* keep compiler quiet */
}

/*
 * Append the character "p" (a valid UTF-8 sequence of "l" bytes) in the
 * database encoding, or as an escape (\u00E9, \U0001F389) when the
 * database cannot hold it.  "proc" converts from UTF-8 to the database
 * encoding (InvalidOid: none is needed, or none exists).  Never throws on
 * the character.
 */
static void
append_char(StringInfo buf, const unsigned char *p, int l, Oid proc)
{
	int			enc = GetDatabaseEncoding();
	unsigned char converted[MAX_CONVERSION_GROWTH * 4 + 1];
	pg_wchar	code;

	if (enc == PG_UTF8 || enc == PG_SQL_ASCII)
	{
		appendBinaryStringInfo(buf, (const char *) p, l);
		return;
	}
	if (OidIsValid(proc) &&
		pg_do_encoding_conversion_buf(proc, PG_UTF8, enc,
									  (unsigned char *) p, l,
									  converted, sizeof(converted),
									  true) == l)
	{
		appendStringInfoString(buf, (const char *) converted);
		return;
	}
	code = utf8_to_unicode(p);
	if (code <= 0xFFFF)
		appendStringInfo(buf, "\\u%04X", (unsigned int) code);
	else
		appendStringInfo(buf, "\\U%08X", (unsigned int) code);
}

/*
 * Text from the remote for a message, at most about "max_bytes" of it,
 * then "..." if there was more.  The API key is masked first, on the raw
 * bytes, so that no cut can leave a part of it.  Then: line breaks and
 * tabs become spaces; other control characters, backslashes and bytes that
 * are not UTF-8 (json-c keeps all of them in strings) are escaped (\x07,
 * \\, \xE9); characters are converted from UTF-8 to the database encoding,
 * and those it cannot hold are escaped (\u00E9).  Never throws on bad
 * input, so it is safe while a json-c tree is held.
 */
static char *
remote_text(const char *s, size_t len, const char *api_key, int max_bytes)
{
	StringInfoData buf;
	size_t		mlen;
	char	   *masked = mask_secret(s, len, api_key, &mlen);
	Oid			proc = InvalidOid;
	size_t		i = 0;

	if (GetDatabaseEncoding() != PG_UTF8 && GetDatabaseEncoding() != PG_SQL_ASCII)
		proc = FindDefaultConversionProc(PG_UTF8, GetDatabaseEncoding());

	initStringInfo(&buf);
	while (i < mlen && buf.len < max_bytes)
	{
		const unsigned char *p = (const unsigned char *) masked + i;
		int			l;

		if (*p < 0x80)
		{
			if (*p == '\\')
				appendStringInfoString(&buf, "\\\\");
			else if (*p >= ' ' && *p != 0x7f)
				appendStringInfoChar(&buf, (char) *p);
			else if (*p == '\n' || *p == '\r' || *p == '\t')
				appendStringInfoChar(&buf, ' ');
			else
				appendStringInfo(&buf, "\\x%02X", *p);
			i++;
			continue;
		}
		l = pg_utf_mblen(p);
		if (i + l <= mlen && pg_utf8_islegal(p, l))
		{
			append_char(&buf, p, l, proc);
			i += l;
		}
		else
		{
			appendStringInfo(&buf, "\\x%02X", *p);	/* not UTF-8 */
			i++;
		}
	}
	if (i < mlen)
		appendStringInfoString(&buf, "...");
	pfree(masked);
	return buf.data;
}

/*
 * Quote the start of a body for an error message: its first
 * BODY_EXCERPT_BYTES, cleaned as remote_text does, white space folded.
 *
 * The key is masked before the cut, over enough of the body that every
 * echo of it that could reach the excerpt lies whole in what is masked.
 * A byte of the excerpt stands for at most 4 bytes of the body (a
 * character converted to the database encoding), or for keylen / 8 when
 * it is part of a mask, which shortens each echo to 8 characters; so no
 * echo that starts beyond BODY_EXCERPT_BYTES * Max(4, keylen) is reached.
 */
static char *
body_excerpt(const SegmentResponse *resp, const char *api_key)
{
	size_t		keylen = api_key ? strlen(api_key) : 0;
	size_t		take = Min(resp->len,
						   BODY_EXCERPT_BYTES * Max(4, keylen) + keylen);
	char	   *text = remote_text(resp->body, take, api_key, BODY_EXCERPT_BYTES);
	StringInfoData buf;
	char	   *p;

	initStringInfo(&buf);
	for (p = text; *p; p++)
	{
		if (*p == ' ' && buf.len > 0 && buf.data[buf.len - 1] == ' ')
			continue;
		appendStringInfoChar(&buf, *p);
	}
	/* remote_text marks a cut of what it was given; mark the rest too */
	if (resp->len > take && (buf.len < 3 || strcmp(buf.data + buf.len - 3, "...") != 0))
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
 * "message" (or, for a body that is not the API's JSON or is larger than
 * TREE_MAX_BYTES, an excerpt) goes into the detail, at most about
 * REMOTE_TEXT_MAX_BYTES of it; a hint says what to check.
 */
void
segment_report_http_error(const SegmentResponse *resp, const char *api_key)
{
	json_object *volatile root = segment_parse_json(resp, TREE_MAX_BYTES, true);
	json_object *message;
	char	   *volatile detail = NULL;
	int			code;
	const char *hint = NULL;

	PG_TRY();
	{
		if (root != NULL &&
			json_object_is_type(root, json_type_object) &&
			json_object_object_get_ex(root, "message", &message) &&
			json_object_is_type(message, json_type_string))
			detail = psprintf("Message: %s",
							  remote_text(json_object_get_string(message),
										  json_object_get_string_len(message),
										  api_key, REMOTE_TEXT_MAX_BYTES));
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
			hint = psprintf("The API key needs the permission %s.",
							resp->request->endpoint->permission);
			break;
		case 404:
			code = ERRCODE_FDW_ERROR;
			hint = resp->request->endpoint->needs_segment ?
				"Check the server's url and the segment_id." :
				"Check the server's url.";
			break;
		case 429:
			code = ERRCODE_CONFIGURATION_LIMIT_EXCEEDED;
			if (resp->out_of_retries)
				hint = resp->ratelimit_reset >= 0 ?
					psprintf("No retry is left (max_retries); the rate limit resets at %s.",
							 timestamptz_to_str(time_t_to_timestamptz((pg_time_t) resp->ratelimit_reset))) :
					"No retry is left (max_retries); the Braze rate limit is shared by the workspace, retry later.";
			else if (resp->retry_after >= 0)
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
			 resp->status != 429 ?
			 (resp->attempts > 1 ?
			  errmsg("Braze API returned HTTP %ld (%s) after %d attempts",
					 resp->status, status_reason(resp->status), resp->attempts) :
			  errmsg("Braze API returned HTTP %ld (%s)",
					 resp->status, status_reason(resp->status))) :
			 resp->attempts > 1 ?
			 errmsg("rate limited by Braze (HTTP 429) after %d attempts",
					resp->attempts) :
			 errmsg("rate limited by Braze (HTTP 429)"),
			 errdetail_internal("%s", detail),
			 hint ? errhint("%s", hint) : 0,
			 segment_request_errcontext(resp->request->target)));
}

/*
 * Return a copy of the "len" bytes at "s" (not NUL-terminated, and which may
 * hold NULs), NUL-terminated, with every occurrence of "secret" replaced by
 * "********", so a remote text that echoes the API key never shows it.
 * Its length goes to *outlen.
 */
static char *
mask_secret(const char *s, size_t len, const char *secret, size_t *outlen)
{
	StringInfoData buf;
	size_t		slen = secret ? strlen(secret) : 0;
	size_t		i = 0;

	initStringInfo(&buf);
	while (i < len)
	{
		if (slen > 0 && len - i >= slen && s[i] == secret[0] &&
			memcmp(s + i, secret, slen) == 0)
		{
			appendStringInfoString(&buf, "********");
			i += slen;
			continue;
		}
		appendStringInfoChar(&buf, s[i]);
		i++;
	}
	*outlen = buf.len;
	return buf.data;
}

/*
 * A body whose "message" is not "success": Braze's own words, masked and
 * cut, in the detail.
 */
static void
report_failure(const SegmentResponse *resp, json_object *message,
			   const char *api_key)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_ERROR),
			 errmsg("Braze reported a failure"),
			 errdetail_internal("Message: %s",
								remote_text(json_object_get_string(message),
											json_object_get_string_len(message),
											api_key, REMOTE_TEXT_MAX_BYTES)),
			 segment_request_errcontext(resp->request->target)));
	pg_unreachable();
}

/*
 * The root of a successful body of any endpoint: an object whose "message"
 * is the string "success".  Raises an error otherwise.
 */
void
segment_check_success(const SegmentResponse *resp, json_object *root,
					  const char *api_key)
{
	json_object *message;

	if (!json_object_is_type(root, json_type_object))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Braze: the body is not a JSON object"),
				 segment_request_errcontext(resp->request->target)));
	if (!json_object_object_get_ex(root, "message", &message) ||
		!json_object_is_type(message, json_type_string))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Braze: no \"message\" string"),
				 segment_request_errcontext(resp->request->target)));
	if (strcmp(json_object_get_string(message), "success") != 0)
		report_failure(resp, message, api_key);
}

/*
 * The array "name" of a successful body's root ("data", "segments").
 * Raises an error when there is none, or it is not an array.
 */
json_object *
segment_array_member(const SegmentResponse *resp, json_object *root,
					 const char *name)
{
	json_object *member;

	if (!json_object_object_get_ex(root, name, &member))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Braze: no \"%s\"", name),
				 segment_request_errcontext(resp->request->target)));
	if (!json_object_is_type(member, json_type_array))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
				 errmsg("invalid response from Braze: \"%s\" is not an array", name),
				 segment_request_errcontext(resp->request->target)));
	return member;
}
