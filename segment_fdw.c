/*-------------------------------------------------------------------------
 *
 * segment_fdw.c
 *		  Foreign data wrapper for Braze's "Export segment analytics" API
 *
 * A foreign table (segment_id text, time date, size bigint) reads the
 * daily estimated size of Braze segments from GET /segments/data_series;
 * with the table option endpoint, the segments of the workspace
 * (GET /segments/list) or their details (GET /segments/details), as
 * described in endpoint.c.  This file holds the handler and the FDW callbacks: size estimates and
 * paths (with parameterized paths for joins on segment_id), the plan, the
 * scan (which turns its conditions into requests when it starts, fetches
 * them concurrently and streams the rows), EXPLAIN and IMPORT FOREIGN
 * SCHEMA.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "segment_fdw.h"
#include "segment_fetch.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Cost model.  A round trip to Braze costs what postgres_fdw's default
 * fdw_startup_cost says a remote query does; up to max_concurrency
 * requests share one.  (Larger values would make joins over many segments
 * look expensive enough for JIT compilation, which only costs time here.)
 */
#define ROUND_TRIP_COST 100.0

/*
 * What a scan without any condition on segment_id would cost: it cannot
 * run, so it must lose against any parameterized path, even one under a
 * nested loop that enable_nestloop = off made cost disable_cost (1.0e10)
 * more; from PostgreSQL 18, which counts disabled nodes before costs, the
 * path also counts as one.
 */
#define NO_SEGMENT_COST 1.0e12

/*
 * What a path parameterized by segment_id alone costs more when other
 * relations could also give it its days (time = other.day): reading
 * default_days and filtering above would be a different query, so such a
 * path is taken only when no plan can pass the days.
 */
#define TIME_NOT_PASSED_COST 1.0e8

/* Requests EXPLAIN lists before it counts the rest */
#define EXPLAIN_MAX_REQUESTS 5

/* Segments a workspace is guessed to have, for a list scan's estimate */
#define LIST_ESTIMATED_SEGMENTS 500.0

/*
 * What a scan keeps for its rescans: responses, and their rows (16 bytes
 * each, whatever a response holds: one with a length column keeps every
 * row it has), so at most 6.4 MB of rows
 */
#define MAX_CACHED_RESPONSES 4096
#define MAX_CACHED_ROWS (MAX_CACHED_RESPONSES * 100)

/*
 * A round of a batched join asks for about this many requests per
 * max_concurrency slot: enough that the slots stay busy through a round,
 * few enough that a LIMIT stops early and a round's rows stay small.
 */
#define ROUND_REQUESTS_PER_SLOT 4

/*
 * Indexes of the items of a ForeignScan's fdw_private list.
 */
enum SegmentFdwScanPrivate
{
	/* kinds of the conditions in fdw_exprs, an IntList of SegmentCondKind */
	FdwScanPrivateCondKinds,
	/* 1 for the inner scan of a batched join (join.c), else 0 */
	FdwScanPrivateBatched,
	/* per expression, an IntList: the number of its OR (from 1), or 0 */
	FdwScanPrivateOrGroups,
	/* per expression, an IntList: its branch of that OR */
	FdwScanPrivateOrBranches
};

/*
 * What the planner learned about a foreign table, in baserel->fdw_private.
 */
typedef struct SegmentRelInfo
{
	SegmentFdwOptions opts;
	const SegmentEndpoint *endpoint;
	SegmentColumns cols;
	List	   *conds;			/* SegmentCond from baserestrictinfo */
	List	   *classified;		/* ClassifiedClause: every clause judged */
	double		segments;		/* estimated segments, 0 if none given */
	double		days;			/* estimated days per segment */
	Relids		time_outer;		/* other relations that join conditions on
								 * time (time = other.day) refer to */
	List	   *time_clauses;	/* those conditions */
	Selectivity local_selectivity;	/* of the conditions not pushed */
} SegmentRelInfo;

/*
 * A clause the planner asked about, and what segment_cond_is_pushable said:
 * each is judged once per plan, whether it is met sizing the relation,
 * adding parameterized paths or making the plan.
 */
typedef struct ClassifiedClause
{
	RestrictInfo *rinfo;
	bool		pushable;
	SegmentCond cond;
} ClassifiedClause;

/* One response already received by a scan, kept for rescans */
typedef struct CachedResponse
{
	char	   *key;			/* hash key: what the API is asked */
	void	   *rows;			/* the endpoint's rows: SegmentRow for
								 * data_series, else SegmentInfoRow */
	int			nrows;
} CachedResponse;

/* Per-column input function, for converting API values */
typedef struct ColumnInput
{
	FmgrInfo	func;
	Oid			ioparam;
	int32		typmod;
} ColumnInput;

/*
 * Execution state of a scan.
 */
typedef struct SegmentScanState
{
	SegmentFdwOptions opts;
	SubTransactionId subid;		/* the scan was started in */
	SegmentWorkspaceRef workspace;	/* shared.c's: the cache of url and key */
	SegmentServerRef server;	/* shared.c's: statistics */
	int64		shared_decided; /* next_response decided the requests before
								 * this one: the fetch may not ask the shared
								 * cache again about them */
	const SegmentEndpoint *endpoint;
	SegmentColumns cols;
	ColumnInput input[SEGMENT_NUM_FIELDS];

	List	   *cond_kinds;		/* SegmentCondKind per expression */
	List	   *or_groups;		/* its OR, from 1, or 0 */
	List	   *or_branches;	/* its branch of that OR */
	List	   *cond_states;	/* ExprState per expression */
	List	   *cond_exprs;		/* the expressions, for EXPLAIN */

	MemoryContext scan_cxt;		/* lives as long as the scan */
	MemoryContext cache_cxt;	/* the cache of responses */
	MemoryContext run_cxt;		/* one run, between rescans: its plan */
	MemoryContext batch_cxt;	/* the response being returned */

	char	   *relname;		/* the foreign table, for errors */
	bool		started;		/* plan built for this run */
	bool		last_page_full; /* list: the latest page held 100 segments */
	SegmentRequestList *requests;	/* the requests of this run */
	int64		next_item;		/* the next request whose rows to return */
	int64		next_pull;		/* the next request the fetch considers */
	SegmentFetch *fetch;		/* transfers of the uncached requests */
	HTAB	   *cache;			/* CachedResponse by key, across rescans */
	int64		cached_rows;	/* rows held by the cache */
	bool		cache_full;		/* a response could not be kept */

	/* the response whose rows are being returned */
	SegmentRequest *current;
	void	   *rows;
	int			nrows;
	int			next_row;
	SegmentField converting;	/* list or details field being converted */
	Datum		segment_value;	/* segment_id of the current request */

	/* the inner scan of a batched join: the ids its join gives (text[]) */
	bool		batched;
	Datum		batch_ids;
	int64		batch_requests; /* of the join's rounds so far */

	int			id_max_chars;	/* segment_id's varchar(n), or -1 */

	/* figures for EXPLAIN ANALYZE */
	int64		runs;			/* starts, 1 + rescans that started again */
	int64		requests_cached;	/* answered from the cache */
	SegmentFetchStats stats;	/* of the requests sent */
} SegmentScanState;

PG_FUNCTION_INFO_V1(segment_fdw_handler);

static void segmentGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
									 Oid foreigntableid);
static void segmentGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
								   Oid foreigntableid);
static ForeignScan *segmentGetForeignPlan(PlannerInfo *root,
										  RelOptInfo *baserel,
										  Oid foreigntableid,
										  ForeignPath *best_path,
										  List *tlist, List *scan_clauses,
										  Plan *outer_plan);
static void segmentBeginForeignScan(ForeignScanState *node, int eflags);
static TupleTableSlot *segmentIterateForeignScan(ForeignScanState *node);
static void segmentReScanForeignScan(ForeignScanState *node);
static void segmentEndForeignScan(ForeignScanState *node);
static void segmentExplainForeignScan(ForeignScanState *node,
									  ExplainState *es);
static List *segmentImportForeignSchema(ImportForeignSchemaStmt *stmt,
										Oid serverOid);

static void add_parameterized_paths(PlannerInfo *root, RelOptInfo *baserel,
									SegmentRelInfo *info);
static bool classify_clause(PlannerInfo *root, RelOptInfo *baserel,
							SegmentRelInfo *info, RestrictInfo *rinfo,
							SegmentCond *cond);
static bool ec_member_is_column(PlannerInfo *root, RelOptInfo *rel,
								EquivalenceClass *ec,
								EquivalenceMember *em, void *arg);
static void find_time_join_clauses(PlannerInfo *root, RelOptInfo *baserel,
								   SegmentRelInfo *info);
static List *join_clauses_on(PlannerInfo *root, RelOptInfo *baserel,
							 AttrNumber attnum);
static List *add_parameterized_path(PlannerInfo *root, RelOptInfo *baserel,
									SegmentRelInfo *info, List *done,
									Relids required_outer, double segments,
									bool passes_time);
static void estimate_costs(SegmentRelInfo *info, double segments,
						   double rows, Cost *startup_cost,
						   Cost *total_cost);
static SegmentRequestList *compute_requests(SegmentScanState *state,
								 ExprContext *econtext);
static bool pull_request(void *arg, SegmentRequest *req);
static bool request_is_cached(SegmentScanState *state, int64 i,
							  SegmentRequest *req);
static bool shared_cacheable(SegmentScanState *state,
							 const SegmentRequest *req);
static bool take_shared_window(SegmentScanState *state, SegmentRequest *req,
							   char *key);
static void free_request(const SegmentRequestList *list, SegmentRequest *req);
static void sort_rows(SegmentRow *rows, int nrows, const SegmentRequest *req);
static bool conds_are_computable(List *exprs);
static bool next_response(SegmentScanState *state);
static void store_row(SegmentScanState *state, TupleTableSlot *slot,
					  const SegmentRow *row);
static void store_info_row(SegmentScanState *state, TupleTableSlot *slot,
							  const SegmentInfoRow *row);
static char *request_key(const SegmentRequest *req);
static void create_cache(SegmentScanState *state);
static void conversion_error_callback(void *arg);
static SegmentInfoRow *copy_info_rows(const void *rows, int nrows);
static void explain_stats(SegmentScanState *state, ExplainState *es);
static List *explain_conditions(SegmentScanState *state, ExplainState *es);

/*
 * Module load: the settings of segment_fdw.
 */
void
_PG_init(void)
{
	segment_fetch_init();
	segment_join_init();
	MarkGUCPrefixReserved("segment_fdw");
}

/*
 * Foreign-data wrapper handler function: return a struct with pointers
 * to the callback routines.
 */
Datum
segment_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = segmentGetForeignRelSize;
	routine->GetForeignPaths = segmentGetForeignPaths;
	routine->GetForeignPlan = segmentGetForeignPlan;
	routine->BeginForeignScan = segmentBeginForeignScan;
	routine->IterateForeignScan = segmentIterateForeignScan;
	routine->ReScanForeignScan = segmentReScanForeignScan;
	routine->EndForeignScan = segmentEndForeignScan;
	routine->ExplainForeignScan = segmentExplainForeignScan;
	routine->ImportForeignSchema = segmentImportForeignSchema;

	PG_RETURN_POINTER(routine);
}

/*
 * segmentGetForeignRelSize
 *		Estimate the rows of a scan: segments x days, times the selectivity
 *		of the conditions that only filter locally.
 */
static void
segmentGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
						 Oid foreigntableid)
{
	SegmentRelInfo *info = palloc0(sizeof(SegmentRelInfo));
	List	   *local = NIL;
	ListCell   *lc;

	segment_get_options(foreigntableid, InvalidOid, &info->opts);
	info->endpoint = &segment_endpoints[info->opts.endpoint];
	segment_get_columns(foreigntableid, info->endpoint, &info->cols);

	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		SegmentCond cond;

		if (classify_clause(root, baserel, info, rinfo, &cond))
			info->conds = lappend(info->conds,
								  memcpy(palloc(sizeof(cond)), &cond,
										 sizeof(cond)));
		else
			local = lappend(local, rinfo);
	}

	info->local_selectivity = clauselist_selectivity(root, local,
													 baserel->relid,
													 JOIN_INNER, NULL);
	if (info->endpoint->paged)
	{
		/* list: every segment of the workspace, a few pages of them */
		info->segments = LIST_ESTIMATED_SEGMENTS;
		info->days = 1;
	}
	else
	{
		info->segments = segment_estimate_segments(&info->opts, info->conds);
		/* details: one row per segment */
		info->days = info->endpoint->windows ?
			segment_estimate_days(root, &info->opts, info->conds) : 1;
	}

	/* a scan without segments cannot run: size it as a typical one */
	baserel->tuples = Max(info->segments, 1) * info->days;
	baserel->rows = clamp_row_est(baserel->tuples * info->local_selectivity);
	baserel->fdw_private = info;
}

/*
 * Is the clause of "rinfo" a condition the scan can use (filling in
 * "cond")?  Judged once per clause and remembered in the relation's info:
 * the same RestrictInfo comes back from sizing, paths and the plan.
 */
static bool
classify_clause(PlannerInfo *root, RelOptInfo *baserel, SegmentRelInfo *info,
				RestrictInfo *rinfo, SegmentCond *cond)
{
	ClassifiedClause *cc;
	ListCell   *lc;

	foreach(lc, info->classified)
	{
		cc = (ClassifiedClause *) lfirst(lc);
		if (cc->rinfo == rinfo)
		{
			*cond = cc->cond;
			return cc->pushable;
		}
	}
	cc = palloc0(sizeof(ClassifiedClause));
	cc->rinfo = rinfo;
	cc->pushable = segment_cond_is_pushable(root, baserel, &info->cols,
											rinfo->clause, &cc->cond);
	info->classified = lappend(info->classified, cc);
	*cond = cc->cond;
	return cc->pushable;
}

/*
 * Startup and total cost of a scan of "segments" segments returning "rows"
 * rows: the first response is needed before the first row; the rest come
 * max_concurrency at a time.
 */
static void
estimate_costs(SegmentRelInfo *info, double segments, double rows,
			   Cost *startup_cost, Cost *total_cost)
{
	double		requests;
	double		round_trips;

	if (info->endpoint->paged)
	{
		/* pages are asked one after another */
		requests = floor(segments / SEGMENT_LIST_PAGE_SIZE) + 1;
		round_trips = requests;
	}
	else
	{
		requests = Max(segments, 1) * segment_estimate_requests(info->days);
		round_trips = ceil(requests / info->opts.max_concurrency);
	}

	*startup_cost = ROUND_TRIP_COST;
	*total_cost = round_trips * ROUND_TRIP_COST +
		requests * cpu_operator_cost * 100 +
		rows * cpu_tuple_cost;
	if (segments == 0)
	{
		*startup_cost += NO_SEGMENT_COST;
		*total_cost += NO_SEGMENT_COST;
	}
}

/*
 * segmentGetForeignPaths
 *		One plain path, and a path parameterized by each set of outer
 *		relations that can supply segment_id in a join.
 */
static void
segmentGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
					   Oid foreigntableid)
{
	SegmentRelInfo *info = (SegmentRelInfo *) baserel->fdw_private;
	Cost		startup_cost;
	Cost		total_cost;

	estimate_costs(info, info->segments, baserel->rows,
				   &startup_cost, &total_cost);
	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel,
									 NULL,	/* default pathtarget */
									 baserel->rows,
									 /* one that cannot run counts as disabled */
									 info->segments == 0 ? 1 : 0,
									 startup_cost,
									 total_cost,
									 NIL,	/* no pathkeys */
									 baserel->lateral_relids,
									 NULL,	/* no extra plan */
									 NIL,	/* no fdw_restrictinfo */
									 NIL));

	if (info->endpoint->needs_segment && info->opts.segment_id == NULL &&
		info->cols.attnum[SEGMENT_FIELD_SEGMENT_ID] != 0)
	{
		find_time_join_clauses(root, baserel, info);
		add_parameterized_paths(root, baserel, info);
	}
}

/*
 * For a scan with no condition of its own on time: the join clauses that
 * could give it its days, "time = other.day" and the like (from
 * equivalence classes too), and the relations they refer to, into
 * info->time_clauses and info->time_outer.  Without them, it would read
 * the last default_days days, which is not what the query asks.
 */
static void
find_time_join_clauses(PlannerInfo *root, RelOptInfo *baserel,
					   SegmentRelInfo *info)
{
	AttrNumber	attnum = info->cols.attnum[SEGMENT_FIELD_TIME];
	ListCell   *lc;

	if (attnum == 0)
		return;
	/* days of its own: all of them are read, and the join filters them */
	foreach(lc, info->conds)
	{
		if (segment_conds[((SegmentCond *) lfirst(lc))->kind].field == SEGMENT_FIELD_TIME)
			return;
	}
	foreach(lc, join_clauses_on(root, baserel, attnum))
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		SegmentCond cond;

		if (!classify_clause(root, baserel, info, rinfo, &cond) ||
			segment_conds[cond.kind].field != SEGMENT_FIELD_TIME)
			continue;
		info->time_clauses = lappend(info->time_clauses, rinfo);
		info->time_outer = bms_add_members(info->time_outer,
										   bms_difference(rinfo->clause_relids,
														  baserel->relids));
	}
}

/*
 * Callback for generate_implied_equalities_for_column: is this member the
 * column of attribute number *arg (segment_id, or time)?
 */
static bool
ec_member_is_column(PlannerInfo *root, RelOptInfo *rel,
					EquivalenceClass *ec, EquivalenceMember *em,
					void *arg)
{
	AttrNumber	attnum = *(AttrNumber *) arg;
	Expr	   *expr = em->em_expr;

	if (expr && IsA(expr, RelabelType))
		expr = ((RelabelType *) expr)->arg;
	return expr && IsA(expr, Var) &&
		((Var *) expr)->varno == rel->relid &&
		((Var *) expr)->varattno == attnum &&
		((Var *) expr)->varlevelsup == 0;
}

/*
 * The join clauses that a parameterized scan of "baserel" could take, for
 * its column of attribute number "attnum": those of its joininfo that can
 * move to it, and the equalities its equivalence classes imply between the
 * column and other relations (a = b, b = c giving a = c).
 */
static List *
join_clauses_on(PlannerInfo *root, RelOptInfo *baserel, AttrNumber attnum)
{
	List	   *clauses = NIL;
	ListCell   *lc;

	foreach(lc, baserel->joininfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		if (join_clause_is_movable_to(rinfo, baserel))
			clauses = lappend(clauses, rinfo);
	}
	if (baserel->has_eclass_joins)
		clauses = list_concat(clauses,
							  generate_implied_equalities_for_column(root,
																	 baserel,
																	 ec_member_is_column,
																	 &attnum,
																	 baserel->lateral_referencers));
	return clauses;
}

/*
 * Add a path parameterized by the outer relations of each join condition
 * that gives segment_id (segment_id = outer.col, from an equivalence class
 * or a plain join clause), so a nested loop can push the outer value down.
 */
static void
add_parameterized_paths(PlannerInfo *root, RelOptInfo *baserel,
						SegmentRelInfo *info)
{
	List	   *done = NIL;
	ListCell   *lc;

	foreach(lc, join_clauses_on(root, baserel,
								info->cols.attnum[SEGMENT_FIELD_SEGMENT_ID]))
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		SegmentCond cond;
		Relids		required_outer;
		double		segments;
		bool		passes_time;

		if (!classify_clause(root, baserel, info, rinfo, &cond) ||
			!segment_cond_is_segment(cond.kind))
			continue;

		required_outer = bms_union(bms_difference(rinfo->clause_relids,
												  baserel->relids),
								   baserel->lateral_relids);
		if (bms_is_empty(required_outer))
			continue;

		/* per outer row: one segment (or an array's worth) */
		segments = (cond.kind == SEGMENT_COND_SEGMENT_EQ) ? 1 : 10;
		if (info->segments > 0)
			segments = Min(segments, info->segments);

		/*
		 * Where other relations can give the days too, a path that takes
		 * them as well; the one without them is a last resort.
		 */
		passes_time = bms_is_subset(info->time_outer, required_outer);
		done = add_parameterized_path(root, baserel, info, done,
									  required_outer, segments,
									  passes_time);
		if (!passes_time)
			done = add_parameterized_path(root, baserel, info, done,
										  bms_union(required_outer,
													info->time_outer),
										  segments, true);
	}
}

/*
 * Add a path parameterized by "required_outer" for "segments" segments per
 * outer row, unless one for it is in "done" (returned with it added).
 * "passes_time": the days the join can give are all among its conditions;
 * else it costs TIME_NOT_PASSED_COST more.
 */
static List *
add_parameterized_path(PlannerInfo *root, RelOptInfo *baserel,
					   SegmentRelInfo *info, List *done,
					   Relids required_outer, double segments,
					   bool passes_time)
{
	double		days = info->days;
	double		rows;
	Cost		startup_cost;
	Cost		total_cost;
	ListCell   *lc;

	foreach(lc, done)
	{
		if (bms_equal((Relids) lfirst(lc), required_outer))
			return done;
	}

	/* a day passed by "time = other.day": one day per outer row */
	foreach(lc, info->time_clauses)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		SegmentCond cond;

		if (bms_is_subset(rinfo->clause_relids,
						  bms_union(required_outer, baserel->relids)) &&
			classify_clause(root, baserel, info, rinfo, &cond) &&
			cond.kind == SEGMENT_COND_TIME_EQ)
			days = 1;
	}
	rows = clamp_row_est(segments * days * info->local_selectivity);
	estimate_costs(info, segments, rows, &startup_cost, &total_cost);
	if (!passes_time)
	{
		startup_cost += TIME_NOT_PASSED_COST;
		total_cost += TIME_NOT_PASSED_COST;
	}

	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel,
									 NULL,
									 rows,
									 0,
									 startup_cost,
									 total_cost,
									 NIL,
									 required_outer,
									 NULL,
									 NIL,
									 NIL));
	return lappend(done, required_outer);
}

/*
 * segmentGetForeignPlan
 *		The usable conditions go into fdw_exprs (so parameters and outer
 *		references are set up for the executor); all conditions stay local
 *		filters.  A scan that has no segment to ask for fails here, before
 *		any request.
 */
static ForeignScan *
segmentGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
					  Oid foreigntableid, ForeignPath *best_path,
					  List *tlist, List *scan_clauses, Plan *outer_plan)
{
	SegmentRelInfo *info = (SegmentRelInfo *) baserel->fdw_private;
	List	   *fdw_exprs = NIL;
	List	   *kinds = NIL;
	List	   *groups = NIL;
	List	   *branches = NIL;
	int			ngroups = 0;
	bool		batched = (best_path->fdw_private != NIL);
	bool		have_segment = (info->opts.segment_id != NULL ||
								!info->endpoint->needs_segment || batched);
	ListCell   *lc;

	foreach(lc, scan_clauses)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		SegmentCond cond;

		if (!classify_clause(root, baserel, info, rinfo, &cond))
			continue;
		if (cond.kind == SEGMENT_COND_TIME_OR)
		{
			/* its leaves, one after another, with their OR and branch */
			ListCell   *lc2;

			ngroups++;
			foreach(lc2, cond.leaves)
			{
				SegmentCond *leaf = (SegmentCond *) lfirst(lc2);

				fdw_exprs = lappend(fdw_exprs, leaf->expr);
				kinds = lappend_int(kinds, (int) leaf->kind);
				groups = lappend_int(groups, ngroups);
				branches = lappend_int(branches, leaf->branch);
			}
			continue;
		}
		fdw_exprs = lappend(fdw_exprs, cond.expr);
		kinds = lappend_int(kinds, (int) cond.kind);
		groups = lappend_int(groups, 0);
		branches = lappend_int(branches, 0);
		if (segment_cond_is_segment(cond.kind))
			have_segment = true;
	}

	if (!have_segment)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_CREATE_EXECUTION),
				 errmsg("a query on foreign table \"%s\" needs a condition on segment_id",
						get_rel_name(foreigntableid)),
				 errhint("Write for example WHERE segment_id = '<segment id>', or segment_id IN (...), or join segment_id to a table of segment ids; or pin the table to one segment with the table option segment_id.")));

	return make_foreignscan(tlist,
							extract_actual_clauses(scan_clauses, false),
							baserel->relid,
							fdw_exprs,
							list_make4(kinds, makeInteger(batched ? 1 : 0),
									   groups, branches),
							NIL,	/* no custom tlist */
							NIL,	/* no remote quals */
							outer_plan);
}

/*
 * segmentBeginForeignScan
 *		Set up the scan.  Nothing is sent here: parameter values are only
 *		known when the first row is asked for.
 */
static void
segmentBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	EState	   *estate = node->ss.ps.state;
	Oid			relid = RelationGetRelid(node->ss.ss_currentRelation);
	SegmentScanState *state = palloc0(sizeof(SegmentScanState));
	Oid			userid;
	int			field;

	node->fdw_state = state;
	state->relname = pstrdup(RelationGetRelationName(node->ss.ss_currentRelation));
	/* a cursor's: the subtransaction that opened it, wherever it is read */
	state->subid = GetCurrentSubTransactionId();

	/* the user whose mapping holds the key: the view owner, if any */
	userid = foreign_scan_check_as_user(fsplan, estate);
	if (!OidIsValid(userid))
		userid = GetUserId();
	/* plain EXPLAIN sends nothing, so needs no user mapping (postgres_fdw's way) */
	segment_get_options(relid,
						(eflags & EXEC_FLAG_EXPLAIN_ONLY) ? InvalidOid : userid,
						&state->opts);
	/* what shared.c knows of the server and of its url and key, if it is on */
	segment_server_ref(&state->server, state->opts.serverid);
	if (state->opts.api_key != NULL && segment_shared_enabled())
		segment_workspace_ref(&state->workspace, state->opts.url,
							  state->opts.api_key);
	state->endpoint = &segment_endpoints[state->opts.endpoint];
	segment_get_columns(relid, state->endpoint, &state->cols);

	for (field = 0; field < SEGMENT_NUM_FIELDS; field++)
	{
		Oid			infunc;

		if (state->cols.attnum[field] == 0)
			continue;
		getTypeInputInfo(state->cols.typid[field], &infunc,
						 &state->input[field].ioparam);
		fmgr_info(infunc, &state->input[field].func);
		state->input[field].typmod =
			TupleDescAttr(RelationGetDescr(node->ss.ss_currentRelation),
						  state->cols.attnum[field] - 1)->atttypmod;
	}

	state->id_max_chars = -1;
	if (state->cols.attnum[SEGMENT_FIELD_SEGMENT_ID] != 0)
		state->id_max_chars =
			segment_id_max_chars(state->cols.typid[SEGMENT_FIELD_SEGMENT_ID],
								 state->input[SEGMENT_FIELD_SEGMENT_ID].typmod);

	state->cond_kinds = (List *) list_nth(fsplan->fdw_private,
										  FdwScanPrivateCondKinds);
	state->or_groups = (List *) list_nth(fsplan->fdw_private,
										 FdwScanPrivateOrGroups);
	state->or_branches = (List *) list_nth(fsplan->fdw_private,
										   FdwScanPrivateOrBranches);
	state->cond_exprs = fsplan->fdw_exprs;
	state->batched = intVal(list_nth(fsplan->fdw_private,
									 FdwScanPrivateBatched)) != 0;
	state->cond_states = ExecInitExprList(fsplan->fdw_exprs,
										  (PlanState *) node);

	state->scan_cxt = AllocSetContextCreate(estate->es_query_cxt,
											"segment_fdw scan",
											ALLOCSET_DEFAULT_SIZES);
	state->run_cxt = AllocSetContextCreate(state->scan_cxt,
										   "segment_fdw run",
										   ALLOCSET_DEFAULT_SIZES);
	state->batch_cxt = AllocSetContextCreate(state->scan_cxt,
											 "segment_fdw batch",
											 ALLOCSET_DEFAULT_SIZES);

	state->cache_cxt = AllocSetContextCreate(state->scan_cxt,
											 "segment_fdw cache",
											 ALLOCSET_DEFAULT_SIZES);
	create_cache(state);

	if (state->opts.api_key == NULL && !(eflags & EXEC_FLAG_EXPLAIN_ONLY))
	{
		const char *server = GetForeignServer(GetForeignTable(relid)->serverid)->servername;

		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("user mapping for server \"%s\" has no \"api_key\" option",
						server),
				 errhint("Set it with ALTER USER MAPPING FOR CURRENT_USER SERVER %s OPTIONS (ADD api_key '...').",
						 quote_identifier(server))));
	}
}

/*
 * Evaluate the scan's conditions and build the plan of this run's
 * requests, in the run's memory context.
 */
static SegmentRequestList *
compute_requests(SegmentScanState *state, ExprContext *econtext)
{
	int			n = list_length(state->cond_states);
	SegmentCondValue *vals = palloc0(sizeof(SegmentCondValue) * (n + 1));
	MemoryContext oldcxt;
	ListCell   *lc1,
			   *lc2,
			   *lc3;
	int			i = 0;
	SegmentRequestList *plan;

	forthree(lc1, state->cond_states, lc2, state->cond_kinds,
			 lc3, state->cond_exprs)
	{
		vals[i].kind = (SegmentCondKind) lfirst_int(lc2);
		vals[i].type = exprType((Node *) lfirst(lc3));
		vals[i].value = ExecEvalExpr((ExprState *) lfirst(lc1), econtext,
									 &vals[i].isnull);
		vals[i].or_group = list_nth_int(state->or_groups, i);
		vals[i].or_branch = list_nth_int(state->or_branches, i);
		i++;
	}
	if (state->batched)
	{
		/* the segments of a batched join: its outer side's distinct ids */
		vals[n].kind = SEGMENT_COND_SEGMENT_ANY;
		vals[n].type = TEXTARRAYOID;
		vals[n].value = state->batch_ids;
		vals[n].isnull = false;
		n++;
	}

	oldcxt = MemoryContextSwitchTo(state->run_cxt);
	plan = segment_requests_build(&state->opts,
							  state->cols.typid[SEGMENT_FIELD_TIME],
							  state->id_max_chars, vals, n);
	MemoryContextSwitchTo(oldcxt);
	return plan;
}

/*
 * Start a run: plan its requests, and refuse it if it would send more than
 * max_requests.  The cap counts every request of the run, those the cache
 * answers included, so it depends on the query alone; a nested loop checks
 * it at each outer row.  Requests are built and fetched as rows are asked
 * for (next_response).
 */
static void
start_run(SegmentScanState *state, ExprContext *econtext)
{
	/*
	 * A long nested loop over ever new segments would grow the cache without
	 * end: once full, start it over.  Only here, between runs: within a run,
	 * what was found cached must stay there.
	 */
	if (state->cache_full)
	{
		MemoryContextReset(state->cache_cxt);
		create_cache(state);
	}

	state->requests = compute_requests(state, econtext);
	/* a batched join counts the requests of its whole run instead */
	if (!state->batched)
	{
		segment_requests_check_cap(state->requests, state->relname,
								   state->opts.max_requests);
		/* every request of the run counts, those the caches may answer too */
		segment_fetch_check_budget(&state->opts, state->relname,
								   state->requests->nrequests);
	}
	state->started = true;
	state->runs++;
	state->next_item = 0;
	state->next_pull = 0;
	state->shared_decided = 0;
	state->last_page_full = false;
}

/*
 * The fetch's source of requests: the next request of the plan that the
 * cache cannot answer.  Its decisions agree with next_response's, since
 * within a run the cache only gains the responses of requests already
 * handed back, and no two requests of a run are the same.
 */
static bool
pull_request(void *arg, SegmentRequest *req)
{
	SegmentScanState *state = (SegmentScanState *) arg;

	while (state->next_pull < state->requests->nrequests)
	{
		if (!request_is_cached(state, state->next_pull++, req))
			return true;
		/* the fetch resets this memory only when it takes a request */
		free_request(state->requests, req);
	}
	return false;
}

/*
 * Fill in request "i" of the run in "req"; is its response in the cache?
 */
static bool
request_is_cached(SegmentScanState *state, int64 i, SegmentRequest *req)
{
	char	   *key;
	bool		cached;

	segment_requests_get(state->requests, i, req);
	key = request_key(req);
	/* next_response has already decided about the shared cache before */
	cached = hash_search(state->cache, &key, HASH_FIND, NULL) != NULL ||
		(i >= state->shared_decided && take_shared_window(state, req, key));
	pfree(key);
	return cached;
}

/*
 * Could the shared cache answer "req": a window of data_series whose every
 * day is settled (before yesterday, in UTC), with the cache on?
 */
static bool
shared_cacheable(SegmentScanState *state, const SegmentRequest *req)
{
	DateADT		today = (DateADT) (GetCurrentTimestamp() / USECS_PER_DAY);

	if (!state->endpoint->windows || state->requests->parameter_mode ||
		state->opts.cache_ttl_ms <= 0 || state->opts.api_key == NULL ||
		!segment_shared_enabled() ||
		DATE_NOT_FINITE(req->first_day) || DATE_NOT_FINITE(req->last_day))
		return false;
	/* the request asks for the day after its last too */
	return req->last_day + 1 <= today - 2;
}

/*
 * Answer "req" (whose key in the scan's cache is "key") from the shared
 * cache, if it holds the window and the scan's cache has room for it; the
 * window then joins the scan's cache, where the fetch and next_response
 * both find it.
 */
static bool
take_shared_window(SegmentScanState *state, SegmentRequest *req, char *key)
{
	CachedResponse *entry;
	SegmentRow *rows;
	MemoryContext oldcxt;
	int			nrows;
	bool		found;

	if (state->cache_full ||
		hash_get_num_entries(state->cache) >= MAX_CACHED_RESPONSES ||
		!shared_cacheable(state, req))
		return false;
	oldcxt = MemoryContextSwitchTo(state->cache_cxt);
	found = segment_cache_get(&state->workspace, req->target, &rows, &nrows);
	if (found && state->cached_rows + nrows > MAX_CACHED_ROWS)
	{
		pfree(rows);
		found = false;
	}
	if (found)
	{
		key = pstrdup(key);
		entry = (CachedResponse *) hash_search(state->cache, &key, HASH_ENTER,
											   NULL);
		entry->rows = rows;
		entry->nrows = nrows;
		state->cached_rows += nrows;
		state->stats.cache_hits++;
		segment_shared_count(&state->server, SEGMENT_COUNT_CACHE_HITS, 1);
	}
	MemoryContextSwitchTo(oldcxt);
	return found;
}

/*
 * Free the strings segment_requests_get made for "req" of "plan".
 */
static void
free_request(const SegmentRequestList *list, SegmentRequest *req)
{
	pfree(req->url);
	pfree(req->target);
	if (!list->parameter_mode && req->ending_at)
		pfree(req->ending_at);
}

/*
 * The hash key of a request: what the API is asked.
 */
static char *
request_key(const SegmentRequest *req)
{
	if (req->endpoint->paged)
		return psprintf("page " INT64_FORMAT, req->page);
	return psprintf("%d|%s|%s", req->length,
					req->ending_at ? req->ending_at : "",
					req->segment_id);
}

/*
 * Hash and match functions for hash tables whose keys are C strings held by
 * pointer: the cache of responses, and the batched join's segment ids.
 */
static uint32
cstring_hash(const void *key, Size keysize)
{
	const char *s = *(char *const *) key;

	return hash_bytes((const unsigned char *) s, (int) strlen(s));
}

static int
cstring_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/*
 * A hash table in "cxt" whose entries, of "entrysize" bytes, begin with a
 * C string key held by pointer.
 */
HTAB *
segment_cstring_hash_create(const char *name, long nelem, Size entrysize,
							MemoryContext cxt)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(char *);
	ctl.entrysize = entrysize;
	ctl.hash = cstring_hash;
	ctl.match = cstring_match;
	ctl.hcxt = cxt;
	return hash_create(name, nelem, &ctl,
					   HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);
}

/*
 * (Re)create the empty cache of responses, in cache_cxt.
 */
static void
create_cache(SegmentScanState *state)
{
	state->cache = segment_cstring_hash_create("segment_fdw responses", 64,
											   sizeof(CachedResponse),
											   state->cache_cxt);
	state->cached_rows = 0;
	state->cache_full = false;
}

static int
row_day_cmp(const void *a, const void *b)
{
	DateADT		da = ((const SegmentRow *) a)->day;
	DateADT		db = ((const SegmentRow *) b)->day;

	return (da > db) - (da < db);
}

/*
 * Put the rows of a response in ascending order of day, whatever order the
 * API used, and refuse a day that comes twice: which of its sizes is right
 * cannot be told, and each day must be returned once.
 */
static void
sort_rows(SegmentRow *rows, int nrows, const SegmentRequest *req)
{
	int			i;

	qsort(rows, nrows, sizeof(SegmentRow), row_day_cmp);
	for (i = 1; i < nrows; i++)
	{
		if (rows[i].day == rows[i - 1].day)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("invalid response from Braze: day %s appears more than once",
							segment_format_day(rows[i].day)),
					 errdetail("A response holds each day once."),
					 segment_request_errcontext(req->target)));
	}
}

/*
 * Receive the response to "req" from the fetch, and keep its rows: only
 * the days the request is for (the margins belong to the neighbouring
 * windows), in day order.  They go into the cache for rescans while it has
 * room; otherwise they live as long as the batch.
 */
static CachedResponse *
receive_response(SegmentScanState *state, SegmentRequest *req, char *key)
{
	SegmentResponse resp;
	void	   *rows;
	void	   *kept;
	CachedResponse *entry;
	int			nrows;
	int			nkept = 0;
	int			i;
	bool		keep;
	MemoryContext batch = MemoryContextSwitchTo(state->batch_cxt);

	/* the body and its parse are batch data */
	if (!segment_fetch_next(state->fetch, &resp))
		elog(ERROR, "segment_fdw: no response for request %s", req->target);
	/* the fetch answers in request order */
	if (strcmp(resp.request->target, req->target) != 0)
		elog(ERROR, "segment_fdw: response to %s received for request %s",
			 resp.request->target, req->target);
	nrows = segment_parse_rows(&resp, state->opts.api_key, &rows);
	segment_fetch_release_body(state->fetch, &resp);

	if (!state->endpoint->windows)
		nkept = nrows;			/* list and details: every row, as it came */
	else
	{
		SegmentRow *series = (SegmentRow *) rows;

		/* the days of the window, in order, in place */
		sort_rows(series, nrows, req);
		for (i = 0; i < nrows; i++)
		{
			if ((DATE_IS_NOBEGIN(req->first_day) || series[i].day >= req->first_day) &&
				(DATE_IS_NOEND(req->last_day) || series[i].day <= req->last_day))
				series[nkept++] = series[i];
		}
		/* settled days, the same for every session with this key */
		if (shared_cacheable(state, req))
			segment_cache_put(&state->workspace, state->opts.url, req->target,
							  series, nkept, state->opts.cache_ttl_ms);
	}

	/*
	 * Keep them for rescans while the cache has room; once it has none, it
	 * starts over at the next run (start_run), never within this one.
	 */
	keep = !state->cache_full &&
		hash_get_num_entries(state->cache) < MAX_CACHED_RESPONSES &&
		state->cached_rows + nkept <= MAX_CACHED_ROWS;
	/* list and details rows carry text: bound their cache by its bytes */
	if (!state->endpoint->windows && keep)
		keep = MemoryContextMemAllocated(state->cache_cxt, true) <
			MAX_CACHED_ROWS * sizeof(SegmentRow);
	if (!keep)
		state->cache_full = true;
	MemoryContextSwitchTo(keep ? state->cache_cxt : state->batch_cxt);
	if (!state->endpoint->windows)
		kept = keep ? copy_info_rows(rows, nkept) : rows;
	else
	{
		kept = palloc(sizeof(SegmentRow) * Max(nkept, 1));
		memcpy(kept, rows, sizeof(SegmentRow) * nkept);
	}

	if (keep)
	{
		bool		found;

		state->cached_rows += nkept;
		key = pstrdup(key);
		entry = (CachedResponse *) hash_search(state->cache, &key, HASH_ENTER,
											   &found);
	}
	else
		entry = palloc(sizeof(CachedResponse));
	entry->rows = kept;
	entry->nrows = nkept;
	MemoryContextSwitchTo(batch);
	return entry;
}

/*
 * A copy of list or details rows and their strings, in the current memory context
 * (the cache's): parsed rows live in the batch's.
 */
static SegmentInfoRow *
copy_info_rows(const void *rows, int nrows)
{
	const SegmentInfoRow *from = (const SegmentInfoRow *) rows;
	SegmentInfoRow *to = palloc0(sizeof(SegmentInfoRow) * Max(nrows, 1));
	int			i,
				f,
				e;

	for (i = 0; i < nrows; i++)
	{
		for (f = 0; f < SEGMENT_NUM_FIELDS; f++)
		{
			if (from[i].values[f])
				to[i].values[f] = pstrdup(from[i].values[f]);
			if (from[i].elems[f])
			{
				to[i].nelems[f] = from[i].nelems[f];
				to[i].elems[f] = palloc(sizeof(char *) * Max(from[i].nelems[f], 1));
				for (e = 0; e < from[i].nelems[f]; e++)
					to[i].elems[f][e] = pstrdup(from[i].elems[f][e]);
			}
		}
	}
	return to;
}

/*
 * Make the next request's rows current: from the cache, or from the next
 * response of the fetch, which starts with the first request the cache
 * cannot answer.  Returns false when the run has no more.
 */
static bool
next_response(SegmentScanState *state)
{
	SegmentRequest *req;
	CachedResponse *entry;
	MemoryContext oldcxt;
	char	   *key;
	ColumnInput *in = &state->input[SEGMENT_FIELD_SEGMENT_ID];

	if (state->next_item >= state->requests->nrequests)
	{
		/*
		 * After a full page, the next one is needed, if max_requests allows:
		 * decided only now that a row past that page is asked for, so that
		 * a LIMIT or EXISTS content with it asks no more.
		 */
		if (!state->last_page_full)
			return false;
		segment_requests_next_page(state->requests, state->relname,
							   state->opts.max_requests);
		state->last_page_full = false;
	}

	/* the request lives as long as its rows are returned: the batch */
	MemoryContextReset(state->batch_cxt);
	oldcxt = MemoryContextSwitchTo(state->batch_cxt);
	req = palloc(sizeof(SegmentRequest));
	segment_requests_get(state->requests, state->next_item, req);
	key = request_key(req);
	entry = (CachedResponse *) hash_search(state->cache, &key, HASH_FIND,
										   NULL);
	/* not pulled by the fetch yet: the shared cache may answer it here */
	if (entry == NULL &&
		(state->fetch == NULL || state->next_item >= state->next_pull))
	{
		if (take_shared_window(state, req, key))
			entry = (CachedResponse *) hash_search(state->cache, &key,
												   HASH_FIND, NULL);
		/* hit or miss, decided: the fetch must not ask again */
		state->shared_decided = Max(state->shared_decided, state->next_item + 1);
	}
	if (entry)
		state->requests_cached++;
	else
	{
		if (state->fetch == NULL)
		{
			/* the requests before this one were all cached */
			state->next_pull = state->next_item;
			MemoryContextSwitchTo(state->run_cxt);
			state->fetch = segment_fetch_begin(state->run_cxt, &state->opts,
											   state->relname, state->subid,
											   pull_request, state,
											   &state->stats);
		}
		entry = receive_response(state, req, key);
		/* the next page is known to be needed only now: a fetch per page */
		if (state->endpoint->paged)
		{
			segment_fetch_end(state->fetch);
			state->fetch = NULL;
		}
	}
	state->next_item++;
	state->last_page_full = state->endpoint->paged &&
		entry->nrows >= SEGMENT_LIST_PAGE_SIZE;

	state->current = req;
	state->rows = entry->rows;
	state->nrows = entry->nrows;
	state->next_row = 0;

	/* one segment_id value serves all the rows of the response */
	MemoryContextSwitchTo(state->batch_cxt);
	if (state->cols.attnum[SEGMENT_FIELD_SEGMENT_ID] != 0)
		state->segment_value = InputFunctionCall(&in->func, req->segment_id,
												 in->ioparam, in->typmod);
	MemoryContextSwitchTo(oldcxt);
	return true;
}

/*
 * Convert a value given as text with the column's input function.
 */
static Datum
input_value(SegmentScanState *state, SegmentField field, char *text)
{
	ColumnInput *in = &state->input[field];

	return InputFunctionCall(&in->func, text, in->ioparam, in->typmod);
}

/*
 * Fill "slot" with one row of the current response.
 */
static void
store_row(SegmentScanState *state, TupleTableSlot *slot, const SegmentRow *row)
{
	Datum	   *values = slot->tts_values;
	bool	   *nulls = slot->tts_isnull;
	SegmentColumns *cols = &state->cols;
	SegmentRequest *req = state->current;
	AttrNumber	att;

	memset(nulls, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);

	if ((att = cols->attnum[SEGMENT_FIELD_SEGMENT_ID]) != 0)
	{
		values[att - 1] = state->segment_value;
		nulls[att - 1] = false;
	}
	if ((att = cols->attnum[SEGMENT_FIELD_TIME]) != 0)
	{
		if (cols->typid[SEGMENT_FIELD_TIME] == DATEOID)
			values[att - 1] = DateADTGetDatum(row->day);
		else
			values[att - 1] = input_value(state, SEGMENT_FIELD_TIME,
										  segment_format_day(row->day));
		nulls[att - 1] = false;
	}
	if ((att = cols->attnum[SEGMENT_FIELD_SIZE]) != 0)
	{
		if (cols->typid[SEGMENT_FIELD_SIZE] == INT8OID)
			values[att - 1] = Int64GetDatum(row->size);
		else
			values[att - 1] = input_value(state, SEGMENT_FIELD_SIZE,
										  psprintf(INT64_FORMAT, row->size));
		nulls[att - 1] = false;
	}
	if ((att = cols->attnum[SEGMENT_FIELD_LENGTH]) != 0 && !req->length_isnull)
	{
		values[att - 1] = input_value(state, SEGMENT_FIELD_LENGTH,
									  psprintf("%d", req->length));
		nulls[att - 1] = false;
	}
	if ((att = cols->attnum[SEGMENT_FIELD_ENDING_AT]) != 0 &&
		!req->ending_at_isnull)
	{
		values[att - 1] = req->ending_at_value;
		nulls[att - 1] = false;
	}
}

/*
 * Fill "slot" with a row of /segments/list or /segments/details: text
 * through the columns' input functions, tags and teams as text[], and
 * segment_id (details) from the request.
 */
static void
store_info_row(SegmentScanState *state, TupleTableSlot *slot,
				  const SegmentInfoRow *row)
{
	Datum	   *values = slot->tts_values;
	bool	   *nulls = slot->tts_isnull;
	SegmentColumns *cols = &state->cols;
	int			field;

	memset(nulls, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
	for (field = 0; field < SEGMENT_NUM_FIELDS; field++)
	{
		AttrNumber	att = cols->attnum[field];

		if (att == 0)
			continue;
		state->converting = (SegmentField) field;
		if (field == SEGMENT_FIELD_SEGMENT_ID)
		{
			/* details: the segment asked for */
			values[att - 1] = state->segment_value;
			nulls[att - 1] = false;
		}
		else if (field == SEGMENT_FIELD_TAGS || field == SEGMENT_FIELD_TEAMS)
		{
			Datum	   *elems;
			int			i;

			if (row->elems[field] == NULL)
				continue;
			elems = palloc(sizeof(Datum) * Max(row->nelems[field], 1));
			for (i = 0; i < row->nelems[field]; i++)
				elems[i] = PointerGetDatum(cstring_to_text(row->elems[field][i]));
			values[att - 1] = PointerGetDatum(construct_array_builtin(elems,
																	  row->nelems[field],
																	  TEXTOID));
			nulls[att - 1] = false;
		}
		else if (row->values[field] != NULL)
		{
			values[att - 1] = input_value(state, (SegmentField) field,
										  row->values[field]);
			nulls[att - 1] = false;
		}
	}
}

/*
 * Error context while converting a row: its day and the request it came
 * from.  The row being converted is the one before next_row.
 */
static void
conversion_error_callback(void *arg)
{
	SegmentScanState *state = (SegmentScanState *) arg;

	if (state->current == NULL || state->next_row <= 0)
		return;
	if (state->endpoint->windows)
		errcontext("day %s of Braze request GET %s",
				   segment_format_day(((SegmentRow *) state->rows)[state->next_row - 1].day),
				   state->current->target);
	else
		errcontext("field \"%s\" of element %d of Braze request GET %s",
				   segment_field_names[state->converting], state->next_row,
				   state->current->target);
}

/*
 * segmentIterateForeignScan
 *		Return the next row.  The first call of a run computes its requests
 *		from the parameter values of the moment and starts fetching.
 */
static TupleTableSlot *
segmentIterateForeignScan(ForeignScanState *node)
{
	SegmentScanState *state = (SegmentScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	ErrorContextCallback errcallback;

	ExecClearTuple(slot);

	if (!state->started)
		start_run(state, node->ss.ps.ps_ExprContext);

	while (state->current == NULL || state->next_row >= state->nrows)
	{
		if (!next_response(state))
			return slot;
	}

	errcallback.callback = conversion_error_callback;
	errcallback.arg = state;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	if (state->endpoint->windows)
		store_row(state, slot, &((SegmentRow *) state->rows)[state->next_row++]);
	else
		store_info_row(state, slot,
						  &((SegmentInfoRow *) state->rows)[state->next_row++]);

	error_context_stack = errcallback.previous;

	ExecStoreVirtualTuple(slot);
	return slot;
}

/*
 * End the current run: abort its transfers and forget its requests.
 */
static void
end_run(SegmentScanState *state)
{
	if (state->fetch)
		segment_fetch_end(state->fetch);
	state->fetch = NULL;
	state->requests = NULL;
	state->next_item = 0;
	state->next_pull = 0;
	state->shared_decided = 0;
	state->current = NULL;
	state->started = false;
	MemoryContextReset(state->batch_cxt);
	MemoryContextReset(state->run_cxt);
}

/*
 * segmentReScanForeignScan
 *		Restart: parameters may have changed, so the requests are computed
 *		again on the next row asked for.  Responses already received stay
 *		cached.
 */
static void
segmentReScanForeignScan(ForeignScanState *node)
{
	end_run((SegmentScanState *) node->fdw_state);
}

/*
 * segmentEndForeignScan
 *		Release the transfers and the memory of the scan.
 */
static void
segmentEndForeignScan(ForeignScanState *node)
{
	SegmentScanState *state = (SegmentScanState *) node->fdw_state;

	if (state == NULL)
		return;
	end_run(state);
	MemoryContextDelete(state->scan_cxt);
	node->fdw_state = NULL;
}

/*
 * Can the conditions be computed without running anything: no parameter
 * set by another plan node and no subplan?
 */
static bool
exec_param_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXEC)
		return true;
	if (IsA(node, SubPlan) || IsA(node, AlternativeSubPlan))
		return true;
	return expression_tree_walker(node, exec_param_walker, context);
}

static bool
conds_are_computable(List *exprs)
{
	return !exec_param_walker((Node *) exprs, NULL);
}

/*
 * The figures of the requests a scan sent, for EXPLAIN ANALYZE.  Timings
 * only with TIMING, so that tests can show the rest.
 */
static void
explain_stats(SegmentScanState *state, ExplainState *es)
{
	SegmentFetchStats *stats = &state->stats;
	StringInfoData buf;
	int			i;

	ExplainPropertyInteger("Braze Requests Sent", NULL, stats->requests, es);
	ExplainPropertyInteger("Braze Retries", NULL, stats->retries, es);
	ExplainPropertyInteger("Braze Responses Reused", NULL,
						   state->requests_cached, es);

	initStringInfo(&buf);
	for (i = 0; i < stats->nstatuses; i++)
		appendStringInfo(&buf, "%s%ld=" INT64_FORMAT, i ? " " : "",
						 stats->status[i], stats->status_count[i]);
	if (stats->transport_errors > 0)
		appendStringInfo(&buf, "%sno response=" INT64_FORMAT,
						 buf.len ? " " : "", stats->transport_errors);
	ExplainPropertyText("Braze Responses", buf.len ? buf.data : "none", es);
	ExplainPropertyInteger("Braze Bytes Received", "bytes", stats->bytes, es);
	if (stats->descriptor_waits > 0)
		ExplainPropertyInteger("Braze Descriptor Waits", NULL,
							   stats->descriptor_waits, es);
	ExplainPropertyInteger("Braze Most In Flight", NULL,
						   stats->max_in_flight, es);
	if (stats->cache_hits > 0)
		ExplainPropertyInteger("Braze Windows From Cache", NULL,
							   stats->cache_hits, es);
	if (es->timing)
		ExplainPropertyFloat("Braze Wait Time", "ms", stats->wait_ms, 3, es);
	if (es->timing && stats->queue_wait_ms > 0)
		ExplainPropertyFloat("Braze Queue Wait Time", "ms",
							 stats->queue_wait_ms, 3, es);
}

/*
 * The scan's conditions as EXPLAIN VERBOSE shows them: "time >= '...'", and
 * an OR of time conditions as the ranges it allows, "time ranges: (time >=
 * '...' AND time <= '...') OR (...)".
 */
static List *
explain_conditions(SegmentScanState *state, ExplainState *es)
{
	List	   *conds = NIL;
	StringInfoData buf;
	int			group = 0;
	int			branch = -1;
	int			i = 0;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, state->cond_exprs)
	{
		const SegmentCondDesc *desc = &segment_conds[list_nth_int(state->cond_kinds, i)];
		int			g = list_nth_int(state->or_groups, i);
		int			b = list_nth_int(state->or_branches, i);
		char	   *cond;

		i++;
		if (desc == &segment_conds[SEGMENT_COND_TIME_NULL])
			cond = pstrdup(desc->label);	/* its value is only a NULL */
		else
			cond = psprintf("%s%s%s", desc->label,
							deparse_expression((Node *) lfirst(lc),
											   es->deparse_cxt, true, false),
							desc->label_end);
		if (g == 0)
		{
			conds = lappend(conds, cond);
			continue;
		}
		if (g != group)
		{
			/* a new OR */
			if (buf.len > 0)
				conds = lappend(conds, psprintf("%s)", buf.data));
			resetStringInfo(&buf);
			appendStringInfo(&buf, "%s(%s",
							 segment_conds[SEGMENT_COND_TIME_OR].label, cond);
			group = g;
		}
		else if (b != branch)
			appendStringInfo(&buf, ") OR (%s", cond);
		else
			appendStringInfo(&buf, " AND %s", cond);
		branch = b;
	}
	if (buf.len > 0)
		conds = lappend(conds, psprintf("%s)", buf.data));
	return conds;
}

/*
 * segmentExplainForeignScan
 *		With VERBOSE, show the pushed-down conditions and the requests the
 *		scan sends (path and query string; never the host's key).  Plain
 *		EXPLAIN computes the requests from constants and bound parameters
 *		only and sends nothing.
 */
static void
segmentExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	SegmentScanState *state = (SegmentScanState *) node->fdw_state;
	List	   *conds = NIL;
	List	   *targets = NIL;
	SegmentRequestList *plan;
	ListCell   *lc1;
	bool		computable;
	int64		shown;
	int64		n;
	int64		i;

	if (!es->verbose)
		return;

	conds = explain_conditions(state, es);
	if (conds != NIL)
		ExplainPropertyList("Braze Conditions", conds, es);

	if (state->runs > 1)
	{
		/* rescanned: each run had its own requests */
		ExplainPropertyInteger("Braze Runs", NULL, state->runs, es);
		explain_stats(state, es);
		return;
	}
	computable = conds_are_computable(state->cond_exprs);
	/* EXPLAIN (GENERIC_PLAN): the parameters have no values */
	computable = computable && !explain_is_generic_plan(es);
	if (state->endpoint->paged && !state->started)
	{
		/* how many pages is known only as they come */
		SegmentRequest req;

		plan = compute_requests(state, node->ss.ps.ps_ExprContext);
		segment_requests_get(plan, 0, &req);
		ExplainPropertyText("Braze Requests",
							psprintf("one per page, until a page holds fewer than %d segments",
									 SEGMENT_LIST_PAGE_SIZE), es);
		ExplainPropertyText("Braze Request",
							(es->format == EXPLAIN_FORMAT_TEXT) ?
							psprintf("GET %s", req.target) : req.target, es);
		return;
	}
	if (state->started)
		plan = state->requests;
	else if (state->batched)
	{
		ExplainPropertyText("Braze Requests",
							"one per distinct segment_id of the join's outer side (and window), computed at execution",
							es);
		if (es->analyze)
			explain_stats(state, es);
		return;
	}
	else if (computable)
		plan = compute_requests(state, node->ss.ps.ps_ExprContext);
	else
	{
		ExplainPropertyText("Braze Requests", "computed at execution", es);
		return;
	}

	/*
	 * The count, and the first few requests of many, built on demand: plain
	 * EXPLAIN costs the same for any number of requests, and shows a count
	 * over max_requests without failing.
	 */
	n = plan->nrequests;
	shown = (n > EXPLAIN_MAX_REQUESTS + 1) ? EXPLAIN_MAX_REQUESTS : n;
	for (i = 0; i < shown; i++)
	{
		SegmentRequest req;

		segment_requests_get(plan, i, &req);
		targets = lappend(targets, (es->format == EXPLAIN_FORMAT_TEXT) ?
						  psprintf("GET %s", req.target) : req.target);
	}
	if (shown < n)
		targets = lappend(targets, psprintf("... " INT64_FORMAT " more", n - shown));

	if (es->format != EXPLAIN_FORMAT_TEXT)
	{
		ExplainPropertyInteger("Braze Request Count", NULL, n, es);
		ExplainPropertyList("Braze Requests", targets, es);
	}
	else
	{
		/* text: one line each */
		ExplainPropertyInteger("Braze Requests", NULL, n, es);
		foreach(lc1, targets)
			ExplainPropertyText("Braze Request", (char *) lfirst(lc1), es);
	}

	if (es->analyze)
		explain_stats(state, es);
}

/*
 * segmentImportForeignSchema
 *		The API has one "schema", segments, with a table per endpoint:
 *		data_series, segments (list) and segment_details (details).
 *		LIMIT TO and EXCEPT name them; the core drops the tables LIMIT TO
 *		does not name, and complains of none.
 */
static List *
segmentImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	List	   *commands = NIL;
	int			i;

	if (strcmp(stmt->remote_schema, "segments") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_SCHEMA_NOT_FOUND),
				 errmsg("schema \"%s\" is not present on foreign server \"%s\"",
						stmt->remote_schema, server->servername),
				 errhint("The Braze API has one schema, \"segments\", with the tables \"data_series\", \"segments\" and \"segment_details\".")));

	for (i = 0; i < SEGMENT_NUM_ENDPOINTS; i++)
	{
		const SegmentEndpoint *endpoint = &segment_endpoints[i];
		bool		listed = false;
		ListCell   *lc;

		foreach(lc, stmt->table_list)
		{
			if (strcmp(((RangeVar *) lfirst(lc))->relname, endpoint->table) == 0)
				listed = true;
		}
		if ((stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO && !listed) ||
			(stmt->list_type == FDW_IMPORT_SCHEMA_EXCEPT && listed))
			continue;

		/* data_series is the default endpoint: its table needs no option */
		commands = lappend(commands,
						   psprintf("CREATE FOREIGN TABLE %s (%s) SERVER %s%s",
									quote_identifier(endpoint->table),
									endpoint->columns,
									quote_identifier(server->servername),
									i == SEGMENT_ENDPOINT_DATA_SERIES ? "" :
									psprintf(" OPTIONS (endpoint %s)",
											 quote_literal_cstr(endpoint->name))));
	}
	return commands;
}

/*
 * Can a batched join (join.c) have "rel" as its inner side: a scan of a
 * segment_fdw table whose requests name a segment taken from its
 * segment_id column?  Then "cols" is set to its columns.
 */
bool
segment_rel_batchable(RelOptInfo *rel, const SegmentColumns **cols)
{
	SegmentRelInfo *info;

	if (rel->reloptkind != RELOPT_BASEREL || rel->rtekind != RTE_RELATION ||
		rel->fdwroutine == NULL ||
		rel->fdwroutine->GetForeignRelSize != segmentGetForeignRelSize ||
		rel->fdw_private == NULL)
		return false;
	info = (SegmentRelInfo *) rel->fdw_private;
	if (!info->endpoint->needs_segment || info->endpoint->paged ||
		info->opts.segment_id != NULL ||
		info->cols.attnum[SEGMENT_FIELD_SEGMENT_ID] == 0)
		return false;
	/* days given by other relations: a nested loop passes them */
	if (!bms_is_empty(info->time_outer))
		return false;
	*cols = &info->cols;
	return true;
}

/*
 * Is the clause of "rinfo" one that a scan of "rel" (batchable) could turn
 * into requests, and which?
 */
bool
segment_rel_clause_cond(PlannerInfo *root, RelOptInfo *rel,
						RestrictInfo *rinfo, SegmentCond *cond)
{
	return classify_clause(root, rel, (SegmentRelInfo *) rel->fdw_private,
						   rinfo, cond);
}

/*
 * The cost of one run of a scan of "rel" over "segments" segments, all
 * fetched max_concurrency at a time, and the rows it returns.
 */
void
segment_rel_batch_cost(RelOptInfo *rel, double segments, double *rows,
					   Cost *startup_cost, Cost *total_cost)
{
	SegmentRelInfo *info = (SegmentRelInfo *) rel->fdw_private;

	if (info->segments > 0)
		segments = Min(segments, info->segments);
	segments = Max(segments, 1);
	*rows = clamp_row_est(segments * info->days * info->local_selectivity);
	estimate_costs(info, segments, *rows, startup_cost, total_cost);
}

/*
 * The segments a round of a batched join asks for: about
 * ROUND_REQUESTS_PER_SLOT requests for each of "max_concurrency" slots, at
 * "per_segment" requests each; one at least.
 */
static int
round_segments(int max_concurrency, double per_segment)
{
	return (int) Max(1, floor((double) max_concurrency *
							  ROUND_REQUESTS_PER_SLOT / Max(per_segment, 1)));
}

/*
 * How many segments a round of a batched join over "rel" is expected to
 * ask for (segment_scan_begin_batch decides it at execution).
 */
double
segment_rel_round_segments(RelOptInfo *rel)
{
	SegmentRelInfo *info = (SegmentRelInfo *) rel->fdw_private;

	return round_segments(info->opts.max_concurrency,
						  segment_estimate_requests(info->days));
}

/*
 * The unparameterized path of the inner scan of a batched join over "rel":
 * marked so that its plan takes its segments from the join.
 */
Path *
segment_batch_inner_path(PlannerInfo *root, RelOptInfo *rel, double rows,
						 Cost startup_cost, Cost total_cost)
{
	return (Path *) create_foreignscan_path(root, rel,
											NULL,
											rows,
											0,
											startup_cost,
											total_cost,
											NIL,
											NULL,
											NULL,
											NIL,
											list_make1(makeInteger(1)));
}

/*
 * Is "ps" the batched inner scan of a join (join.c), a segment_fdw
 * ForeignScan whose plan was made for it?
 */
bool
segment_scan_is_batched(PlanState *ps)
{
	ForeignScanState *node = (ForeignScanState *) ps;

	return IsA(ps, ForeignScanState) &&
		node->fdwroutine != NULL &&
		node->fdwroutine->BeginForeignScan == segmentBeginForeignScan &&
		node->fdw_state != NULL &&
		((SegmentScanState *) node->fdw_state)->batched;
}

/*
 * The state of a batched scan, for the entry points join.c calls; an error,
 * not a crash, for any other node.
 */
static SegmentScanState *
batched_state(ForeignScanState *node)
{
	if (!segment_scan_is_batched(&node->ss.ps))
		elog(ERROR, "segment_fdw: node %d is not a batched foreign scan",
			 (int) nodeTag(node));
	return (SegmentScanState *) node->fdw_state;
}

/*
 * Could a row of the scan have segment_id "id": would it be sent?  Not an
 * empty id (Braze has none), nor one longer than a varchar(n) column holds
 * (its input function would make another id of it).
 */
bool
segment_scan_id_is_sendable(ForeignScanState *node, const char *id)
{
	SegmentScanState *state = batched_state(node);

	return segment_id_is_sendable(id, state->id_max_chars);
}

/*
 * A batched join starts a run over this scan, which it has just rescanned:
 * evaluate its own conditions once to learn how many requests each segment
 * id costs (0 when its days are empty: nothing will be sent), and so how
 * many ids a round should hold (round_segments).  The run's count of
 * requests starts over.
 */
int64
segment_scan_begin_batch(ForeignScanState *node, int *round_ids)
{
	SegmentScanState *state = batched_state(node);
	int64		per_id;
	MemoryContext oldcxt = MemoryContextSwitchTo(state->run_cxt);

	state->batch_ids = PointerGetDatum(construct_empty_array(TEXTOID));
	per_id = compute_requests(state, node->ss.ps.ps_ExprContext)->windows_per_segment;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextReset(state->run_cxt);
	state->batch_ids = (Datum) 0;
	state->batch_requests = 0;
	*round_ids = round_segments(state->opts.max_concurrency, (double) per_id);
	return per_id;
}

/*
 * How many of the requests of the run just started the cache cannot answer:
 * those that will be sent.
 */
static int64
uncached_requests(SegmentScanState *state)
{
	int64		n = 0;
	int64		i;

	for (i = 0; i < state->requests->nrequests; i++)
	{
		SegmentRequest req;

		if (!request_is_cached(state, i, &req))
			n++;
		free_request(state->requests, &req);
	}
	return n;
}

/*
 * Start the run of one round of a batched join over the segment ids "ids"
 * (a text[] that must live until the run ends).  The requests it will send,
 * those the scan's kept responses cannot answer, count against
 * max_requests together with those of the join's earlier rounds: a round
 * that would pass it is refused before it sends any.  The first requests
 * are sent at once, so that they are in flight while the join works on the
 * round before.
 */
void
segment_scan_start_batch(ForeignScanState *node, Datum ids)
{
	SegmentScanState *state = batched_state(node);
	MemoryContext oldcxt;
	int64		sent;

	Assert(state->batched && !state->started);
	/* the values of the conditions and the plan are the round's */
	oldcxt = MemoryContextSwitchTo(state->run_cxt);
	state->batch_ids = ids;
	start_run(state, node->ss.ps.ps_ExprContext);
	sent = uncached_requests(state);
	if (state->batch_requests + sent > state->opts.max_requests)
		segment_requests_refuse_batch(state->relname, state->opts.max_requests,
								  state->batch_requests, sent);
	segment_fetch_check_budget(&state->opts, state->relname, sent);
	state->batch_requests += sent;
	if (sent > 0)
	{
		state->fetch = segment_fetch_begin(state->run_cxt, &state->opts,
										   state->relname, state->subid,
										   pull_request, state, &state->stats);
		segment_fetch_start(state->fetch);
	}
	MemoryContextSwitchTo(oldcxt);
}
