/*-------------------------------------------------------------------------
 *
 * request.c
 *		  Turning a scan's conditions into the HTTP requests it sends
 *
 * The planner finds conditions on segment_id, time, length and ending_at
 * whose other side can be computed before the scan starts (constants,
 * parameters, stable expressions, the outer side of a nested loop).  When
 * the scan starts, their values give the segments and the day range, and
 * the range is cut into windows the API accepts.
 *
 * Every condition also stays a local filter, so the rows returned are
 * exactly those asked for, whatever the API does at its boundaries: this
 * file only has to fetch a superset of them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "segment_http.h"
#include "segment_request.h"

/* A range of days, inclusive; DATEVAL_NOBEGIN / NOEND when unbounded */
typedef struct DayRange
{
	DateADT		lo;
	DateADT		hi;
	bool		empty;
} DayRange;

/* What the values of a run's conditions say, before requests are made */
typedef struct PlanValues
{
	List	   *segments;		/* each once, in the order first given */
	bool		constrained;	/* a segment condition or a pinned segment */
	DayRange	range;
	bool		parameter_mode; /* a length or ending_at condition */
	bool		have_length;
	int64		length;
	bool		have_ending_at;
	Datum		ending_at_value;
	SegmentWindow *ranges;		/* the days of time = ANY lists and ORs of
								 * time conditions: sorted, disjoint */
	int			nranges;		/* -1: no such condition, every day of range */
} PlanValues;

static SegmentField column_field(RelOptInfo *baserel,
								 const SegmentColumns *cols, Node *node);
static CompareType btree_cmptype(Oid opno, Oid coltype, Oid inputcollid,
								 bool need_deterministic);
static bool or_cond_is_pushable(PlannerInfo *root, RelOptInfo *baserel,
								const SegmentColumns *cols, BoolExpr *clause,
								SegmentCond *cond);
static bool is_scan_constant(PlannerInfo *root, RelOptInfo *baserel,
							 Expr *expr);
static bool bound_to_day(Datum value, Oid type, DateADT *day);
static void apply_time_bound(DayRange *range, SegmentCondKind kind,
							 Datum value, Oid type, bool isnull,
							 Oid column_type);
static void apply_time_any(DayRange *range, Datum value, bool isnull,
						   Oid column_type);
static void apply_time_cond(DayRange *range, SegmentCondKind kind,
							Datum value, Oid type, bool isnull,
							Oid column_type);
static int	array_elements(Datum value, Oid *elemtype, Datum **elems,
						   bool **nulls);
static void finish_range(DayRange *range, int default_days);
static List *add_segments(List *segments, bool *constrained,
						  const SegmentCondValue *val, int id_max_chars);
static void gather_values(const SegmentFdwOptions *opts, Oid time_type,
						  int id_max_chars, const SegmentCondValue *vals,
						  int nvals, PlanValues *in);
static void emit_requests(SegmentRequestList *list, const SegmentFdwOptions *opts,
						  PlanValues *in);
static void refuse_unsendable(SegmentRequestList *list, const PlanValues *in);
pg_noreturn static void refuse_requests(const char *relname, int64 needed,
										int max_requests, const char *detail,
										const char *hint);
static void narrow_to_ranges(DayRange *range, const SegmentWindow *ranges,
							 int n);

/*
 * Return the field whose column "node" is (a Var of baserel, maybe under a
 * binary-compatible cast), or SEGMENT_NUM_FIELDS.
 */
static SegmentField
column_field(RelOptInfo *baserel, const SegmentColumns *cols, Node *node)
{
	Var		   *var;
	int			field;

	if (node && IsA(node, RelabelType))
		node = (Node *) ((RelabelType *) node)->arg;
	if (node == NULL || !IsA(node, Var))
		return SEGMENT_NUM_FIELDS;

	var = (Var *) node;
	if (var->varno != baserel->relid || var->varlevelsup != 0)
		return SEGMENT_NUM_FIELDS;

	for (field = 0; field < SEGMENT_NUM_FIELDS; field++)
	{
		if (cols->attnum[field] != 0 && cols->attnum[field] == var->varattno)
			return (SegmentField) field;
	}
	return SEGMENT_NUM_FIELDS;
}

/*
 * The comparison operator "opno" makes in the default btree operator family
 * of the column's type, or COMPARE_INVALID if it is not a member.
 * Equality on segment_id must also compare bytes, so a nondeterministic
 * collation is refused there.
 */
static CompareType
btree_cmptype(Oid opno, Oid coltype, Oid inputcollid, bool need_deterministic)
{
	/* the type cache knows the default btree family, without a catalog scan */
	TypeCacheEntry *typentry = lookup_type_cache(coltype,
												 TYPECACHE_BTREE_OPFAMILY);
	ListCell   *lc;

	if (!OidIsValid(typentry->btree_opf))
		return COMPARE_INVALID;

	if (need_deterministic && OidIsValid(inputcollid) &&
		!get_collation_isdeterministic(inputcollid))
		return COMPARE_INVALID;

	foreach(lc, get_op_index_interpretation(opno))
	{
		OpIndexInterpretation *interp = (OpIndexInterpretation *) lfirst(lc);

		if (interp->opfamily_id == typentry->btree_opf)
			return interp->cmptype;
	}
	return COMPARE_INVALID;
}

/*
 * Can "expr" be computed when the scan starts: it references no column of
 * this table and calls nothing volatile.
 */
static bool
is_scan_constant(PlannerInfo *root, RelOptInfo *baserel, Expr *expr)
{
	Relids		varnos = pull_varnos(root, (Node *) expr);

	return !bms_is_member(baserel->relid, varnos) &&
		!contain_volatile_functions((Node *) expr);
}

/*
 * The conditions a scan can turn into requests, each described once: the
 * field it is on, the comparison ("= ANY (array)" for IN lists too), the
 * types its value (or array element) may have, and its EXPLAIN label.
 * Indexed by SegmentCondKind.
 */
static const Oid text_types[] = {TEXTOID, VARCHAROID, InvalidOid};
static const Oid integer_types[] = {INT2OID, INT4OID, INT8OID, InvalidOid};
static const Oid timestamptz_types[] = {TIMESTAMPTZOID, InvalidOid};

const SegmentCondDesc segment_conds[SEGMENT_NUM_CONDS] = {
	/* text_ops also compares text with name: values must be text */
	[SEGMENT_COND_SEGMENT_EQ] = {SEGMENT_FIELD_SEGMENT_ID, COMPARE_EQ, false, text_types, "segment_id = ", ""},
	[SEGMENT_COND_SEGMENT_ANY] = {SEGMENT_FIELD_SEGMENT_ID, COMPARE_EQ, true, text_types, "segment_id = ANY (", ")"},
	[SEGMENT_COND_TIME_LT] = {SEGMENT_FIELD_TIME, COMPARE_LT, false, segment_time_types, "time < ", ""},
	[SEGMENT_COND_TIME_LE] = {SEGMENT_FIELD_TIME, COMPARE_LE, false, segment_time_types, "time <= ", ""},
	[SEGMENT_COND_TIME_EQ] = {SEGMENT_FIELD_TIME, COMPARE_EQ, false, segment_time_types, "time = ", ""},
	[SEGMENT_COND_TIME_GE] = {SEGMENT_FIELD_TIME, COMPARE_GE, false, segment_time_types, "time >= ", ""},
	[SEGMENT_COND_TIME_GT] = {SEGMENT_FIELD_TIME, COMPARE_GT, false, segment_time_types, "time > ", ""},
	[SEGMENT_COND_TIME_ANY] = {SEGMENT_FIELD_TIME, COMPARE_EQ, true, segment_time_types, "time = ANY (", ")"},
	[SEGMENT_COND_LENGTH_EQ] = {SEGMENT_FIELD_LENGTH, COMPARE_EQ, false, integer_types, "length = ", ""},
	[SEGMENT_COND_ENDING_AT_EQ] = {SEGMENT_FIELD_ENDING_AT, COMPARE_EQ, false, timestamptz_types, "ending_at = ", ""},
	/* recognized apart, not by operator: a NULL value, which matches no day */
	[SEGMENT_COND_TIME_NULL] = {SEGMENT_FIELD_TIME, COMPARE_INVALID, false, NULL, "time IS NULL", ""},
	/* made of the conditions above (or_cond_is_pushable) */
	[SEGMENT_COND_TIME_OR] = {SEGMENT_FIELD_TIME, COMPARE_INVALID, false, NULL, "time ranges: ", ""},
};

/*
 * Is "kind" a condition on time that narrows the days by itself?
 */
static bool
cond_is_time_bound(SegmentCondKind kind)
{
	return segment_conds[kind].field == SEGMENT_FIELD_TIME &&
		kind != SEGMENT_COND_TIME_OR;
}

/*
 * An OR of conditions on time, such as BETWEEN SYMMETRIC, "time = a OR
 * time = b", or "(time BETWEEN a AND b) OR (time BETWEEN c AND d)": the
 * days it allows are the union of its branches' ranges.  Each branch (one
 * condition, or an AND of several) must hold a time condition the scan
 * can use, or the OR bounds nothing and is only a filter.  Conditions of a
 * branch that are not such (on size, say) are left out of its range, which
 * can then only be larger.  The conditions used become "cond"'s leaves,
 * each with the number of its branch.
 */
static bool
or_cond_is_pushable(PlannerInfo *root, RelOptInfo *baserel,
					const SegmentColumns *cols, BoolExpr *clause,
					SegmentCond *cond)
{
	List	   *leaves = NIL;
	int			branch = 0;
	ListCell   *lc;

	foreach(lc, clause->args)
	{
		Expr	   *arm = (Expr *) lfirst(lc);
		List	   *conjuncts = is_andclause(arm) ?
			((BoolExpr *) arm)->args : list_make1(arm);
		bool		bounded = false;
		ListCell   *lc2;

		foreach(lc2, conjuncts)
		{
			SegmentCond leaf;
			SegmentCond *copy;

			if (!segment_cond_is_pushable(root, baserel, cols,
										  (Expr *) lfirst(lc2), &leaf) ||
				!cond_is_time_bound(leaf.kind))
				continue;
			copy = palloc(sizeof(SegmentCond));
			*copy = leaf;
			copy->branch = branch;
			leaves = lappend(leaves, copy);
			bounded = true;
		}
		if (!bounded)
			return false;
		branch++;
	}
	cond->kind = SEGMENT_COND_TIME_OR;
	cond->expr = (Expr *) clause;
	cond->leaves = leaves;
	return true;
}

/*
 * If "clause" is a condition this FDW can use to choose its requests, fill
 * in "cond" and return true.
 *
 * Recognized: "column op expr" and "expr op column" with op a btree
 * comparison of the column's type, and "column = ANY (array expr)" (which
 * is also what IN (...) becomes), where expr does not depend on this
 * table's row, and the three make one of segment_conds; "time IS NULL";
 * and an OR of such conditions on time (or_cond_is_pushable).
 */
bool
segment_cond_is_pushable(PlannerInfo *root, RelOptInfo *baserel,
						 const SegmentColumns *cols, Expr *clause,
						 SegmentCond *cond)
{
	SegmentField field;
	Expr	   *other;
	Oid			opno;
	Oid			collid;
	Oid			valtype;
	bool		any;
	bool		commuted = false;
	CompareType cmptype;
	int			kind;

	memset(cond, 0, sizeof(SegmentCond));
	if (is_orclause(clause))
		return or_cond_is_pushable(root, baserel, cols, (BoolExpr *) clause,
								   cond);
	if (IsA(clause, NullTest) &&
		((NullTest *) clause)->nulltesttype == IS_NULL &&
		!((NullTest *) clause)->argisrow &&
		column_field(baserel, cols,
					 (Node *) ((NullTest *) clause)->arg) == SEGMENT_FIELD_TIME)
	{
		/* every row has a day: none can match, and nothing is asked */
		Oid			type = cols->typid[SEGMENT_FIELD_TIME];

		cond->kind = SEGMENT_COND_TIME_NULL;
		cond->expr = (Expr *) makeNullConst(type, -1, get_typcollation(type));
		return true;
	}
	if (IsA(clause, OpExpr) && list_length(((OpExpr *) clause)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) clause;

		field = column_field(baserel, cols, linitial(op->args));
		other = (Expr *) lsecond(op->args);
		if (field == SEGMENT_NUM_FIELDS)
		{
			field = column_field(baserel, cols, lsecond(op->args));
			other = (Expr *) linitial(op->args);
			commuted = true;
		}
		opno = op->opno;
		collid = op->inputcollid;
		any = false;
		valtype = exprType((Node *) other);
	}
	else if (IsA(clause, ScalarArrayOpExpr) && ((ScalarArrayOpExpr *) clause)->useOr)
	{
		ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) clause;

		field = column_field(baserel, cols, linitial(saop->args));
		other = (Expr *) lsecond(saop->args);
		opno = saop->opno;
		collid = saop->inputcollid;
		any = true;
		valtype = get_element_type(exprType((Node *) other));
	}
	else
		return false;

	if (field == SEGMENT_NUM_FIELDS || !is_scan_constant(root, baserel, other))
		return false;

	/* equality on segment_id must also compare bytes */
	cmptype = btree_cmptype(opno, cols->typid[field], collid,
							field == SEGMENT_FIELD_SEGMENT_ID);
	if (commuted)
	{
		/* "expr < column" is "column > expr" */
		if (cmptype == COMPARE_LT)
			cmptype = COMPARE_GT;
		else if (cmptype == COMPARE_LE)
			cmptype = COMPARE_GE;
		else if (cmptype == COMPARE_GT)
			cmptype = COMPARE_LT;
		else if (cmptype == COMPARE_GE)
			cmptype = COMPARE_LE;
	}

	for (kind = 0; kind < SEGMENT_NUM_CONDS; kind++)
	{
		const SegmentCondDesc *desc = &segment_conds[kind];

		if (desc->types != NULL && desc->field == field &&
			desc->cmptype == cmptype && desc->any == any &&
			segment_type_in(valtype, desc->types))
		{
			cond->kind = (SegmentCondKind) kind;
			cond->expr = other;
			return true;
		}
	}
	return false;
}

/*
 * Is "kind" a condition on segment_id?
 */
bool
segment_cond_is_segment(SegmentCondKind kind)
{
	return kind == SEGMENT_COND_SEGMENT_EQ || kind == SEGMENT_COND_SEGMENT_ANY;
}

/*
 * Is "kind" a condition on a request parameter column?
 */
static bool
cond_is_parameter(SegmentCondKind kind)
{
	return kind == SEGMENT_COND_LENGTH_EQ || kind == SEGMENT_COND_ENDING_AT_EQ;
}

/*
 * The elements of array "value": their count, type, values and NULL flags.
 */
static int
array_elements(Datum value, Oid *elemtype, Datum **elems, bool **nulls)
{
	ArrayType  *array = DatumGetArrayTypeP(value);
	int16		elmlen;
	bool		elmbyval;
	char		elmalign;
	int			nelems;

	*elemtype = ARR_ELEMTYPE(array);
	get_typlenbyvalalign(*elemtype, &elmlen, &elmbyval, &elmalign);
	deconstruct_array(array, *elemtype, elmlen, elmbyval, elmalign,
					  elems, nulls, &nelems);
	return nelems;
}

/*
 * Turn the value of a time bound into a day.  A value that cannot be read
 * as a day (a text that is not YYYY-MM-DD) returns false: the condition is
 * then only a local filter.  Infinite values map to DATEVAL_NOBEGIN/NOEND.
 */
static bool
bound_to_day(Datum value, Oid type, DateADT *day)
{
	switch (type)
	{
		case DATEOID:
			*day = DatumGetDateADT(value);
			return true;
		case TIMESTAMPOID:
			if (TIMESTAMP_IS_NOBEGIN(DatumGetTimestamp(value)))
				*day = DATEVAL_NOBEGIN;
			else if (TIMESTAMP_IS_NOEND(DatumGetTimestamp(value)))
				*day = DATEVAL_NOEND;
			else
				*day = DatumGetDateADT(DirectFunctionCall1(timestamp_date,
														   value));
			return true;
		case TIMESTAMPTZOID:
			if (TIMESTAMP_IS_NOBEGIN(DatumGetTimestampTz(value)))
				*day = DATEVAL_NOBEGIN;
			else if (TIMESTAMP_IS_NOEND(DatumGetTimestampTz(value)))
				*day = DATEVAL_NOEND;
			else
				*day = DatumGetDateADT(DirectFunctionCall1(timestamptz_date,
														   value));
			return true;
		case TEXTOID:
		case VARCHAROID:
			return segment_parse_day(TextDatumGetCString(value), day);
		default:
			return false;
	}
}

/*
 * Narrow "range" by one time condition on a column of type "column_type"
 * (InvalidOid for an estimate).  The range only has to contain every day
 * that can satisfy the condition: a bound that is not at midnight
 * (timestamp values) keeps its whole day.
 *
 * When the column or the bound is a timestamptz, days and timestamps are
 * converted in the session's time zone (a day's row is its midnight there),
 * and where a daylight-saving change skips the end of a day, or a zone
 * skipped a whole day (Pacific/Apia, 2011-12-30), that moves a value into
 * the next day.  Such a bound keeps one more day on its side.
 */
static void
apply_time_bound(DayRange *range, SegmentCondKind kind, Datum value, Oid type,
				 bool isnull, Oid column_type)
{
	DateADT		day;
	bool		exact_day = (type != TIMESTAMPOID && type != TIMESTAMPTZOID);
	int			slack = (OidIsValid(column_type) &&
						 (type == TIMESTAMPTZOID || column_type == TIMESTAMPTZOID)) ? 1 : 0;
	bool		is_lower = (kind == SEGMENT_COND_TIME_GT ||
							kind == SEGMENT_COND_TIME_GE ||
							kind == SEGMENT_COND_TIME_EQ);
	bool		is_upper = (kind == SEGMENT_COND_TIME_LT ||
							kind == SEGMENT_COND_TIME_LE ||
							kind == SEGMENT_COND_TIME_EQ);

	if (isnull)
	{
		/* a comparison with NULL is never true */
		range->empty = true;
		return;
	}
	if (!bound_to_day(value, type, &day))
		return;

	if (DATE_IS_NOBEGIN(day))
	{
		if (is_upper)
			range->empty = true;	/* time < -infinity */
		return;
	}
	if (DATE_IS_NOEND(day))
	{
		if (is_lower)
			range->empty = true;	/* time > infinity */
		return;
	}

	if (is_lower)
	{
		DateADT		lo = day;

		if (kind == SEGMENT_COND_TIME_GT && exact_day)
			lo = day + 1;
		lo -= slack;
		if (DATE_IS_NOBEGIN(range->lo) || lo > range->lo)
			range->lo = lo;
	}
	if (is_upper)
	{
		DateADT		hi = day;

		if (kind == SEGMENT_COND_TIME_LT && exact_day)
			hi = day - 1;
		hi += slack;
		if (DATE_IS_NOEND(range->hi) || hi < range->hi)
			range->hi = hi;
	}
}

/*
 * Narrow "range" by "time = ANY (array)": to the days from its earliest
 * element to its latest.  NULL and infinite elements match no row; an
 * array with nothing else matches none.  An element that cannot be read
 * as a day leaves the condition to the local filter.
 */
static void
apply_time_any(DayRange *range, Datum value, bool isnull, Oid column_type)
{
	Oid			elemtype;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems,
				i;
	int			first = -1;
	int			last = -1;
	DateADT		first_day = 0;
	DateADT		last_day = 0;

	if (isnull)
	{
		range->empty = true;
		return;
	}
	nelems = array_elements(value, &elemtype, &elems, &nulls);
	for (i = 0; i < nelems; i++)
	{
		DateADT		day;

		if (nulls[i])
			continue;
		if (!bound_to_day(elems[i], elemtype, &day))
			return;
		if (DATE_NOT_FINITE(day))
			continue;
		if (first < 0 || day < first_day)
		{
			first = i;
			first_day = day;
		}
		if (last < 0 || day > last_day)
		{
			last = i;
			last_day = day;
		}
	}
	if (first < 0)
	{
		range->empty = true;
		return;
	}
	apply_time_bound(range, SEGMENT_COND_TIME_GE, elems[first], elemtype,
					 false, column_type);
	apply_time_bound(range, SEGMENT_COND_TIME_LE, elems[last], elemtype,
					 false, column_type);
}

/*
 * Narrow "range" by one condition on time, of any kind.
 */
static void
apply_time_cond(DayRange *range, SegmentCondKind kind, Datum value, Oid type,
				bool isnull, Oid column_type)
{
	if (kind == SEGMENT_COND_TIME_ANY)
		apply_time_any(range, value, isnull, column_type);
	else
		apply_time_bound(range, kind, value, type, isnull, column_type);
}

/*
 * Fill in the bounds a query did not give, and keep to the days the API
 * can have: the upper bound is at most today (in the session's time zone),
 * so no upper bound, or one in the future, means today; no lower bound
 * means default_days days back from the upper bound.
 */
static void
finish_range(DayRange *range, int default_days)
{
	DateADT		today;

	today = DatumGetDateADT(DirectFunctionCall1(timestamptz_date,
												TimestampTzGetDatum(GetCurrentTransactionStartTimestamp())));
	if (DATE_IS_NOEND(range->hi) || range->hi > today)
		range->hi = today;
	if (DATE_IS_NOBEGIN(range->lo))
		range->lo = range->hi - default_days + 1;
	if (range->lo > range->hi)
		range->empty = true;
}

/*
 * The time range and parameters of one set of condition values.
 */
static void
init_range(DayRange *range)
{
	range->lo = DATEVAL_NOBEGIN;
	range->hi = DATEVAL_NOEND;
	range->empty = false;
}

/* A segment id and where it was given, to sort ids */
typedef struct GivenSegment
{
	char	   *id;
	int			position;
} GivenSegment;

static int
given_segment_cmp(const void *a, const void *b)
{
	const GivenSegment *ga = (const GivenSegment *) a;
	const GivenSegment *gb = (const GivenSegment *) b;
	int			c = strcmp(ga->id, gb->id);

	if (c != 0)
		return c;
	return (ga->position > gb->position) - (ga->position < gb->position);
}

static int
string_ptr_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The most characters a segment_id column of type "typid" (typmod
 * "typmod") holds: n for varchar(n), or a domain over it; -1 for no limit.
 */
int
segment_id_max_chars(Oid typid, int32 typmod)
{
	Oid			base = getBaseTypeAndTypmod(typid, &typmod);

	if (base == VARCHAROID && typmod >= (int32) VARHDRSZ)
		return typmod - VARHDRSZ;
	return -1;
}

/*
 * Would a request for segment "id" be sent, to a column of at most
 * "max_chars" characters (-1: any)?  No segment has an empty id (the API
 * refuses one).  A longer id cannot be a value of the column: varchar's
 * input function would cut its trailing spaces, making the rows of
 * 'seg-1   ' rows of 'seg-1', or refuse it; and none of the column's
 * values can equal it.  Either way no row can match, and none is asked.
 */
bool
segment_id_is_sendable(const char *id, int max_chars)
{
	if (id[0] == '\0')
		return false;
	return max_chars < 0 || pg_mbstrlen(id) <= max_chars;
}

/*
 * Add the segments of one condition value to the list of segments,
 * intersecting with what earlier conditions allowed ("constrained").
 * Duplicates are dropped and the first order kept.  Both are done by
 * sorting, so an array of many thousands of ids costs little.  Ids that
 * no row can have (segment_id_is_sendable) are left out.
 */
static List *
add_segments(List *segments, bool *constrained, const SegmentCondValue *val,
			 int id_max_chars)
{
	List	   *given = NIL;
	List	   *result = NIL;
	GivenSegment *sorted;
	bool	   *wanted;
	char	  **allowed = NULL;
	int			ngiven;
	int			nallowed = 0;
	int			i;
	ListCell   *lc;

	if (!val->isnull)
	{
		if (val->kind == SEGMENT_COND_SEGMENT_EQ)
			given = list_make1(TextDatumGetCString(val->value));
		else
		{
			Oid			elemtype;
			Datum	   *elems;
			bool	   *nulls;
			int			nelems = array_elements(val->value, &elemtype,
												&elems, &nulls);

			for (i = 0; i < nelems; i++)
			{
				if (!nulls[i])
					given = lappend(given, TextDatumGetCString(elems[i]));
			}
		}
	}
	ngiven = list_length(given);

	/* what earlier conditions allowed, sorted to be searched */
	if (*constrained)
	{
		allowed = palloc(sizeof(char *) * Max(list_length(segments), 1));
		foreach(lc, segments)
			allowed[nallowed++] = (char *) lfirst(lc);
		qsort(allowed, nallowed, sizeof(char *), string_ptr_cmp);
	}

	/* the first occurrence of each id: the first of its run once sorted */
	sorted = palloc(sizeof(GivenSegment) * Max(ngiven, 1));
	i = 0;
	foreach(lc, given)
	{
		sorted[i].id = (char *) lfirst(lc);
		sorted[i].position = i;
		i++;
	}
	qsort(sorted, ngiven, sizeof(GivenSegment), given_segment_cmp);
	wanted = palloc0(sizeof(bool) * Max(ngiven, 1));
	for (i = 0; i < ngiven; i++)
	{
		if (i > 0 && strcmp(sorted[i].id, sorted[i - 1].id) == 0)
			continue;
		if (!segment_id_is_sendable(sorted[i].id, id_max_chars))
			continue;
		if (allowed &&
			bsearch(&sorted[i].id, allowed, nallowed, sizeof(char *),
					string_ptr_cmp) == NULL)
			continue;
		wanted[sorted[i].position] = true;
	}

	i = 0;
	foreach(lc, given)
	{
		if (wanted[i++])
			result = lappend(result, lfirst(lc));
	}

	*constrained = true;
	return result;
}

/*
 * The days of a time = ANY (array) condition, each as the range of days
 * that can hold it (one day, or three when a timestamptz is involved, see
 * apply_time_bound); false when an element cannot be read as a day, so the
 * condition gives no list.  NULL and infinite elements match no row.
 */
static bool
listed_days(Datum value, bool isnull, Oid column_type,
			SegmentWindow **days, int *ndays)
{
	Oid			elemtype;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems,
				i;
	int			slack;

	*days = NULL;
	*ndays = 0;
	if (isnull)
		return true;
	nelems = array_elements(value, &elemtype, &elems, &nulls);
	slack = (elemtype == TIMESTAMPTZOID || column_type == TIMESTAMPTZOID) ? 1 : 0;
	*days = palloc(sizeof(SegmentWindow) * Max(nelems, 1));
	for (i = 0; i < nelems; i++)
	{
		DateADT		day;

		if (nulls[i])
			continue;
		if (!bound_to_day(elems[i], elemtype, &day))
			return false;
		if (DATE_NOT_FINITE(day))
			continue;
		(*days)[*ndays].first_day = day - slack;
		(*days)[*ndays].last_day = day + slack;
		(*ndays)++;
	}
	return true;
}

static int
window_cmp(const void *a, const void *b)
{
	const SegmentWindow *wa = (const SegmentWindow *) a;
	const SegmentWindow *wb = (const SegmentWindow *) b;

	if (wa->first_day != wb->first_day)
		return (wa->first_day > wb->first_day) ? 1 : -1;
	return (wa->last_day > wb->last_day) - (wa->last_day < wb->last_day);
}

/*
 * Sort ranges of days and merge those that overlap or touch, in place;
 * returns how many are left.  Unbounded ends (DATEVAL_NOBEGIN, NOEND) are
 * the smallest and largest values, so they sort and merge as they should.
 */
static int
normalize_ranges(SegmentWindow *ranges, int n)
{
	int			nout = 0;
	int			i;

	if (n == 0)
		return 0;
	qsort(ranges, n, sizeof(SegmentWindow), window_cmp);
	for (i = 0; i < n; i++)
	{
		SegmentWindow *cur = nout > 0 ? &ranges[nout - 1] : NULL;

		if (cur && (int64) ranges[i].first_day <= (int64) cur->last_day + 1)
			cur->last_day = Max(cur->last_day, ranges[i].last_day);
		else
			ranges[nout++] = ranges[i];
	}
	return nout;
}

/*
 * Narrow the days of "in" to those of "ranges" too (sorted, disjoint): the
 * days both allow.
 */
static void
intersect_ranges(PlanValues *in, const SegmentWindow *ranges, int n)
{
	SegmentWindow *out;
	int			nout = 0;
	int			i = 0,
				j = 0;

	if (in->nranges < 0)
	{
		in->ranges = palloc(sizeof(SegmentWindow) * Max(n, 1));
		if (n > 0)
			memcpy(in->ranges, ranges, sizeof(SegmentWindow) * n);
		in->nranges = n;
		return;
	}
	out = palloc(sizeof(SegmentWindow) * Max(in->nranges + n, 1));
	while (i < in->nranges && j < n)
	{
		DateADT		first = Max(in->ranges[i].first_day, ranges[j].first_day);
		DateADT		last = Min(in->ranges[i].last_day, ranges[j].last_day);

		if (first <= last)
		{
			out[nout].first_day = first;
			out[nout].last_day = last;
			nout++;
		}
		if (in->ranges[i].last_day < ranges[j].last_day)
			i++;
		else
			j++;
	}
	in->ranges = out;
	in->nranges = nout;
}

/*
 * Cut the days of "ranges" (sorted, disjoint) within lo..hi into windows
 * of at most SEGMENT_WINDOW_DAYS days, in day order and without overlap:
 * "time IN ('2024-01-01', '2024-06-01')" asks for two one-day windows, not
 * for the five months between, and days close together share a window.
 * Returns the number of windows, in *windows.
 */
static int64
cut_into_windows(const SegmentWindow *ranges, int n, DateADT lo, DateADT hi,
				 SegmentWindow **windows)
{
	SegmentWindow *out = NULL;
	int64		nout = 0;
	int64		capacity = 0;
	int			i;

	for (i = 0; i < n; i++)
	{
		int64		first = Max(ranges[i].first_day, lo);
		int64		last = Min(ranges[i].last_day, hi);

		while (first <= last)
		{
			SegmentWindow *cur = nout > 0 ? &out[nout - 1] : NULL;

			CHECK_FOR_INTERRUPTS();
			if (cur && first < (int64) cur->first_day + SEGMENT_WINDOW_DAYS)
			{
				/* the days fit in the current window */
				cur->last_day = (DateADT) Min(last, (int64) cur->first_day +
											  SEGMENT_WINDOW_DAYS - 1);
				first = (int64) cur->last_day + 1;
				continue;
			}
			if (nout == capacity)
			{
				capacity = Max(16, capacity * 2);
				out = out ? repalloc_huge(out, sizeof(SegmentWindow) * capacity) :
					palloc(sizeof(SegmentWindow) * capacity);
			}
			out[nout].first_day = (DateADT) first;
			out[nout].last_day = (DateADT) Min(last, first + SEGMENT_WINDOW_DAYS - 1);
			first = (int64) out[nout].last_day + 1;
			nout++;
		}
	}
	*windows = out;
	return nout;
}

/*
 * Narrow "range" to the span of "ranges" (sorted, disjoint): no day before
 * the first or after the last; none at all when there is no range.
 */
static void
narrow_to_ranges(DayRange *range, const SegmentWindow *ranges, int n)
{
	if (n == 0)
	{
		range->empty = true;
		return;
	}
	if (!DATE_IS_NOBEGIN(ranges[0].first_day))
		apply_time_bound(range, SEGMENT_COND_TIME_GE,
						 DateADTGetDatum(ranges[0].first_day),
						 DATEOID, false, InvalidOid);
	if (!DATE_IS_NOEND(ranges[n - 1].last_day))
		apply_time_bound(range, SEGMENT_COND_TIME_LE,
						 DateADTGetDatum(ranges[n - 1].last_day),
						 DATEOID, false, InvalidOid);
}

/*
 * Keep to the days of "ranges" (sorted, disjoint; none: no day at all),
 * those of a time = ANY list or of an OR: the range of "in" narrowed to
 * their span, its windows to them.
 */
static void
keep_days_of(PlanValues *in, const SegmentWindow *ranges, int n)
{
	narrow_to_ranges(&in->range, ranges, n);
	intersect_ranges(in, ranges, n);
}

/*
 * The days an OR of time conditions allows, from the values of its leaves
 * (vals[0 .. n-1], all of one group): the union of its branches' ranges,
 * into *ranges (sorted, disjoint; none if every branch is empty).
 */
static int
or_ranges(const SegmentCondValue *vals, int n, Oid column_type,
		  SegmentWindow **ranges)
{
	int			nbranches = 0;
	DayRange   *branches;
	int			nout = 0;
	int			i;

	for (i = 0; i < n; i++)
		nbranches = Max(nbranches, vals[i].or_branch + 1);
	branches = palloc(sizeof(DayRange) * Max(nbranches, 1));
	for (i = 0; i < nbranches; i++)
		init_range(&branches[i]);
	for (i = 0; i < n; i++)
		apply_time_cond(&branches[vals[i].or_branch], vals[i].kind,
						vals[i].value, vals[i].type, vals[i].isnull,
						column_type);

	*ranges = palloc(sizeof(SegmentWindow) * Max(nbranches, 1));
	for (i = 0; i < nbranches; i++)
	{
		if (branches[i].empty || branches[i].lo > branches[i].hi)
			continue;
		(*ranges)[nout].first_day = branches[i].lo;
		(*ranges)[nout].last_day = branches[i].hi;
		nout++;
	}
	return normalize_ranges(*ranges, nout);
}

/*
 * Refuse a day the API cannot take as ending_at (its years are 0001 to
 * 9999), before anything is sent: "sent" is the value as it would go.
 */
static void
check_sent_day(DateADT day, const char *sent, bool parameter)
{
	DateADT		first_day = date2j(1, 1, 1) - POSTGRES_EPOCH_JDATE;
	DateADT		last_day = date2j(9999, 12, 31) - POSTGRES_EPOCH_JDATE;

	if (day >= first_day && day <= last_day)
		return;
	if (parameter)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("ending_at %s is out of the range Braze accepts", sent),
				 errdetail("Braze reads ending_at as an ISO 8601 date and time of the years 0001 to 9999.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
			 errmsg("day %s is out of the range Braze accepts", sent),
			 errdetail("The days of the time condition would be asked with ending_at %s, and Braze reads only the years 0001 to 9999.",
					   sent),
			 errhint("Check the year of the condition on time.")));
}

/*
 * Refuse a segment_id longer than SEGMENT_MAX_ID_BYTES bytes as it would
 * be sent (UTF-8): no Braze id comes near it, and a URL of megabytes fails
 * in libcurl or makes error messages of megabytes.
 */
static void
check_segment_id(const char *id)
{
	size_t		len = strlen(id);
	size_t		sent = len;

	/*
	 * Convert now, as segment_url_for_request will: a value that cannot be
	 * sent as UTF-8 (in a SQL_ASCII database, bytes that are not UTF-8) fails
	 * before the requests of the other segments go out.
	 */
	if (GetDatabaseEncoding() != PG_UTF8)
	{
		char	   *utf8 = pg_server_to_any(id, (int) len, PG_UTF8);

		sent = strlen(utf8);
		if (utf8 != id)
			pfree(utf8);
	}
	if (sent > SEGMENT_MAX_ID_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("segment_id is longer than %d bytes", SEGMENT_MAX_ID_BYTES),
				 errdetail("The value has %zu bytes and begins with \"%s\".", sent,
						   pnstrdup(id, pg_mbcliplen(id, (int) len, 40))),
				 errhint("Braze segment ids are short identifiers, such as those GET /segments/list returns.")));
}

/*
 * Build the list of the requests a scan sends, from the values its
 * conditions had when it started; "time_type" is the type of the time
 * column.  A list with no request means no row can match.  Values the API
 * cannot take (a day out of its years, an infinite ending_at, an overlong
 * segment_id) are refused here, before anything is sent; the number of
 * requests is not (segment_requests_check_cap), so that EXPLAIN shows it.
 *
 * Normal mode: each segment's day range is cut into windows of at most
 * SEGMENT_WINDOW_DAYS days (or, for time IN (...), into windows that hold
 * the days listed).  A window [a, b] asks for ending_at = b + 2 and length
 * = b - a + 3: by the observed rule (ending_at itself excluded) that is
 * [a - 1, b + 1], one day of margin on each side, so a boundary or time
 * zone the API never documented cannot lose a day.  Only days a..b of the
 * response are kept, so adjacent windows do not duplicate rows.
 *
 * Parameter mode (the table has a length or ending_at column, and the query
 * fixes it): one request per segment with exactly those values; every row
 * the API returns is kept and carries them.
 *
 * Details: one request per segment.  List: page 0, and each next page once
 * the one before came full (segment_requests_next_page).
 *
 * The values are gathered first (gather_values), then turned into requests
 * (emit_requests), which are checked (refuse_unsendable).
 */
SegmentRequestList *
segment_requests_build(const SegmentFdwOptions *opts, Oid time_type,
				   int id_max_chars, const SegmentCondValue *vals, int nvals)
{
	SegmentRequestList *list = palloc0(sizeof(SegmentRequestList));
	PlanValues	in;

	list->endpoint = &segment_endpoints[opts->endpoint];
	list->url = opts->url;
	if (list->endpoint->paged)
	{
		/* list: page 0 first; the pages after it as the full ones come */
		list->nsegments = 0;
		list->windows_per_segment = 1;
		list->nrequests = 1;
		return list;
	}

	gather_values(opts, time_type, id_max_chars, vals, nvals, &in);
	emit_requests(list, opts, &in);
	if (list->nrequests > 0)
		refuse_unsendable(list, &in);
	return list;
}

/*
 * Gather what the values of a run's conditions say: the segments (each
 * once, in the order first given), the range of days, the days of the
 * shortest time = ANY list, and the length and ending_at of parameter mode.
 * Values out of what the API takes for length are refused here.
 */
static void
gather_values(const SegmentFdwOptions *opts, Oid time_type, int id_max_chars,
			  const SegmentCondValue *vals, int nvals, PlanValues *in)
{
	Oid			time_base = OidIsValid(time_type) ? getBaseType(time_type) : InvalidOid;
	int			i;

	memset(in, 0, sizeof(PlanValues));
	in->nranges = -1;			/* every day of the range */
	if (opts->segment_id)
	{
		in->segments = list_make1(opts->segment_id);
		in->constrained = true;
	}

	init_range(&in->range);
	for (i = 0; i < nvals; i++)
	{
		const SegmentCondValue *val = &vals[i];

		if (val->or_group > 0)
		{
			SegmentWindow *ranges;
			int			n = 1;
			int			nranges;

			/* the leaves of one OR follow each other */
			while (i + n < nvals && vals[i + n].or_group == val->or_group)
				n++;
			nranges = or_ranges(val, n, time_base, &ranges);
			i += n - 1;
			keep_days_of(in, ranges, nranges);
		}
		else if (segment_cond_is_segment(val->kind))
			in->segments = add_segments(in->segments, &in->constrained, val,
										id_max_chars);
		else if (cond_is_parameter(val->kind))
		{
			in->parameter_mode = true;
			if (val->isnull)
				in->range.empty = true;
			else if (val->kind == SEGMENT_COND_LENGTH_EQ)
			{
				int64		v;

				if (val->type == INT2OID)
					v = DatumGetInt16(val->value);
				else if (val->type == INT4OID)
					v = DatumGetInt32(val->value);
				else
					v = DatumGetInt64(val->value);

				if (v < 1 || v > SEGMENT_API_MAX_LENGTH)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("length must be between 1 and %d, not " INT64_FORMAT,
									SEGMENT_API_MAX_LENGTH, v),
							 errdetail("The Braze API returns at most %d days per request.",
									   SEGMENT_API_MAX_LENGTH)));
				if (in->have_length && v != in->length)
					in->range.empty = true; /* length = 3 AND length = 4 */
				in->have_length = true;
				in->length = v;
			}
			else
			{
				/* two different values: no row; the same one twice: it */
				if (in->have_ending_at &&
					timestamp_cmp_internal(DatumGetTimestampTz(in->ending_at_value),
										   DatumGetTimestampTz(val->value)) != 0)
					in->range.empty = true;
				in->have_ending_at = true;
				in->ending_at_value = val->value;
			}
		}
		else
		{
			SegmentWindow *days;
			int			ndays;

			/* a list: only the days listed (those of other lists too) */
			if (val->kind == SEGMENT_COND_TIME_ANY &&
				listed_days(val->value, val->isnull, time_base,
							&days, &ndays))
				keep_days_of(in, days, normalize_ranges(days, ndays));
			else
				apply_time_cond(&in->range, val->kind, val->value, val->type,
								val->isnull, time_base);
		}
	}

	/* the planner refused a plan without one (segmentGetForeignPlan) */
	if (!in->constrained)
		elog(ERROR, "segment_fdw: scan started without a condition on segment_id");
}

/*
 * Turn what the conditions say into the list's requests: its segments and
 * each one's windows (one request for details and parameter mode).
 */
static void
emit_requests(SegmentRequestList *list, const SegmentFdwOptions *opts,
			  PlanValues *in)
{
	ListCell   *lc;
	int			i;

	list->parameter_mode = in->parameter_mode && list->endpoint->windows;
	if (!list->endpoint->windows)
	{
		/* details: one request per segment */
		list->windows_per_segment = in->range.empty ? 0 : 1;
	}
	else if (list->parameter_mode)
	{
		list->length = in->have_length ? (int) in->length : opts->default_days;
		list->ending_at_value = in->ending_at_value;
		list->lo = DATEVAL_NOBEGIN;
		list->hi = DATEVAL_NOEND;
		list->windows_per_segment = in->range.empty ? 0 : 1;
	}
	else
	{
		finish_range(&in->range, opts->default_days);
		list->lo = in->range.lo;
		list->hi = in->range.hi;
		if (in->range.empty)
			list->windows_per_segment = 0;
		else if (in->nranges >= 0)
			list->windows_per_segment = cut_into_windows(in->ranges,
														 in->nranges,
														 in->range.lo,
														 in->range.hi,
														 &list->windows);
		else
			list->windows_per_segment =
				((int64) in->range.hi - in->range.lo) / SEGMENT_WINDOW_DAYS + 1;
	}
	if (list->windows_per_segment == 0)
		in->segments = NIL;

	list->nsegments = list_length(in->segments);
	list->segments = palloc(sizeof(char *) * Max(list->nsegments, 1));
	i = 0;
	foreach(lc, in->segments)
		list->segments[i++] = (char *) lfirst(lc);
	list->nrequests = list->nsegments * list->windows_per_segment;
}

/*
 * Refuse what a list would send and the API cannot take: an overlong
 * segment_id, an infinite or out-of-range ending_at, a day before the
 * year 1.
 */
static void
refuse_unsendable(SegmentRequestList *list, const PlanValues *in)
{
	int			i;

	for (i = 0; i < list->nsegments; i++)
		check_segment_id(list->segments[i]);
	if (list->parameter_mode && in->have_ending_at)
	{
		/*
		 * In UTC: the API reads the date as written, so the session's
		 * TimeZone must not change which days come.
		 */
		TimestampTz ts = DatumGetTimestampTz(list->ending_at_value);
		int			utc = 0;

		if (TIMESTAMP_NOT_FINITE(ts))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
					 errmsg("ending_at cannot be %s",
							TIMESTAMP_IS_NOBEGIN(ts) ? "-infinity" : "infinity"),
					 errdetail("Braze takes a date and time for ending_at."),
					 errhint("Leave ending_at out of the query to end the series at the time of the request.")));
		list->ending_at = JsonEncodeDateTime(NULL, list->ending_at_value,
											 TIMESTAMPTZOID, &utc);
		/* its day in UTC: TimestampTz and DateADT share an epoch */
		check_sent_day((DateADT) ((ts - (ts < 0 ? USECS_PER_DAY - 1 : 0)) / USECS_PER_DAY),
					   list->ending_at, true);
	}
	else if (!list->parameter_mode && list->endpoint->windows)
	{
		SegmentRequest first;

		/* the earliest ending_at is the first window's */
		segment_requests_get(list, 0, &first);
		check_sent_day(first.last_day + 2, first.ending_at, false);
	}
}

/*
 * Fill in request "i" of "list" (0 <= i < nrequests), in the current memory
 * context.
 */
void
segment_requests_get(const SegmentRequestList *list, int64 i, SegmentRequest *req)
{
	int64		w = i % list->windows_per_segment;

	Assert(i >= 0 && i < list->nrequests);
	memset(req, 0, sizeof(SegmentRequest));
	req->endpoint = list->endpoint;
	req->length_isnull = true;
	req->ending_at_isnull = true;
	if (list->endpoint->paged)
	{
		req->page = i;
		segment_url_for_request(list->url, req);
		return;
	}
	req->segment_id = list->segments[i / list->windows_per_segment];
	if (!list->endpoint->windows)
	{
		/* details: the segment alone */
	}
	else if (list->parameter_mode)
	{
		req->length = list->length;
		req->ending_at = list->ending_at;
		req->first_day = DATEVAL_NOBEGIN;
		req->last_day = DATEVAL_NOEND;
		req->length_isnull = false;
		req->ending_at_value = list->ending_at_value;
		req->ending_at_isnull = (list->ending_at == NULL);
	}
	else
	{
		if (list->windows)
		{
			req->first_day = list->windows[w].first_day;
			req->last_day = list->windows[w].last_day;
		}
		else
		{
			req->first_day = list->lo + (DateADT) (w * SEGMENT_WINDOW_DAYS);
			req->last_day = Min(list->hi, req->first_day + SEGMENT_WINDOW_DAYS - 1);
		}
		req->length = req->last_day - req->first_day + 3;
		req->ending_at = segment_format_day(req->last_day + 2);
		req->length_isnull = true;
		req->ending_at_isnull = true;
	}
	segment_url_for_request(list->url, req);
}

/*
 * Refuse, before anything is sent, a run of a scan of "relname" that would
 * send "needed" requests, more than max_requests.  "detail" says where they
 * come from and "hint" what to change, both translated already.  The one
 * refusal of the three callers below.
 */
static void
refuse_requests(const char *relname, int64 needed, int max_requests,
				const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("a scan of foreign table \"%s\" would send " INT64_FORMAT " requests to Braze, more than max_requests (%d)",
					relname, needed, max_requests),
			 errdetail_internal("%s", detail),
			 errhint("%s", hint)));
	pg_unreachable();
}

/*
 * Refuse a run of a scan of "relname" that would send more requests than
 * max_requests, before it sends any: a year mistyped as 0024 must not send
 * thousands of requests, nor build them.
 */
void
segment_requests_check_cap(const SegmentRequestList *list, const char *relname,
						   int max_requests)
{
	if (list->nrequests <= max_requests)
		return;
	refuse_requests(relname, list->nrequests, max_requests,
					(list->parameter_mode || !list->endpoint->windows) ?
					psprintf(_("Segments: %d; requests per segment: 1."),
							 list->nsegments) :
					psprintf(_("Segments: %d; requests per segment: " INT64_FORMAT ", one per %d days."),
							 list->nsegments, list->windows_per_segment,
							 SEGMENT_WINDOW_DAYS),
					_("Narrow the time range or the segments of the query, or raise the server option max_requests."));
}

/*
 * Refuse a round of a batched join over a scan of "relname" that would send
 * "round" requests after the "before" of its earlier rounds, more than
 * max_requests together, before it sends any.
 */
void
segment_requests_refuse_batch(const char *relname, int max_requests,
							  int64 before, int64 round)
{
	refuse_requests(relname, before + round, max_requests,
					psprintf(_("The batched join's earlier rounds sent " INT64_FORMAT " requests; its next round would send " INT64_FORMAT "."),
							 before, round),
					_("Narrow the segments the join gives or the time range, or raise the server option max_requests."));
}

/*
 * A paged list received a full page (the last of those it knew): the next
 * page is needed too.  Refused, before it is asked, if it would make the
 * run send more than max_requests.
 */
void
segment_requests_next_page(SegmentRequestList *list, const char *relname,
						   int max_requests)
{
	Assert(list->endpoint->paged);
	if (list->nrequests + 1 > max_requests)
		refuse_requests(relname, list->nrequests + 1, max_requests,
						list->nrequests == 1 ?
						psprintf(_("Page 0 of GET %s was full (%d segments), so page 1 would be needed."),
								 list->endpoint->path, SEGMENT_LIST_PAGE_SIZE) :
						psprintf(_("Pages 0 to " INT64_FORMAT " of GET %s were full (%d segments each), so page " INT64_FORMAT " would be needed."),
								 list->nrequests - 1, list->endpoint->path,
								 SEGMENT_LIST_PAGE_SIZE, list->nrequests),
						_("Raise the server option max_requests."));
	list->nrequests++;
}

/*
 * Estimate the number of segments the conditions select: 0 if none does
 * (the scan cannot run), 1 for "=", the element count of a constant array,
 * and a guess for arrays known only at execution.
 */
double
segment_estimate_segments(const SegmentFdwOptions *opts, List *conds)
{
	double		segments = -1;
	ListCell   *lc;

	if (opts->segment_id)
		return 1;

	foreach(lc, conds)
	{
		SegmentCond *cond = (SegmentCond *) lfirst(lc);
		double		n;

		if (cond->kind == SEGMENT_COND_SEGMENT_EQ)
			n = 1;
		else if (cond->kind == SEGMENT_COND_SEGMENT_ANY)
		{
			if (IsA(cond->expr, Const) && !((Const *) cond->expr)->constisnull)
			{
				ArrayType  *array = DatumGetArrayTypeP(((Const *) cond->expr)->constvalue);

				n = Max(1, ArrayGetNItems(ARR_NDIM(array), ARR_DIMS(array)));
			}
			else if (IsA(cond->expr, ArrayExpr))
				n = Max(1, list_length(((ArrayExpr *) cond->expr)->elements));
			else
				n = 10;
		}
		else
			continue;

		if (segments < 0 || n < segments)
			segments = n;
	}
	return Max(segments, 0);
}

/*
 * Narrow "range" to the span of the days an OR of time conditions allows,
 * when the planner can compute all its values now.
 */
static void
estimate_or_days(PlannerInfo *root, const SegmentCond *cond, DayRange *range)
{
	int			n = list_length(cond->leaves);
	SegmentCondValue *vals = palloc0(sizeof(SegmentCondValue) * Max(n, 1));
	SegmentWindow *ranges;
	int			i = 0;
	ListCell   *lc;

	foreach(lc, cond->leaves)
	{
		SegmentCond *leaf = (SegmentCond *) lfirst(lc);
		Node	   *value = estimate_expression_value(root, (Node *) leaf->expr);

		if (!IsA(value, Const))
			return;
		vals[i].kind = leaf->kind;
		vals[i].type = ((Const *) value)->consttype;
		vals[i].value = ((Const *) value)->constvalue;
		vals[i].isnull = ((Const *) value)->constisnull;
		vals[i].or_group = 1;
		vals[i].or_branch = leaf->branch;
		i++;
	}
	narrow_to_ranges(range, ranges, or_ranges(vals, n, InvalidOid, &ranges));
}

/*
 * Estimate the number of days each segment returns, from the time
 * conditions whose values the planner can compute now.
 */
double
segment_estimate_days(PlannerInfo *root, const SegmentFdwOptions *opts,
					  List *conds)
{
	DayRange	range;
	ListCell   *lc;

	init_range(&range);
	foreach(lc, conds)
	{
		SegmentCond *cond = (SegmentCond *) lfirst(lc);
		Node	   *value;

		if (cond->kind == SEGMENT_COND_TIME_OR)
		{
			estimate_or_days(root, cond, &range);
			continue;
		}
		if (!cond_is_time_bound(cond->kind) && !cond_is_parameter(cond->kind))
			continue;
		value = estimate_expression_value(root, (Node *) cond->expr);
		if (!IsA(value, Const))
			continue;
		if (cond->kind == SEGMENT_COND_LENGTH_EQ)
		{
			/* parameter mode: about "length" days */
			return SEGMENT_API_MAX_LENGTH / 2;
		}
		if (cond->kind == SEGMENT_COND_ENDING_AT_EQ)
			continue;
		apply_time_cond(&range, cond->kind, ((Const *) value)->constvalue,
						((Const *) value)->consttype,
						((Const *) value)->constisnull, InvalidOid);
	}
	finish_range(&range, opts->default_days);
	if (range.empty)
		return 1;
	return (double) range.hi - range.lo + 1;
}

/*
 * Number of requests of "days" days for one segment.
 */
double
segment_estimate_requests(double days)
{
	return ceil(days / SEGMENT_WINDOW_DAYS);
}
