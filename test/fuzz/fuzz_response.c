/*-------------------------------------------------------------------------
 *
 * fuzz_response.c
 *		  libFuzzer harness for segment_fdw's response parser (response.c)
 *
 * Each input is a response body.  It is parsed as a successful response
 * (segment_parse_body) and reported as an HTTP 503 (segment_report_http_error),
 * the two ways the extension reads remote bytes.  It is also parsed by
 * each of segment_parse_body's two ways on its own: whenever the fast walk
 * accepts a body, the whole-tree parse must accept it too, with the same
 * rows.  The harness includes response.c to reach those static functions.  Errors raised with
 * ereport(ERROR) come back here by longjmp, as they would unwind a query;
 * memory from palloc is released after each input, so what LeakSanitizer
 * finds is what response.c itself failed to free (json-c objects).
 *
 * Build and run: see test/fuzz/run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <setjmp.h>

#include "segment_fdw.h"

#include "response.c"

/* in pg_stubs.c */
extern void fuzz_free_all(void);
extern int	fuzz_errors;

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SegmentRequest request = {0};
	SegmentResponse resp = {0};
	sigjmp_buf	jump;
	char	   *body = palloc(size + 1);

	memcpy(body, data, size);
	body[size] = '\0';
	request.segment_id = "fuzz";
	request.target = "/segments/data_series?segment_id=fuzz&length=3";
	resp.request = &request;
	resp.body = body;
	resp.len = size;
	resp.attempts = 1;
	resp.ratelimit_reset = -1;
	resp.retry_after = -1;

	PG_exception_stack = &jump;
	if (sigsetjmp(jump, 0) == 0)
	{
		SegmentRow *fast_rows;
		SegmentRow *tree_rows;
		int			nfast;
		int			i;

		if (parse_body_fast(&resp, &fast_rows, &nfast))
		{
			/* would raise an error, and so abort, where the walk did not */
			PG_exception_stack = NULL;
			if (parse_body_tree(&resp, "fuzz-secret", &tree_rows) != nfast)
				abort();
			for (i = 0; i < nfast; i++)
			{
				if (fast_rows[i].day != tree_rows[i].day ||
					fast_rows[i].size != tree_rows[i].size)
					abort();
			}
		}
	}

	PG_exception_stack = &jump;
	if (sigsetjmp(jump, 0) == 0)
	{
		SegmentRow *rows;
		int			n = segment_parse_body(&resp, "fuzz-secret", &rows);
		int			i;

		/* every row handed back is a real day */
		for (i = 0; i < n; i++)
		{
			if (DATE_NOT_FINITE(rows[i].day))
				abort();
		}
	}

	resp.status = 503;
	if (sigsetjmp(jump, 0) == 0)
	{
		segment_report_http_error(&resp, "fuzz-secret");
		abort();				/* it always raises */
	}

	PG_exception_stack = NULL;
	fuzz_free_all();
	return 0;
}
