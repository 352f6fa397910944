/*-------------------------------------------------------------------------
 *
 * day.c
 *		  Days as the Braze API writes them, YYYY-MM-DD: read and written
 *
 * The API's rows, its ending_at parameter, text time columns and text
 * conditions all use the one form; both directions live here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/datetime.h"
#include "utils/json.h"

#include "segment_fdw.h"

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
