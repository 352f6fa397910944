/*-------------------------------------------------------------------------
 *
 * util.c
 *		  What every layer uses: days as the Braze API writes them, the
 *		  error context of a request, lists of types
 *
 * Days: the API's rows, its ending_at parameter, text time columns and
 * text conditions all use the one form, YYYY-MM-DD; both directions live
 * here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/elog.h"
#include "utils/datetime.h"
#include "utils/json.h"

#include "segment_util.h"

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
 * Format a day as YYYY-MM-DD, whatever the session's DateStyle.
 */
char *
segment_format_day(DateADT day)
{
	return JsonEncodeDateTime(NULL, DateADTGetDatum(day), DATEOID, NULL);
}

/*
 * An error context line naming a request by its target (path and query),
 * without host, headers or key.
 */
int
segment_request_errcontext(const char *target)
{
	return errcontext("Braze request GET %s", target);
}

/* The types a time column, or a condition on time, can have */
const Oid	segment_time_types[] = {DATEOID, TIMESTAMPOID, TIMESTAMPTZOID,
	TEXTOID, VARCHAROID, InvalidOid};

/*
 * Is "type" in the InvalidOid-terminated list "types"?
 */
bool
segment_type_in(Oid type, const Oid *types)
{
	for (; OidIsValid(*types); types++)
	{
		if (*types == type)
			return true;
	}
	return false;
}
