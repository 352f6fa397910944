/*-------------------------------------------------------------------------
 *
 * segment_compat.h
 *		  Differences between the PostgreSQL majors segment_fdw supports
 *
 * segment_fdw supports PostgreSQL 15 to 19.  The code is written against
 * the current API (18 and later); this header gives the older majors what
 * they lack, so that no version test appears anywhere else.  Each shim says
 * the major that introduced the API it stands in for: when support for the
 * majors before it ends, the shim goes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_COMPAT_H
#define SEGMENT_COMPAT_H

#include "catalog/pg_foreign_server.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "nodes/pg_list.h"
#include "optimizer/pathnode.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"

#if PG_VERSION_NUM < 150000
#error "segment_fdw needs PostgreSQL 15 or later"
#endif

/*
 * 18: pg_noreturn, written before a function's declaration; before, GCC's
 * attribute pg_attribute_noreturn(), which may stand there too.
 */
#ifndef pg_noreturn
#define pg_noreturn pg_attribute_noreturn()
#endif

/*
 * 18 moved ExplainState and the ExplainProperty* functions out of
 * commands/explain.h.
 */
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#else
#include "commands/explain.h"
#endif

/*
 * 18: operators are interpreted through CompareType, for any index AM,
 * by get_op_index_interpretation(); before, get_op_btree_interpretation()
 * gave btree strategy numbers, which CompareType's first values equal.
 */
#if PG_VERSION_NUM >= 180000
#include "access/cmptype.h"
#else
#include "access/stratnum.h"

typedef enum CompareType
{
	COMPARE_INVALID = 0,
	COMPARE_LT = BTLessStrategyNumber,
	COMPARE_LE = BTLessEqualStrategyNumber,
	COMPARE_EQ = BTEqualStrategyNumber,
	COMPARE_GE = BTGreaterEqualStrategyNumber,
	COMPARE_GT = BTGreaterStrategyNumber,
	COMPARE_NE = 6
} CompareType;

typedef struct OpIndexInterpretation
{
	Oid			opfamily_id;
	CompareType cmptype;
	Oid			oplefttype;
	Oid			oprighttype;
} OpIndexInterpretation;

static inline List *
get_op_index_interpretation(Oid opno)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, get_op_btree_interpretation(opno))
	{
		OpBtreeInterpretation *bt = lfirst(lc);
		OpIndexInterpretation *interp = palloc(sizeof(OpIndexInterpretation));

		interp->opfamily_id = bt->opfamily_id;
		interp->cmptype = (CompareType) bt->strategy;
		interp->oplefttype = bt->oplefttype;
		interp->oprighttype = bt->oprighttype;
		result = lappend(result, interp);
	}
	return result;
}
#endif

/*
 * create_foreignscan_path() gained fdw_restrictinfo in 17 and
 * disabled_nodes in 18.
 */
#if PG_VERSION_NUM < 170000
#define create_foreignscan_path(root, rel, target, rows, disabled_nodes, \
								startup_cost, total_cost, pathkeys, \
								required_outer, fdw_outerpath, \
								fdw_restrictinfo, fdw_private) \
	create_foreignscan_path(root, rel, target, rows, startup_cost, \
							total_cost, pathkeys, required_outer, \
							fdw_outerpath, fdw_private)
#elif PG_VERSION_NUM < 180000
#define create_foreignscan_path(root, rel, target, rows, disabled_nodes, \
								startup_cost, total_cost, pathkeys, \
								required_outer, fdw_outerpath, \
								fdw_restrictinfo, fdw_private) \
	create_foreignscan_path(root, rel, target, rows, startup_cost, \
							total_cost, pathkeys, required_outer, \
							fdw_outerpath, fdw_restrictinfo, fdw_private)
#endif

/*
 * 17: a WaitEventSet belongs to a resource owner (NULL: to nobody, freed by
 * its creator) rather than to a memory context.
 */
#if PG_VERSION_NUM < 170000
#define CreateWaitEventSet(owner, nevents) \
	CreateWaitEventSet(CurrentMemoryContext, (nevents))
#endif

/*
 * 17: extensions name their own wait events; before, all of them showed as
 * "Extension".
 */
#if PG_VERSION_NUM < 170000
#define WaitEventExtensionNew(name) ((uint32) PG_WAIT_EXTENSION)
#endif

/*
 * 16 moved checkAsUser from the range table entry to the plan node: the
 * role whose privileges (and user mapping) a foreign scan uses, or
 * InvalidOid for the current user.
 */
static inline Oid
foreign_scan_check_as_user(ForeignScan *fsplan, EState *estate)
{
#if PG_VERSION_NUM >= 160000
	return fsplan->checkAsUser;
#else
	return exec_rt_fetch(fsplan->scan.scanrelid, estate)->checkAsUser;
#endif
}

/* 16: EXPLAIN (GENERIC_PLAN), whose parameters have no values */
static inline bool
explain_is_generic_plan(ExplainState *es)
{
#if PG_VERSION_NUM >= 160000
	return es->generic;
#else
	return false;
#endif
}

/* 16: a Var names the outer joins that can null it; give it those of "from" */
static inline void
segment_var_copy_nullingrels(Var *var, const Var *from)
{
#if PG_VERSION_NUM >= 160000
	var->varnullingrels = bms_copy(from->varnullingrels);
#endif
}

/* 18: a path counts the disabled nodes below it */
static inline void
segment_path_set_disabled_nodes(Path *path, int disabled_nodes)
{
#if PG_VERSION_NUM >= 180000
	path->disabled_nodes = disabled_nodes;
#endif
}

static inline int
segment_path_disabled_nodes(Path *path)
{
#if PG_VERSION_NUM >= 180000
	return path->disabled_nodes;
#else
	return 0;
#endif
}

/* 17: a backend's number among the PGPROCs is MyProcNumber */
#if PG_VERSION_NUM >= 170000
#define segment_my_proc_number() ((int) MyProcNumber)
#else
#define segment_my_proc_number() (MyProc->pgprocno)
#endif

/* 16: object_ownercheck() and object_aclcheck() for any catalog; before,
 * one function each */
#if PG_VERSION_NUM >= 160000
#define segment_server_ownercheck(serverid, roleid) \
	object_ownercheck(ForeignServerRelationId, (serverid), (roleid))
#define segment_server_aclcheck(serverid, roleid, mode) \
	object_aclcheck(ForeignServerRelationId, (serverid), (roleid), (mode))
#else
#define segment_server_ownercheck(serverid, roleid) \
	pg_foreign_server_ownercheck((serverid), (roleid))
#define segment_server_aclcheck(serverid, roleid, mode) \
	pg_foreign_server_aclcheck((serverid), (roleid), (mode))
#endif

#endif							/* SEGMENT_COMPAT_H */
