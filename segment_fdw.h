/*-------------------------------------------------------------------------
 *
 * segment_fdw.h
 *		  What segment_fdw.c (the FDW's callbacks) and join.c (the batched
 *		  join) share
 *
 * Layer 5, the top (segment_util.h draws the layers and lists the files).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEGMENT_FDW_H
#define SEGMENT_FDW_H

#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"
#include "utils/hsearch.h"

#include "segment_request.h"

/* in segment_fdw.c */
extern bool segment_rel_batchable(RelOptInfo *rel, const SegmentColumns **cols);
extern bool segment_rel_clause_cond(PlannerInfo *root, RelOptInfo *rel,
									RestrictInfo *rinfo, SegmentCond *cond);
extern void segment_rel_batch_cost(RelOptInfo *rel, double segments,
								   double *rows, Cost *startup_cost,
								   Cost *total_cost);
extern double segment_rel_round_segments(RelOptInfo *rel);
extern Path *segment_batch_inner_path(PlannerInfo *root, RelOptInfo *rel,
									  double rows, Cost startup_cost,
									  Cost total_cost);
extern bool segment_scan_is_batched(PlanState *ps);
extern bool segment_scan_id_is_sendable(ForeignScanState *node,
										const char *id);
extern int64 segment_scan_begin_batch(ForeignScanState *node,
									  int *round_ids);
extern void segment_scan_start_batch(ForeignScanState *node, Datum ids);
extern HTAB *segment_cstring_hash_create(const char *name, long nelem,
										 Size entrysize, MemoryContext cxt);

/* in join.c */
extern bool segment_batch_joins;
extern void segment_join_init(void);

#endif							/* SEGMENT_FDW_H */
