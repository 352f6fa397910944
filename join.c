/*-------------------------------------------------------------------------
 *
 * join.c
 *		  Joins on segment_id whose inner side is a segment_fdw table,
 *		  fetched concurrently, in rounds
 *
 * A nested loop asks Braze once per outer row, one request after another.
 * This file adds, through set_join_pathlist_hook, a CustomScan join
 * ("SegmentBatchJoin") for inner, left, semi and anti joins whose inner
 * relation is a segment_fdw scan and whose join clauses include
 * inner.segment_id = <expression of the outer side>.  At execution it
 * works in rounds, each as a hash join builds before it probes:
 *
 *	1. the outer child is read until its rows give as many distinct ids as
 *	   a round takes (about four requests per max_concurrency slot); the
 *	   rows go to the round's tuplestore (which spills to disk past
 *	   work_mem), the ids to its hash table;
 *	2. the inner child, an ordinary segment_fdw ForeignScan marked as
 *	   batched, runs with segment_id = ANY (the round's ids) added to its
 *	   own conditions, so its requests go max_concurrency at a time, each
 *	   distinct id of the round once (an id of an earlier round is answered
 *	   from the scan's kept responses while they hold it); its rows are
 *	   kept in the round's hash table;
 *	3. the next round is read and its inner run started (its first
 *	   requests in flight), then the round's rows are read back and each is
 *	   joined with the inner rows of its id, all the join's clauses checked
 *	   by ExecQual.
 *
 * So a LIMIT or EXISTS stops after two rounds at most, and memory holds one
 * round's inner rows (and two rounds' outer rows).  max_requests counts the
 * requests the rounds send, over the whole run.  The inner plan must be the scan
 * itself: a one-time filter (a Result) above it keeps the nested loop, and
 * the node is checked again when the join starts.
 *
 * The join's clauses and the outer key are the CustomScan's custom_exprs,
 * where setrefs.c turns their Vars into references to the scan tuple
 * (custom_scan_tlist, the columns of both sides) and records what the plan
 * depends on, as for any plan node's expressions.  Shapes this file does not take (LATERAL, time
 * bounds passed by the join, sub-selects in the join clauses, FOR UPDATE)
 * keep the parameterized nested loop.  segment_fdw.batch_joins = off
 * turns it off.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "nodes/extensible.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/paths.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "optimizer/tlist.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/ruleutils.h"
#include "utils/selfuncs.h"
#include "utils/tuplestore.h"

#include "segment_fdw.h"

/* segment_fdw.batch_joins */
bool		segment_batch_joins = true;

static set_join_pathlist_hook_type prev_join_pathlist_hook = NULL;

/* Indexes of the items of the CustomScan's custom_exprs */
enum SegmentJoinExprs
{
	JoinExprJoinQuals,			/* List: the join's own clauses */
	JoinExprOtherQuals,			/* List: clauses on the joined row */
	JoinExprOuterKey			/* Expr: the outer side's segment id */
};

/* Indexes of the items of the CustomScan's custom_private */
enum SegmentJoinPrivate
{
	JoinPrivateJoinType,		/* Integer: the JoinType */
	JoinPrivateSides,			/* IntList: per scan column, 0 outer, 1 inner */
	JoinPrivateResnos,			/* IntList: its column in that child */
	JoinPrivateInnerKey			/* Integer: inner child's segment_id column */
};

/* The path: a CustomPath and what its plan needs */
typedef struct SegmentJoinPath
{
	CustomPath	cpath;
	JoinType	jointype;
	List	   *restrictlist;	/* RestrictInfos of the join */
	Expr	   *outer_key;		/* outer side of inner.segment_id = expr */
	Var		   *inner_key;		/* inner.segment_id */
} SegmentJoinPath;

/* Inner rows of one segment id */
typedef struct InnerRows
{
	char	   *id;				/* hash key */
	List	   *tuples;			/* MinimalTuple */
} InnerRows;

/*
 * A round: consecutive outer rows that give at most round_ids distinct
 * sendable ids, and, once its inner run has been read, the inner rows of
 * those ids.
 */
typedef struct JoinRound
{
	MemoryContext cxt;			/* the ids, their array, the inner rows */
	Tuplestorestate *rows;		/* the round's outer rows */
	int64		nrows;
	HTAB	   *ids;			/* InnerRows by id */
	Datum	   *elems;			/* the same ids, as text, for the inner scan */
	int			nelems;
	int			capacity;
	bool		launched;		/* its inner run was started */
} JoinRound;

/* Execution state */
typedef struct SegmentJoinState
{
	CustomScanState css;
	JoinType	jointype;
	ExprState  *joinqual;
	ExprState  *otherqual;
	ExprState  *outer_key;
	int			ncols;			/* of the scan tuple */
	int		   *sides;
	AttrNumber *resnos;
	AttrNumber	inner_key;
	PlanState  *outer_ps;
	ForeignScanState *inner_ps;

	/* one run: the outer side read to its end, round by round */
	bool		run_started;
	bool		outer_done;		/* the outer child returned its last row */
	MemoryContext run_cxt;		/* the ids of the run (seen) */
	HTAB	   *seen;			/* every sendable id of the run, once, for
								 * EXPLAIN ANALYZE */
	int64		requests_per_id;	/* of the inner scan; 0: none is sent;
									 * -1: not known before the first id */
	int			round_ids;		/* distinct ids a round holds at most */
	JoinRound	rounds[2];		/* the one being joined, and the next */
	int			cur;			/* index of the one being joined */
	TupleTableSlot *carried;	/* the first outer row of the next round */
	bool		have_carried;

	TupleTableSlot *outer_slot; /* a row read back from a round */
	TupleTableSlot *inner_slot; /* an inner row of the hash table */

	/* the outer row being joined */
	bool		have_outer;
	List	   *candidates;
	int			next_candidate;
	bool		matched;

	/* figures for EXPLAIN ANALYZE, of the latest run */
	int64		nouter;
	int64		nrounds;		/* inner runs started */
	bool		spilled;		/* a round's outer rows went to disk */
} SegmentJoinState;

static void segment_join_pathlist(PlannerInfo *root, RelOptInfo *joinrel,
								  RelOptInfo *outerrel, RelOptInfo *innerrel,
								  JoinType jointype, JoinPathExtraData *extra);
static bool join_shape_is_batchable(PlannerInfo *root, RelOptInfo *joinrel,
									RelOptInfo *outerrel, RelOptInfo *innerrel,
									JoinType jointype,
									const SegmentColumns **cols);
static bool find_segment_key(PlannerInfo *root, RelOptInfo *joinrel,
							 RelOptInfo *outerrel, RelOptInfo *innerrel,
							 JoinType jointype, JoinPathExtraData *extra,
							 const SegmentColumns *cols, Expr **outer_key,
							 Var **inner_key);
static void add_batched_path(PlannerInfo *root, RelOptInfo *joinrel,
							 RelOptInfo *outerrel, RelOptInfo *innerrel,
							 JoinType jointype, JoinPathExtraData *extra,
							 Expr *outer_key, Var *inner_key);
static Node *with_scan_nullingrels(Node *node, void *context);
static Plan *plan_join_path(PlannerInfo *root, RelOptInfo *rel,
							CustomPath *best_path, List *tlist,
							List *clauses, List *custom_plans);
static Node *create_join_state(CustomScan *cscan);
static void begin_join(CustomScanState *node, EState *estate, int eflags);
static TupleTableSlot *exec_join(CustomScanState *node);
static void end_join(CustomScanState *node);
static void rescan_join(CustomScanState *node);
static void explain_join(CustomScanState *node, List *ancestors,
						 ExplainState *es);

static const CustomPathMethods join_path_methods = {
	.CustomName = "SegmentBatchJoin",
	.PlanCustomPath = plan_join_path,
};

static const CustomScanMethods join_scan_methods = {
	.CustomName = "SegmentBatchJoin",
	.CreateCustomScanState = create_join_state,
};

static const CustomExecMethods join_exec_methods = {
	.CustomName = "SegmentBatchJoin",
	.BeginCustomScan = begin_join,
	.ExecCustomScan = exec_join,
	.EndCustomScan = end_join,
	.ReScanCustomScan = rescan_join,
	.ExplainCustomScan = explain_join,
};

/*
 * Called by _PG_init: the setting, the hook, and the plan node's methods.
 */
void
segment_join_init(void)
{
	DefineCustomBoolVariable("segment_fdw.batch_joins",
							 "Fetches a join's segments from Braze concurrently, in rounds.",
							 "A join on segment_id whose inner side is a segment_fdw table reads its outer side a round of segments at a time and asks for them max_concurrency at a time; off leaves such joins to a nested loop, one request after another.",
							 &segment_batch_joins,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	RegisterCustomScanMethods(&join_scan_methods);
	prev_join_pathlist_hook = set_join_pathlist_hook;
	set_join_pathlist_hook = segment_join_pathlist;
}

/*
 * Does the expression hold something the plan node cannot evaluate from
 * its own scan tuple: a parameter set by another node, a sub-select, or a
 * placeholder for a lower join's value?
 */
static bool
needs_outside_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXEC)
		return true;
	if (IsA(node, SubPlan) || IsA(node, AlternativeSubPlan) ||
		IsA(node, SubLink) || IsA(node, PlaceHolderVar))
		return true;
	if (IsA(node, Var) && ((Var *) node)->varlevelsup > 0)
		return true;
	return expression_tree_walker(node, needs_outside_walker, context);
}

/*
 * set_join_pathlist_hook: offer the batched join when the inner relation
 * is a segment_fdw scan joined on its segment_id.
 */
static void
segment_join_pathlist(PlannerInfo *root, RelOptInfo *joinrel,
					  RelOptInfo *outerrel, RelOptInfo *innerrel,
					  JoinType jointype, JoinPathExtraData *extra)
{
	const SegmentColumns *cols;
	Expr	   *outer_key;
	Var		   *inner_key;

	if (prev_join_pathlist_hook)
		prev_join_pathlist_hook(root, joinrel, outerrel, innerrel,
								jointype, extra);

	if (segment_batch_joins &&
		join_shape_is_batchable(root, joinrel, outerrel, innerrel, jointype,
								&cols) &&
		find_segment_key(root, joinrel, outerrel, innerrel, jointype, extra,
						 cols, &outer_key, &inner_key))
		add_batched_path(root, joinrel, outerrel, innerrel, jointype, extra,
						 outer_key, inner_key);
}

/*
 * Is the join one the batched join can run: an inner, left, semi or anti
 * join whose inner relation is a plain segment_fdw scan, with no LATERAL
 * reference, row mark or value from outside its own rows?  Sets *cols to
 * the inner relation's columns.
 */
static bool
join_shape_is_batchable(PlannerInfo *root, RelOptInfo *joinrel,
						RelOptInfo *outerrel, RelOptInfo *innerrel,
						JoinType jointype, const SegmentColumns **cols)
{
	Path	   *outer_path = outerrel->cheapest_total_path;
	ListCell   *lc;

	if (jointype != JOIN_INNER && jointype != JOIN_LEFT &&
		jointype != JOIN_SEMI && jointype != JOIN_ANTI)
		return false;
	if (!segment_rel_batchable(innerrel, cols))
		return false;

	/*
	 * LATERAL references keep the nested loop; so do row marks (FOR UPDATE,
	 * or the other relations of an UPDATE or DELETE), whose EvalPlanQual
	 * recheck this node does not do.
	 */
	if (!bms_is_empty(joinrel->lateral_relids) ||
		!bms_is_empty(innerrel->lateral_relids) ||
		!bms_is_empty(outerrel->lateral_relids) ||
		root->rowMarks != NIL)
		return false;

	/*
	 * The inner plan must be the foreign scan itself.  A condition of the
	 * inner relation that references none of its columns (current_user in
	 * a view, a parameter of a generic plan) would become a one-time filter,
	 * a Result node above the scan: keep the nested loop then.
	 */
	foreach(lc, innerrel->baserestrictinfo)
	{
		if (lfirst_node(RestrictInfo, lc)->pseudoconstant)
			return false;
	}
	if (outer_path == NULL || !bms_is_empty(PATH_REQ_OUTER(outer_path)))
		return false;
	return !needs_outside_walker((Node *) joinrel->reltarget->exprs, NULL);
}

/*
 * Find inner.segment_id = <expression of the outer side> among the join's
 * clauses: *outer_key is the expression, *inner_key the inner column.
 * False when there is none, or when a clause keeps the nested loop (a
 * time bound given by the join, a sub-select, a one-time filter).
 */
static bool
find_segment_key(PlannerInfo *root, RelOptInfo *joinrel,
				 RelOptInfo *outerrel, RelOptInfo *innerrel,
				 JoinType jointype, JoinPathExtraData *extra,
				 const SegmentColumns *cols, Expr **outer_key,
				 Var **inner_key)
{
	ListCell   *lc;

	*outer_key = NULL;
	*inner_key = NULL;
	foreach(lc, extra->restrictlist)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		SegmentCond cond;

		if (rinfo->pseudoconstant ||
			needs_outside_walker((Node *) rinfo->clause, NULL))
			return false;
		if (!segment_rel_clause_cond(root, innerrel, rinfo, &cond))
			continue;
		if (!segment_cond_is_segment(cond.kind))
		{
			/* a time or parameter bound given by the join: nested loop */
			return false;
		}
		if (*outer_key == NULL && cond.kind == SEGMENT_COND_SEGMENT_EQ &&
			!(IS_OUTER_JOIN(jointype) &&
			  RINFO_IS_PUSHED_DOWN(rinfo, joinrel->relids)) &&
			bms_is_subset(pull_varnos(root, (Node *) cond.expr),
						  outerrel->relids) &&
			!bms_is_empty(pull_varnos(root, (Node *) cond.expr)))
		{
			*outer_key = cond.expr;
			*inner_key = makeVar(innerrel->relid,
								 cols->attnum[SEGMENT_FIELD_SEGMENT_ID],
								 cols->typid[SEGMENT_FIELD_SEGMENT_ID],
								 -1, InvalidOid, 0);
		}
	}
	return *outer_key != NULL;
}

/*
 * Add the batched join's path to "joinrel".
 *
 * Costs: the outer side, and the inner scan over its distinct ids,
 * max_concurrency at a time; a nested loop pays a round trip per outer row
 * instead.  The first row comes once the first round's ids are answered
 * and the second round's are read: what a LIMIT pays.
 */
static void
add_batched_path(PlannerInfo *root, RelOptInfo *joinrel,
				 RelOptInfo *outerrel, RelOptInfo *innerrel,
				 JoinType jointype, JoinPathExtraData *extra,
				 Expr *outer_key, Var *inner_key)
{
	Path	   *outer_path = outerrel->cheapest_total_path;
	SegmentJoinPath *path;
	Path	   *inner_path;
	double		outer_rows;
	double		ids;
	double		inner_rows;
	double		per_row;
	Cost		inner_startup;
	Cost		inner_total;
	double		first_ids;
	double		first_rows;
	double		first_fraction;
	Cost		first_startup;
	Cost		first_total;

	outer_rows = Max(outer_path->rows, 1);
	ids = Max(estimate_num_groups(root, list_make1(outer_key), outer_rows,
								  NULL, NULL), 1);
	segment_rel_batch_cost(innerrel, ids, &inner_rows,
						   &inner_startup, &inner_total);
	first_ids = Min(ids, segment_rel_round_segments(innerrel));
	segment_rel_batch_cost(innerrel, first_ids, &first_rows,
						   &first_startup, &first_total);
	first_fraction = Min(1.0, 2 * first_ids / ids);
	inner_path = segment_batch_inner_path(root, innerrel, inner_rows,
										  inner_startup, inner_total);
	per_row = cpu_tuple_cost + cpu_operator_cost *
		list_length(extra->restrictlist);

	path = (SegmentJoinPath *) newNode(sizeof(SegmentJoinPath),
									   T_CustomPath);
	path->cpath.path.pathtype = T_CustomScan;
	path->cpath.path.parent = joinrel;
	path->cpath.path.pathtarget = joinrel->reltarget;
	path->cpath.path.param_info = NULL;
	path->cpath.path.parallel_aware = false;
	path->cpath.path.parallel_safe = false;
	path->cpath.path.parallel_workers = 0;
	path->cpath.path.rows = joinrel->rows;
	segment_path_set_disabled_nodes(&path->cpath.path,
									segment_path_disabled_nodes(outer_path));
	path->cpath.path.startup_cost = outer_path->startup_cost +
		(outer_path->total_cost - outer_path->startup_cost +
		 outer_rows * cpu_tuple_cost) * first_fraction + first_total;
	path->cpath.path.total_cost = outer_path->total_cost + inner_total +
		outer_rows * (cpu_tuple_cost + per_row) +
		joinrel->rows * cpu_tuple_cost;
	path->cpath.path.pathkeys = NIL;
	path->cpath.flags = 0;
	path->cpath.custom_paths = list_make2(outer_path, inner_path);
	path->cpath.custom_private = NIL;
	path->cpath.methods = &join_path_methods;
	path->jointype = jointype;
	path->restrictlist = extra->restrictlist;
	path->outer_key = outer_key;
	path->inner_key = inner_key;

	add_path(joinrel, &path->cpath.path);
}

/*
 * Position (from 1) in "tlist" of a Var of the same column as "var",
 * whatever joins may null it, or 0.
 */
static AttrNumber
tlist_position(List *tlist, Var *var)
{
	ListCell   *lc;

	foreach(lc, tlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Var		   *v = (Var *) tle->expr;

		if (IsA(v, Var) && v->varno == var->varno &&
			v->varattno == var->varattno && v->varlevelsup == 0)
			return tle->resno;
	}
	return 0;
}

/*
 * A copy of the join's expressions whose Vars name the outer joins that
 * null them as the scan tuple's column of the same attribute does.  The
 * clauses are evaluated where this join's own outer join has nulled nothing
 * yet, while the scan tuple is named as the join's output (PostgreSQL 16
 * on): setrefs.c takes a Var for its column only when the two agree.  Only
 * the names change: the values are the same.
 */
static Node *
with_scan_nullingrels(Node *node, void *context)
{
	List	   *scan_tlist = (List *) context;

	if (node == NULL)
		return NULL;
	if (IsA(node, Var))
	{
		Var		   *var = (Var *) node;
		AttrNumber	pos = tlist_position(scan_tlist, var);
		Var		   *copy = palloc(sizeof(Var));

		if (pos == 0)
			elog(ERROR, "segment_fdw: join column %d of relation %d not found",
				 var->varattno, var->varno);
		memcpy(copy, var, sizeof(Var));
		segment_var_copy_nullingrels(copy,
									 (Var *) list_nth_node(TargetEntry, scan_tlist,
														   pos - 1)->expr);
		return (Node *) copy;
	}
	return expression_tree_mutator(node, with_scan_nullingrels, context);
}

/*
 * PlanCustomPath: the CustomScan.  Its scan tuple (custom_scan_tlist) holds
 * the Vars of the join's target list first, as they are written there (so
 * that setrefs.c matches them), then those only the clauses need; each is
 * read from one of the two children.  The clauses and the outer key are
 * its custom_exprs, for setrefs.c to turn into references to the scan
 * tuple (with_scan_nullingrels).
 */
static Plan *
plan_join_path(PlannerInfo *root, RelOptInfo *rel, CustomPath *best_path,
			   List *tlist, List *clauses, List *custom_plans)
{
	SegmentJoinPath *path = (SegmentJoinPath *) best_path;
	CustomScan *cscan = makeNode(CustomScan);
	Plan	   *outer_plan = (Plan *) linitial(custom_plans);
	Plan	   *inner_plan = (Plan *) lsecond(custom_plans);
	List	   *joinquals;
	List	   *otherquals;
	List	   *exprs;
	List	   *scan_tlist;
	List	   *sides = NIL;
	List	   *resnos = NIL;
	AttrNumber	inner_key;
	ListCell   *lc;

	/* segment_join_pathlist made sure of it; an error rather than a crash */
	if (!IsA(inner_plan, ForeignScan))
		elog(ERROR, "segment_fdw: the inner plan of a batched join is not a foreign scan");

	if (IS_OUTER_JOIN(path->jointype))
		extract_actual_join_clauses(path->restrictlist, rel->relids,
									&joinquals, &otherquals);
	else
	{
		joinquals = extract_actual_clauses(path->restrictlist, false);
		otherquals = NIL;
	}

	exprs = list_make3(joinquals, otherquals, path->outer_key);
	scan_tlist = add_to_flat_tlist(NIL,
								   pull_var_clause((Node *) tlist,
												   PVC_INCLUDE_PLACEHOLDERS));
	foreach(lc, pull_var_clause((Node *) exprs, 0))
	{
		Var		   *var = (Var *) lfirst(lc);

		if (tlist_position(scan_tlist, var) == 0)
			scan_tlist = add_to_flat_tlist(scan_tlist, list_make1(var));
	}
	exprs = (List *) with_scan_nullingrels((Node *) exprs, scan_tlist);

	foreach(lc, scan_tlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		AttrNumber	pos;

		if (!IsA(tle->expr, Var))
			elog(ERROR, "segment_fdw: unexpected expression in a join's target list");
		if ((pos = tlist_position(outer_plan->targetlist, (Var *) tle->expr)) != 0)
			sides = lappend_int(sides, 0);
		else if ((pos = tlist_position(inner_plan->targetlist, (Var *) tle->expr)) != 0)
			sides = lappend_int(sides, 1);
		else
			elog(ERROR, "segment_fdw: join column %d of relation %d not found",
				 ((Var *) tle->expr)->varattno, ((Var *) tle->expr)->varno);
		resnos = lappend_int(resnos, pos);
	}
	inner_key = tlist_position(inner_plan->targetlist, path->inner_key);
	if (inner_key == 0)
		elog(ERROR, "segment_fdw: segment_id not found in a join's inner side");


	cscan->scan.plan.targetlist = tlist;
	cscan->scan.plan.qual = NIL;
	cscan->scan.scanrelid = 0;
	cscan->flags = best_path->flags;
	cscan->custom_plans = custom_plans;
	cscan->custom_exprs = exprs;
	cscan->custom_private = list_make4(makeInteger((int) path->jointype),
									   sides, resnos, makeInteger(inner_key));
	cscan->custom_scan_tlist = scan_tlist;
	cscan->custom_relids = bms_copy(rel->relids);
	cscan->methods = &join_scan_methods;
	return &cscan->scan.plan;
}

/*
 * CreateCustomScanState
 */
static Node *
create_join_state(CustomScan *cscan)
{
	SegmentJoinState *state = (SegmentJoinState *)
		newNode(sizeof(SegmentJoinState), T_CustomScanState);

	state->css.methods = &join_exec_methods;
	return (Node *) state;
}

/*
 * BeginCustomScan: the children, the clauses, and the memory of a run.
 * The inner child must be the batched segment_fdw scan the path asked
 * for: the planner is never given the chance to put another node there
 * (segment_join_pathlist), and this checks that it did not.
 */
static void
begin_join(CustomScanState *node, EState *estate, int eflags)
{
	SegmentJoinState *state = (SegmentJoinState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	List	   *priv = cscan->custom_private;
	List	   *exprs = cscan->custom_exprs;
	List	   *sides = (List *) list_nth(priv, JoinPrivateSides);
	List	   *resnos = (List *) list_nth(priv, JoinPrivateResnos);
	PlanState  *inner_ps;
	int			child_eflags;
	int			i;

	/* both children are rescanned only by this node */
	child_eflags = eflags & ~(EXEC_FLAG_REWIND | EXEC_FLAG_BACKWARD |
							  EXEC_FLAG_MARK);
	state->outer_ps = ExecInitNode((Plan *) linitial(cscan->custom_plans),
								   estate, child_eflags);
	inner_ps = ExecInitNode((Plan *) lsecond(cscan->custom_plans),
							estate, child_eflags);
	node->custom_ps = list_make2(state->outer_ps, inner_ps);
	if (!segment_scan_is_batched(inner_ps))
		elog(ERROR, "segment_fdw: the inner side of a batched join is not its batched foreign scan (node %d)",
			 (int) nodeTag(inner_ps));
	state->inner_ps = (ForeignScanState *) inner_ps;

	state->jointype = (JoinType) intVal(list_nth(priv, JoinPrivateJoinType));
	state->joinqual = ExecInitQual((List *) list_nth(exprs, JoinExprJoinQuals),
								   &node->ss.ps);
	state->otherqual = ExecInitQual((List *) list_nth(exprs, JoinExprOtherQuals),
									&node->ss.ps);
	state->outer_key = ExecInitExpr((Expr *) list_nth(exprs, JoinExprOuterKey),
									&node->ss.ps);

	state->ncols = list_length(sides);
	state->sides = palloc(sizeof(int) * Max(state->ncols, 1));
	state->resnos = palloc(sizeof(AttrNumber) * Max(state->ncols, 1));
	for (i = 0; i < state->ncols; i++)
	{
		state->sides[i] = list_nth_int(sides, i);
		state->resnos[i] = (AttrNumber) list_nth_int(resnos, i);
	}
	state->inner_key = (AttrNumber) intVal(list_nth(priv, JoinPrivateInnerKey));

	state->outer_slot = ExecInitExtraTupleSlot(estate,
											   ExecGetResultType(state->outer_ps),
											   &TTSOpsMinimalTuple);
	state->carried = ExecInitExtraTupleSlot(estate,
											ExecGetResultType(state->outer_ps),
											&TTSOpsMinimalTuple);
	state->inner_slot = ExecInitExtraTupleSlot(estate,
											   ExecGetResultType(inner_ps),
											   &TTSOpsMinimalTuple);
	state->run_cxt = AllocSetContextCreate(estate->es_query_cxt,
										   "segment_fdw batched join",
										   ALLOCSET_DEFAULT_SIZES);
	for (i = 0; i < 2; i++)
	{
		JoinRound  *round = &state->rounds[i];

		round->cxt = AllocSetContextCreate(estate->es_query_cxt,
										   "segment_fdw batched join round",
										   ALLOCSET_DEFAULT_SIZES);
		round->rows = tuplestore_begin_heap(false, false, work_mem);
	}
}

/*
 * Put into the scan tuple the columns of one side from "from", or NULLs
 * when "from" is NULL.  The other side's columns are left as they are.
 */
static void
fill_side(SegmentJoinState *state, int side, TupleTableSlot *from)
{
	TupleTableSlot *scan = state->css.ss.ss_ScanTupleSlot;
	int			i;

	if (from)
		slot_getallattrs(from);
	for (i = 0; i < state->ncols; i++)
	{
		if (state->sides[i] != side)
			continue;
		if (from)
		{
			scan->tts_values[i] = from->tts_values[state->resnos[i] - 1];
			scan->tts_isnull[i] = from->tts_isnull[state->resnos[i] - 1];
		}
		else
		{
			scan->tts_values[i] = (Datum) 0;
			scan->tts_isnull[i] = true;
		}
	}
}

/*
 * The outer side's segment id for the outer row in the scan tuple, as a C
 * string in the per-tuple memory, or NULL when it is NULL or could never be
 * sent (an empty id, one longer than the inner column holds): no inner row
 * can have it.
 */
static char *
outer_key_of_row(SegmentJoinState *state)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	Datum		value;
	bool		isnull;
	MemoryContext oldcxt;
	char	   *id;

	econtext->ecxt_scantuple = state->css.ss.ss_ScanTupleSlot;
	value = ExecEvalExprSwitchContext(state->outer_key, econtext, &isnull);
	if (isnull)
		return NULL;
	/* text or varchar (segment_cond_is_pushable) */
	oldcxt = MemoryContextSwitchTo(econtext->ecxt_per_tuple_memory);
	id = TextDatumGetCString(value);
	MemoryContextSwitchTo(oldcxt);
	if (!segment_scan_id_is_sendable(state->inner_ps, id))
		return NULL;
	return id;
}

/*
 * Make the scan tuple the outer row "outer" (or nulls), with nulls on the
 * inner side: what the outer key and quals of that row alone are evaluated
 * over.
 */
static void
set_outer_row(SegmentJoinState *state, TupleTableSlot *outer)
{
	TupleTableSlot *scan = state->css.ss.ss_ScanTupleSlot;

	ExecClearTuple(scan);
	fill_side(state, 0, outer);
	fill_side(state, 1, NULL);
	ExecStoreVirtualTuple(scan);
}

/*
 * Empty a round, for the next rows of the outer side.
 */
static void
clear_round(JoinRound *round)
{
	MemoryContextReset(round->cxt);
	tuplestore_clear(round->rows);
	round->nrows = 0;
	round->ids = segment_cstring_hash_create("segment_fdw join ids", 256,
											 sizeof(InnerRows), round->cxt);
	round->capacity = 64;
	round->elems = MemoryContextAlloc(round->cxt,
									  sizeof(Datum) * round->capacity);
	round->nelems = 0;
	round->launched = false;
}

/*
 * Add one outer row to "round", unless its id would be one more than the
 * round holds: then returns false, and the row is left for the next round.
 */
static bool
add_to_round(SegmentJoinState *state, JoinRound *round, TupleTableSlot *slot)
{
	ExprContext *econtext = state->css.ss.ps.ps_ExprContext;
	char	   *id;

	ResetExprContext(econtext);
	set_outer_row(state, slot);
	id = outer_key_of_row(state);
	/* at the first id: what an id costs, so how many a round holds */
	if (id != NULL && state->requests_per_id < 0)
		state->requests_per_id = segment_scan_begin_batch(state->inner_ps,
														  &state->round_ids);
	if (id != NULL && state->requests_per_id > 0 &&
		hash_search(round->ids, &id, HASH_FIND, NULL) == NULL)
	{
		InnerRows  *entry;
		MemoryContext oldcxt;
		bool		found;

		if (round->nelems >= state->round_ids)
			return false;
		id = MemoryContextStrdup(round->cxt, id);
		entry = (InnerRows *) hash_search(round->ids, &id, HASH_ENTER, NULL);
		entry->tuples = NIL;
		if (round->nelems == round->capacity)
		{
			round->capacity *= 2;
			round->elems = repalloc(round->elems,
									sizeof(Datum) * round->capacity);
		}
		oldcxt = MemoryContextSwitchTo(round->cxt);
		round->elems[round->nelems++] = CStringGetTextDatum(id);
		MemoryContextSwitchTo(oldcxt);
		/* the distinct ids of the run, for EXPLAIN ANALYZE */
		(void) hash_search(state->seen, &id, HASH_FIND, &found);
		if (!found)
		{
			char	   *copy = MemoryContextStrdup(state->run_cxt, id);

			(void) hash_search(state->seen, &copy, HASH_ENTER, NULL);
		}
	}
	tuplestore_puttupleslot(round->rows, slot);
	round->nrows++;
	return true;
}

/*
 * Read the next round of outer rows into "round": up to the row that would
 * bring one more distinct id than a round holds, which is carried to the
 * round after it.
 */
static void
collect_round(SegmentJoinState *state, JoinRound *round)
{
	clear_round(round);
	if (state->have_carried)
	{
		state->have_carried = false;
		if (!add_to_round(state, round, state->carried))
			elog(ERROR, "segment_fdw: a batched join's round has no room for its first row");
	}
	while (!state->outer_done)
	{
		TupleTableSlot *slot = ExecProcNode(state->outer_ps);

		if (TupIsNull(slot))
		{
			state->outer_done = true;
			break;
		}
		state->nouter++;
		if (!add_to_round(state, round, slot))
		{
			ExecCopySlot(state->carried, slot);
			state->have_carried = true;
			break;
		}
	}
	ExecClearTuple(state->css.ss.ss_ScanTupleSlot);
	if (!tuplestore_in_memory(round->rows))
		state->spilled = true;
}

/*
 * Start the inner run of "round": its ids are asked for, max_concurrency
 * at a time, while the round before it is joined.
 */
static void
launch_round(SegmentJoinState *state, JoinRound *round)
{
	ArrayType  *array;
	MemoryContext oldcxt;

	if (round->nelems == 0)
		return;
	oldcxt = MemoryContextSwitchTo(round->cxt);
	array = construct_array_builtin(round->elems, round->nelems, TEXTOID);
	MemoryContextSwitchTo(oldcxt);

	ExecReScan(&state->inner_ps->ss.ps);
	segment_scan_start_batch(state->inner_ps, PointerGetDatum(array));
	round->launched = true;
	state->nrounds++;
}

/*
 * Read the inner rows of "round", whose inner run was started, into its
 * hash table by segment id.
 */
static void
receive_round(SegmentJoinState *state, JoinRound *round)
{
	if (!round->launched)
		return;
	for (;;)
	{
		TupleTableSlot *slot = ExecProcNode(&state->inner_ps->ss.ps);
		Datum		value;
		bool		isnull;
		char	   *id;
		InnerRows  *entry;
		MemoryContext oldcxt;

		if (TupIsNull(slot))
			break;
		value = slot_getattr(slot, state->inner_key, &isnull);
		if (isnull)
			continue;
		/* text or varchar, as the outer key */
		id = TextDatumGetCString(value);
		entry = (InnerRows *) hash_search(round->ids, &id, HASH_FIND, NULL);
		pfree(id);
		if (entry == NULL)
			continue;			/* not an id of this round */
		oldcxt = MemoryContextSwitchTo(round->cxt);
		entry->tuples = lappend(entry->tuples,
								ExecCopySlotMinimalTuple(slot));
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * Make the next round the one being joined: read its inner rows, then read
 * the round after it and start its inner run, so that its requests are in
 * flight while this one is joined.
 */
static void
advance_round(SegmentJoinState *state)
{
	JoinRound  *round;
	JoinRound  *next;

	state->cur = 1 - state->cur;
	round = &state->rounds[state->cur];
	next = &state->rounds[1 - state->cur];
	receive_round(state, round);
	tuplestore_rescan(round->rows);

	clear_round(next);
	if (!state->outer_done || state->have_carried)
	{
		collect_round(state, next);
		launch_round(state, next);
	}
	state->have_outer = false;
}

/*
 * Start a run: the first round, read and launched, becomes the one joined.
 * What an id costs, and so how many a round holds, is learnt from the inner
 * scan's own conditions at the first id (an outer side with none runs
 * none of them).
 */
static void
start_join_run(SegmentJoinState *state)
{
	MemoryContextReset(state->run_cxt);
	state->seen = segment_cstring_hash_create("segment_fdw join ids seen", 256,
											  sizeof(char *), state->run_cxt);
	state->nouter = 0;
	state->nrounds = 0;
	state->spilled = false;
	state->outer_done = false;
	state->have_carried = false;

	ExecReScan(&state->inner_ps->ss.ps);
	state->requests_per_id = -1;

	state->cur = 0;
	collect_round(state, &state->rounds[1]);
	launch_round(state, &state->rounds[1]);
	advance_round(state);
	state->run_started = true;
}

/*
 * ExecScan's access method: the next joined row in the scan tuple, or an
 * empty slot at the end.
 */
static TupleTableSlot *
next_joined_row(ScanState *ss)
{
	SegmentJoinState *state = (SegmentJoinState *) ss;
	ExprContext *econtext = ss->ps.ps_ExprContext;
	TupleTableSlot *scan = ss->ss_ScanTupleSlot;

	if (!state->run_started)
		start_join_run(state);

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		ResetExprContext(econtext);
		econtext->ecxt_scantuple = scan;

		if (!state->have_outer)
		{
			JoinRound  *round = &state->rounds[state->cur];
			char	   *id;

			if (!tuplestore_gettupleslot(round->rows, true, false,
										 state->outer_slot))
			{
				/* the round is joined: the next one, if the outer side gave one */
				if (state->rounds[1 - state->cur].nrows == 0)
					return ExecClearTuple(scan);
				advance_round(state);
				continue;
			}
			set_outer_row(state, state->outer_slot);
			state->candidates = NIL;
			id = outer_key_of_row(state);
			if (id != NULL)
			{
				InnerRows  *entry = (InnerRows *)
					hash_search(round->ids, &id, HASH_FIND, NULL);

				if (entry)
					state->candidates = entry->tuples;
			}
			state->next_candidate = 0;
			state->matched = false;
			state->have_outer = true;
		}

		while (state->next_candidate < list_length(state->candidates))
		{
			MinimalTuple tuple = (MinimalTuple)
				list_nth(state->candidates, state->next_candidate++);

			ResetExprContext(econtext);
			ExecStoreMinimalTuple(tuple, state->inner_slot, false);
			ExecClearTuple(scan);
			fill_side(state, 1, state->inner_slot);
			ExecStoreVirtualTuple(scan);
			if (!ExecQual(state->joinqual, econtext))
				continue;
			state->matched = true;
			if (state->jointype == JOIN_ANTI)
				break;
			if (state->jointype == JOIN_SEMI)
			{
				state->have_outer = false;
				if (ExecQual(state->otherqual, econtext))
					return scan;
				break;
			}
			if (ExecQual(state->otherqual, econtext))
				return scan;
		}

		/* the outer row is done: null-extended if it matched nothing */
		if (!state->have_outer)
			continue;
		state->have_outer = false;
		if (!state->matched &&
			(state->jointype == JOIN_LEFT || state->jointype == JOIN_ANTI))
		{
			ResetExprContext(econtext);
			ExecClearTuple(scan);
			fill_side(state, 1, NULL);
			ExecStoreVirtualTuple(scan);
			if (ExecQual(state->otherqual, econtext))
				return scan;
		}
	}
}

/* Never called: plans with row marks keep the nested loop */
static bool
recheck_joined_row(ScanState *ss, TupleTableSlot *slot)
{
	return true;
}

/*
 * ExecCustomScan: ExecScan projects the scan tuple.
 */
static TupleTableSlot *
exec_join(CustomScanState *node)
{
	return ExecScan(&node->ss, next_joined_row, recheck_joined_row);
}

/*
 * ReScanCustomScan: the outer side may give other rows (its parameters
 * changed), so the next row asked for starts a new run.  The inner scan
 * keeps its cache of responses, so ids asked before are answered from it
 * while it holds them.
 */
static void
rescan_join(CustomScanState *node)
{
	SegmentJoinState *state = (SegmentJoinState *) node;

	state->run_started = false;
	state->have_outer = false;
	state->candidates = NIL;
	state->have_carried = false;
	ExecClearTuple(state->carried);

	/*
	 * The children are not lefttree and righttree, so ExecReScan does not
	 * tell them which parameters changed: do it here, as ExecReScanAppend
	 * does.  A child that decides by them whether to start over (a
	 * HashAggregate, say) would otherwise give its old rows again.  One with
	 * changed parameters is rescanned by ExecProcNode when next asked.
	 */
	if (node->ss.ps.chgParam != NULL)
	{
		UpdateChangedParamSet(state->outer_ps, node->ss.ps.chgParam);
		UpdateChangedParamSet(&state->inner_ps->ss.ps, node->ss.ps.chgParam);
	}
	if (state->outer_ps->chgParam == NULL)
		ExecReScan(state->outer_ps);
}

/*
 * EndCustomScan
 */
static void
end_join(CustomScanState *node)
{
	SegmentJoinState *state = (SegmentJoinState *) node;
	int			i;

	ExecEndNode(state->outer_ps);
	ExecEndNode(&state->inner_ps->ss.ps);
	for (i = 0; i < 2; i++)
	{
		tuplestore_end(state->rounds[i].rows);
		MemoryContextDelete(state->rounds[i].cxt);
	}
	MemoryContextDelete(state->run_cxt);
}

/*
 * ExplainCustomScan: the join type, the segment key and clauses; with
 * ANALYZE, the outer rows read (and whether a round of them went to disk),
 * the distinct ids asked for and the rounds they were asked in.  The inner
 * scan shows its requests and their figures.
 */
static void
explain_join(CustomScanState *node, List *ancestors, ExplainState *es)
{
	SegmentJoinState *state = (SegmentJoinState *) node;
	CustomScan *cscan = (CustomScan *) node->ss.ps.plan;
	List	   *exprs = cscan->custom_exprs;
	List	   *context;
	bool		useprefix = list_length(es->rtable) > 1 || es->verbose;
	List	   *quals;
	const char *type;

	switch (state->jointype)
	{
		case JOIN_INNER:
			type = "Inner";
			break;
		case JOIN_LEFT:
			type = "Left";
			break;
		case JOIN_SEMI:
			type = "Semi";
			break;
		default:
			type = "Anti";
			break;
	}
	ExplainPropertyText("Join Type", type, es);

	context = set_deparse_context_plan(es->deparse_cxt, &cscan->scan.plan,
									   ancestors);
	ExplainPropertyText("Segment Key",
						deparse_expression((Node *) list_nth(exprs, JoinExprOuterKey),
										   context, useprefix, false), es);
	quals = (List *) list_nth(exprs, JoinExprJoinQuals);
	if (quals != NIL)
		ExplainPropertyText("Join Filter",
							deparse_expression((Node *) make_ands_explicit(quals),
											   context, useprefix, false), es);
	quals = (List *) list_nth(exprs, JoinExprOtherQuals);
	if (quals != NIL)
		ExplainPropertyText("Filter",
							deparse_expression((Node *) make_ands_explicit(quals),
											   context, useprefix, false), es);
	if (es->analyze)
	{
		ExplainPropertyInteger("Outer Rows Read", NULL, state->nouter, es);
		ExplainPropertyText("Outer Rows Stored",
							state->spilled ? "disk" : "memory", es);
		ExplainPropertyInteger("Distinct Segment Ids", NULL,
							   state->seen ? hash_get_num_entries(state->seen) : 0,
							   es);
		ExplainPropertyInteger("Rounds", NULL, state->nrounds, es);
	}
}
