/*-------------------------------------------------------------------------
 *
 * option.c
 *		  Option validator of segment_fdw, and reading the options and the
 *		  column mapping of a foreign table
 *
 * The validator only checks syntax, ranges and privileges: it never
 * touches the network, so a dump restores whether or not Braze can be
 * reached.  What only a superuser may set (a url other than Braze's,
 * max_concurrency and max_response_bytes above their caps, ca_file,
 * proxy) is checked again when a server is used, against its owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/reloptions.h"
#include "access/table.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/rel.h"

#include "segment_http.h"
#include "segment_options.h"

/*
 * Describes a valid option: its name, the catalog of the object it may be
 * attached to, and where segment_get_options puts its value.  An integer
 * option has a range and a default; a string option has max 0.
 */
typedef struct SegmentFdwOption
{
	const char *optname;
	Oid			optcontext;
	int			offset;			/* in SegmentFdwOptions, or -1 */
	int			min;
	int			max;
	int			defval;
} SegmentFdwOption;

#define OPT(field) offsetof(SegmentFdwOptions, field)

static const SegmentFdwOption valid_options[] = {
	/* server */
	{"url", ForeignServerRelationId, OPT(url), 0, 0, 0},
	{"timeout_ms", ForeignServerRelationId, OPT(timeout_ms), 1, 3600000, 30000},
	{"connect_timeout_ms", ForeignServerRelationId, OPT(connect_timeout_ms), 1, 3600000, 10000},
	{"max_concurrency", ForeignServerRelationId, OPT(max_concurrency), 1, 64, 8},
	{"max_response_bytes", ForeignServerRelationId, OPT(max_response_bytes), 1024, INT_MAX, 8 * 1024 * 1024},
	{"max_retries", ForeignServerRelationId, OPT(max_retries), 0, 10, 3},
	{"max_retry_wait_ms", ForeignServerRelationId, OPT(max_retry_wait_ms), 0, 3600000, 60000},
	{"max_requests", ForeignServerRelationId, OPT(max_requests), 1, 1000000, 5000},
	{"ca_file", ForeignServerRelationId, OPT(ca_file), 0, 0, 0},
	{"proxy", ForeignServerRelationId, OPT(proxy), 0, 0, 0},
	{"max_total_concurrency", ForeignServerRelationId, OPT(max_total_concurrency), 1, 256, 16},
	{"rate_limit_reserve", ForeignServerRelationId, -1, 0, 0, 0},	/* read apart */
	{"cache_ttl", ForeignServerRelationId, -1, 0, 0, 0},	/* read apart */

	/* user mapping: the only place a secret may live */
	{"api_key", UserMappingRelationId, OPT(api_key), 0, 0, 0},

	/* foreign table */
	{"endpoint", ForeignTableRelationId, -1, 0, 0, 0},	/* read apart */
	{"segment_id", ForeignTableRelationId, OPT(segment_id), 0, 0, 0},
	{"default_days", ForeignTableRelationId, OPT(default_days), 1, SEGMENT_API_MAX_LENGTH, SEGMENT_API_MAX_LENGTH},

	/* column: read by segment_get_columns */
	{"column_name", AttributeRelationId, -1, 0, 0, 0},

	/* sentinel */
	{NULL, InvalidOid, -1, 0, 0, 0}
};

static const SegmentFdwOption *find_option(const char *name, Oid context);
static int	int_option_value(DefElem *def, const SegmentFdwOption *opt);
static void check_api_key(const char *value);
static SegmentField field_by_name(const char *name);
static const SegmentEndpoint *endpoint_of(List *options);
static int	unprivileged_max(const char *optname);
static void parse_reserve(const char *value, int64 *n, bool *percent);
static int64 parse_ttl(const char *value);
pg_noreturn static void report_unknown_option(DefElem *def, Oid catalog);
static void check_option_value(const SegmentFdwOption *opt, DefElem *def);
static void check_pinned_segment(List *options_list);

#define BRAZE_URLS_DETAIL \
	"Servers of other roles may use the REST endpoints of Braze: https://rest.<instance>.braze.com and https://rest.<instance>.braze.eu, such as https://rest.iad-01.braze.com."

/*
 * Raise the error of option "def", unknown to objects of catalog
 * "catalog", with the list of the options they may have.
 */
static void
report_unknown_option(DefElem *def, Oid catalog)
{
	StringInfoData buf;
	const SegmentFdwOption *o;

	initStringInfo(&buf);
	for (o = valid_options; o->optname; o++)
	{
		if (o->optcontext == catalog)
			appendStringInfo(&buf, "%s%s", (buf.len > 0) ? ", " : "",
							 o->optname);
	}

	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid option \"%s\"", def->defname),
			 buf.len > 0
			 ? errhint("Valid options in this context are: %s",
					   buf.data)
			 : errhint("There are no valid options in this context.")));
}

/*
 * Check the value of option "def", described by "opt": its range, its
 * form, and whether the current role may set it.
 */
static void
check_option_value(const SegmentFdwOption *opt, DefElem *def)
{
	char	   *value = defGetString(def);

	if (opt->max > 0)
	{
		int			v = int_option_value(def, opt);
		int			limit = unprivileged_max(opt->optname);

		/* memory for the bodies in flight: see segment_fdw.h */
		if (v > limit && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers can set option \"%s\" above %d",
							opt->optname, limit)));
	}
	else if (strcmp(opt->optname, "url") == 0)
	{
		char	   *detail = NULL;

		if (!segment_check_url(value, &detail))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"url\": \"%s\"",
							value),
					 errdetail("%s", detail),
					 errhint("Use the REST endpoint of your Braze instance, such as https://rest.iad-01.braze.com.")));
		/* any other host (loopback, internal services) is a superuser's call */
		if (!superuser() && !segment_url_is_allowed(value))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers can set option \"url\" to a URL other than a Braze REST endpoint"),
					 errdetail(BRAZE_URLS_DETAIL),
					 errhint("A superuser can allow more URLs with the setting segment_fdw.allowed_urls.")));
	}
	else if (strcmp(opt->optname, "api_key") == 0)
		check_api_key(value);
	else if (strcmp(opt->optname, "rate_limit_reserve") == 0)
	{
		int64		n;
		bool		percent;

		parse_reserve(value, &n, &percent);
	}
	else if (strcmp(opt->optname, "cache_ttl") == 0)
		(void) parse_ttl(value);
	else if (strcmp(opt->optname, "ca_file") == 0)
	{
		/* it makes the backend read a file of the server's machine */
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers can set option \"ca_file\"")));
		if (!is_absolute_path(value))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"ca_file\" must be an absolute path")));
	}
	else if (strcmp(opt->optname, "proxy") == 0)
	{
		char	   *detail = NULL;

		/* it decides where requests, and their keys, go */
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only superusers can set option \"proxy\"")));
		/* the message does not repeat a value that may hold a password */
		if (!segment_check_proxy(value, &detail))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"proxy\""),
					 errdetail("%s", detail),
					 errhint("Write the proxy as a URL, such as http://proxy.example.com:3128.")));
	}
	else if (strcmp(opt->optname, "segment_id") == 0)
	{
		if (value[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"segment_id\" must not be empty")));
	}
	else if (strcmp(opt->optname, "endpoint") == 0)
	{
		if (segment_endpoint_by_name(value) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"endpoint\": \"%s\"",
							value),
					 errhint("Valid values are data_series (the default), list and details.")));
	}
	else if (strcmp(opt->optname, "column_name") == 0)
	{
		if (field_by_name(value) == SEGMENT_NUM_FIELDS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"column_name\": \"%s\"",
							value),
					 errhint("Valid names are segment_id, time, size, length and ending_at (endpoint data_series); id, name, analytics_tracking_enabled and tags (list); segment_id, name, description, text_description, created_at, updated_at, tags and teams (details).")));
	}
}

/*
 * A list table reads every segment: it cannot be pinned to one.
 */
static void
check_pinned_segment(List *options_list)
{
	const SegmentEndpoint *endpoint = endpoint_of(options_list);
	ListCell   *cell;

	foreach(cell, options_list)
	{
		DefElem    *def = (DefElem *) lfirst(cell);

		if (strcmp(def->defname, "segment_id") == 0 &&
			!segment_endpoint_has_field(endpoint, SEGMENT_FIELD_SEGMENT_ID))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"segment_id\" cannot be used with endpoint \"%s\"",
							endpoint->name),
					 errdetail("GET %s takes no segment.", endpoint->path)));
	}
}

PG_FUNCTION_INFO_V1(segment_fdw_validator);

/*
 * Validate the generic options given to a FOREIGN DATA WRAPPER, SERVER,
 * USER MAPPING or FOREIGN TABLE that uses segment_fdw.
 *
 * Raise an ERROR if an option or its value is invalid.  Required options
 * (url, api_key) are checked when a table is queried, since ALTER ... OPTIONS
 * (DROP ...) passes through here too.
 */
Datum
segment_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options_list = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *cell;

	foreach(cell, options_list)
	{
		DefElem    *def = (DefElem *) lfirst(cell);
		const SegmentFdwOption *opt = find_option(def->defname, catalog);

		if (opt == NULL)
			report_unknown_option(def, catalog);
		check_option_value(opt, def);
	}
	if (catalog == ForeignTableRelationId)
		check_pinned_segment(options_list);

	PG_RETURN_VOID();
}

/*
 * Return the option named "name" valid for catalog "context", or NULL.
 */
static const SegmentFdwOption *
find_option(const char *name, Oid context)
{
	const SegmentFdwOption *opt;

	for (opt = valid_options; opt->optname; opt++)
	{
		if (opt->optcontext == context && strcmp(opt->optname, name) == 0)
			return opt;
	}
	return NULL;
}

/*
 * Parse an integer option, raising an error naming the option and its range
 * if the value is not an integer within it.
 */
static int
int_option_value(DefElem *def, const SegmentFdwOption *opt)
{
	const char *value = defGetString(def);
	char	   *end;
	long		result;

	/* decimal digits only: no sign, space, hex, fraction, exponent or unit */
	errno = 0;
	result = strtol(value, &end, 10);
	if (!isdigit((unsigned char) value[0]) || *end != '\0' || errno == ERANGE ||
		result < opt->min || result > opt->max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"",
						opt->optname, value),
				 errdetail("Valid values are integers between %d and %d.",
						   opt->min, opt->max)));
	return (int) result;
}

/*
 * Parse rate_limit_reserve: a number of requests (0 to 1000000000), or a
 * percentage of X-RateLimit-Limit written with %, 0% to 100%.
 */
static void
parse_reserve(const char *value, int64 *n, bool *percent)
{
	size_t		len = strlen(value);
	char	   *end;

	*percent = len > 0 && value[len - 1] == '%';
	errno = 0;
	*n = strtoll(value, &end, 10);
	if (!isdigit((unsigned char) value[0]) || errno == ERANGE ||
		end != value + len - (*percent ? 1 : 0) ||
		*n > (*percent ? 100 : 1000000000))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"rate_limit_reserve\": \"%s\"",
						value),
				 errdetail("Valid values are a number of requests between 0 and 1000000000, or a percentage of X-RateLimit-Limit between 0%% and 100%%, such as 10%%.")));
}

/*
 * Parse cache_ttl, an interval of at least 0 (0 turns the cache off), into
 * milliseconds; a month counts 30 days.
 */
#define TTL_MAX_DAYS ((int64) 36525)

static int64
parse_ttl(const char *value)
{
	Interval   *iv;
	int64		us;

	iv = DatumGetIntervalP(DirectFunctionCall3(interval_in,
											   CStringGetDatum(value),
											   ObjectIdGetDatum(InvalidOid),
											   Int32GetDatum(-1)));
	/* each part within 100 years first, so that the sum cannot overflow */
	if (iv->time < 0 || iv->day < 0 || iv->month < 0 ||
		iv->time > TTL_MAX_DAYS * USECS_PER_DAY || iv->day > TTL_MAX_DAYS ||
		iv->month > TTL_MAX_DAYS / DAYS_PER_MONTH ||
		(us = iv->time + (int64) iv->day * USECS_PER_DAY +
		 (int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY) >
		TTL_MAX_DAYS * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"cache_ttl\": \"%s\"", value),
				 errdetail("Valid values are intervals from 0 (no cache) to 100 years, such as '1 day'.")));
	return us / 1000;
}

/*
 * The requests rate_limit_reserve leaves to others, for a workspace whose
 * X-RateLimit-Limit is "limit".
 */
int64
segment_reserve_of(const SegmentFdwOptions *opts, int64 limit)
{
	if (opts->reserve_is_percent)
		return (limit * opts->rate_limit_reserve + 99) / 100;
	return opts->rate_limit_reserve;
}

/*
 * The largest value a role other than a superuser may give an integer
 * option (INT_MAX: no limit of its own).
 */
static int
unprivileged_max(const char *optname)
{
	if (strcmp(optname, "max_concurrency") == 0)
		return SEGMENT_UNPRIVILEGED_MAX_CONCURRENCY;
	if (strcmp(optname, "max_response_bytes") == 0)
		return SEGMENT_UNPRIVILEGED_MAX_RESPONSE_BYTES;
	if (strcmp(optname, "max_total_concurrency") == 0)
		return SEGMENT_UNPRIVILEGED_MAX_TOTAL_CONCURRENCY;
	return INT_MAX;
}

/*
 * A server whose owner is not a superuser (it may have been created by one,
 * then given away with ALTER SERVER ... OWNER TO, or the url may have been
 * allowed by segment_fdw.allowed_urls, which has changed since) may use
 * only what its owner could set now: check it at each use.
 */
static void
check_server_owner(ForeignServer *server, const SegmentFdwOptions *opts)
{
	if (superuser_arg(server->owner))
		return;

	if (!segment_url_is_allowed(opts->url))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("server \"%s\" may not use its url, because its owner is not a superuser",
						server->servername),
				 errdetail(BRAZE_URLS_DETAIL),
				 errhint("Have a superuser own the server, or allow its url with the setting segment_fdw.allowed_urls.")));
	/* a superuser's alone to set: the file read, and where requests go */
	if (opts->ca_file != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("server \"%s\" may not use option \"ca_file\", because its owner is not a superuser",
						server->servername),
				 errhint("Have a superuser own the server, or drop the option.")));
	if (opts->proxy != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("server \"%s\" may not use option \"proxy\", because its owner is not a superuser",
						server->servername),
				 errhint("Have a superuser own the server, or drop the option.")));
	if (opts->max_concurrency > SEGMENT_UNPRIVILEGED_MAX_CONCURRENCY)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("server \"%s\" may not set option \"max_concurrency\" above %d, because its owner is not a superuser",
						server->servername, SEGMENT_UNPRIVILEGED_MAX_CONCURRENCY)));
	if (opts->max_total_concurrency > SEGMENT_UNPRIVILEGED_MAX_TOTAL_CONCURRENCY)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("server \"%s\" may not set option \"max_total_concurrency\" above %d, because its owner is not a superuser",
						server->servername, SEGMENT_UNPRIVILEGED_MAX_TOTAL_CONCURRENCY)));
	if (opts->max_response_bytes > SEGMENT_UNPRIVILEGED_MAX_RESPONSE_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("server \"%s\" may not set option \"max_response_bytes\" above %d, because its owner is not a superuser",
						server->servername, SEGMENT_UNPRIVILEGED_MAX_RESPONSE_BYTES)));
}

/*
 * An API key goes into an HTTP header: refuse anything that could break
 * out of it (CR, LF, other control characters) or that is not a token.
 * The key itself is never repeated in the message.
 */
static void
check_api_key(const char *value)
{
	const char *p;

	if (value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"api_key\" must not be empty")));

	for (p = value; *p; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\'')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid value for option \"api_key\""),
					 errdetail("The key may contain only printable ASCII characters, without spaces, quotes or line breaks."),
					 errhint("Paste the REST API key exactly as the Braze dashboard shows it.")));
	}
}

/*
 * Read the options of a foreign table, its server and, when userid is
 * valid, that user's mapping, applying defaults.  Values were checked by
 * the validator when they were set.
 */
void
segment_get_options(Oid foreigntableid, Oid userid, SegmentFdwOptions *opts)
{
	ForeignTable *table = GetForeignTable(foreigntableid);
	ForeignServer *server = GetForeignServer(table->serverid);
	List	   *options = NIL;
	ListCell   *lc;
	const SegmentFdwOption *opt;

	memset(opts, 0, sizeof(*opts));
	for (opt = valid_options; opt->optname; opt++)
	{
		if (opt->max > 0)
			*(int *) ((char *) opts + opt->offset) = opt->defval;
	}

	opts->serverid = server->serverid;
	opts->rate_limit_reserve = 0;
	opts->reserve_is_percent = false;
	opts->cache_ttl_ms = (int64) SECS_PER_DAY * 1000;
	foreach(lc, server->options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		if (strcmp(def->defname, "rate_limit_reserve") == 0)
			parse_reserve(defGetString(def), &opts->rate_limit_reserve,
						  &opts->reserve_is_percent);
		else if (strcmp(def->defname, "cache_ttl") == 0)
			opts->cache_ttl_ms = parse_ttl(defGetString(def));
	}

	options = list_concat(options, server->options);
	options = list_concat(options, table->options);
	if (OidIsValid(userid))
		options = list_concat(options,
							  GetUserMapping(userid, server->serverid)->options);

	/* each object's validator admitted only its own options */
	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		for (opt = valid_options; opt->optname; opt++)
		{
			if (opt->offset >= 0 && strcmp(opt->optname, def->defname) == 0)
				break;
		}
		if (opt->optname == NULL)
			continue;
		if (opt->max > 0)
			*(int *) ((char *) opts + opt->offset) = int_option_value(def, opt);
		else
			*(char **) ((char *) opts + opt->offset) = defGetString(def);
	}

	opts->endpoint = endpoint_of(table->options) - segment_endpoints;

	if (opts->url == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("server \"%s\" has no \"url\" option", server->servername),
				 errhint("Set it with ALTER SERVER %s OPTIONS (ADD url 'https://rest.iad-01.braze.com').",
						 quote_identifier(server->servername))));

	check_server_owner(server, opts);
}

/*
 * The endpoint a foreign table's options name (data_series by default).
 * The validator checked the value.
 */
static const SegmentEndpoint *
endpoint_of(List *options)
{
	const SegmentEndpoint *endpoint = &segment_endpoints[SEGMENT_ENDPOINT_DATA_SERIES];
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = (DefElem *) lfirst(lc);

		const SegmentEndpoint *named;

		if (strcmp(def->defname, "endpoint") == 0 &&
			(named = segment_endpoint_by_name(defGetString(def))) != NULL)
			endpoint = named;
	}
	return endpoint;
}

/*
 * Return the field called "name", or SEGMENT_NUM_FIELDS if there is none.
 */
static SegmentField
field_by_name(const char *name)
{
	int			i;

	for (i = 0; i < SEGMENT_NUM_FIELDS; i++)
	{
		if (strcmp(segment_field_names[i], name) == 0)
			return (SegmentField) i;
	}
	return SEGMENT_NUM_FIELDS;
}

/*
 * Is "typid" a type a column of "field" may have?  (For tags and teams,
 * the column's own type: its values are built as text[].)
 */
static bool
field_accepts_type(SegmentField field, Oid typid)
{
	switch (field)
	{
		case SEGMENT_FIELD_SEGMENT_ID:
		case SEGMENT_FIELD_ID:
		case SEGMENT_FIELD_NAME:
		case SEGMENT_FIELD_DESCRIPTION:
		case SEGMENT_FIELD_TEXT_DESCRIPTION:
			return typid == TEXTOID || typid == VARCHAROID;
		case SEGMENT_FIELD_ANALYTICS_TRACKING_ENABLED:
			return typid == BOOLOID;
		case SEGMENT_FIELD_CREATED_AT:
		case SEGMENT_FIELD_UPDATED_AT:
			return typid == TIMESTAMPTZOID;
		case SEGMENT_FIELD_TAGS:
		case SEGMENT_FIELD_TEAMS:
			return typid == TEXTARRAYOID;
		case SEGMENT_FIELD_TIME:
			/* a day of the column is also a bound of a condition on it */
			return segment_type_in(typid, segment_time_types);
		case SEGMENT_FIELD_SIZE:
			return typid == INT2OID || typid == INT4OID ||
				typid == INT8OID || typid == NUMERICOID;
		case SEGMENT_FIELD_LENGTH:
			return typid == INT2OID || typid == INT4OID || typid == INT8OID;
		case SEGMENT_FIELD_ENDING_AT:
			return typid == TIMESTAMPTZOID;
		default:
			return false;
	}
}

/*
 * Map the columns of a foreign table onto the fields of its endpoint, by
 * the column_name option or else the column's own name.  A column that maps
 * to no field of the endpoint, two columns that map to the same field, or a
 * column of a type the field cannot have are reported here, when the table
 * is queried.
 */
void
segment_get_columns(Oid foreigntableid, const SegmentEndpoint *endpoint,
					SegmentColumns *cols)
{
	Relation	rel = table_open(foreigntableid, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(rel);
	int			i;

	memset(cols, 0, sizeof(*cols));

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);
		const char *name = NameStr(attr->attname);
		SegmentField field;
		Oid			basetype;
		ListCell   *lc;

		if (attr->attisdropped)
			continue;

		foreach(lc, GetForeignColumnOptions(foreigntableid, attr->attnum))
		{
			DefElem    *def = (DefElem *) lfirst(lc);

			if (strcmp(def->defname, "column_name") == 0)
				name = defGetString(def);
		}

		field = field_by_name(name);
		if (field == SEGMENT_NUM_FIELDS ||
			!segment_endpoint_has_field(endpoint, field))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_COLUMN_NAME),
					 errmsg("column \"%s\" of foreign table \"%s\" maps to no field of the Braze API",
							NameStr(attr->attname), RelationGetRelationName(rel)),
					 endpoint - segment_endpoints == SEGMENT_ENDPOINT_DATA_SERIES ?
					 errhint("Valid names are %s; use the column option column_name to map a column of another name.",
							 endpoint->field_list) :
					 errhint("Valid names for endpoint %s are %s; use the column option column_name to map a column of another name.",
							 endpoint->name, endpoint->field_list)));

		if (cols->attnum[field] != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_COLUMN_NAME),
					 errmsg("columns \"%s\" and \"%s\" of foreign table \"%s\" both map to \"%s\"",
							NameStr(TupleDescAttr(tupdesc, cols->attnum[field] - 1)->attname),
							NameStr(attr->attname),
							RelationGetRelationName(rel), segment_field_names[field])));

		basetype = (field == SEGMENT_FIELD_TAGS || field == SEGMENT_FIELD_TEAMS) ?
			attr->atttypid : getBaseType(attr->atttypid);
		if (!field_accepts_type(field, basetype))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_DATA_TYPE),
					 errmsg("column \"%s\" of foreign table \"%s\" has type %s, which cannot hold \"%s\"",
							NameStr(attr->attname), RelationGetRelationName(rel),
							format_type_be(attr->atttypid), segment_field_names[field]),
					 errhint("%s", endpoint->type_hint)));

		cols->attnum[field] = attr->attnum;
		cols->typid[field] = attr->atttypid;
	}

	table_close(rel, AccessShareLock);
}
