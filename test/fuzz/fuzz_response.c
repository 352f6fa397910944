/*-------------------------------------------------------------------------
 *
 * fuzz_response.c
 *		  libFuzzer harness for segment_fdw's response parser (response.c)
 *
 * Each input is a response body, read in every way the extension reads
 * remote bytes:
 *
 * - by each of parse_data_series' two ways on its own: whenever the fast
 *   walk accepts a body, the whole-tree parse must accept it too, with the
 *   same rows (the harness includes response.c to reach those static
 *   functions);
 * - by the fast walk again, with a cancel arriving at its first, second,
 *   third or fourth CHECK_FOR_INTERRUPTS;
 * - by the fast walk raising the error of the first problem it meets, as
 *   it does for a body too large to be parsed as a tree;
 * - by segment_parse_rows, as a successful data_series response;
 * - by segment_parse_list and segment_parse_details (list_details.c), as a
 *   successful page of GET /segments/list and details of one segment:
 *   every row they hand back has the members the API always sends;
 * - by segment_report_http_error, as an HTTP 503.
 *
 * Errors raised with ereport(ERROR) come back here by longjmp, as they
 * would unwind a query; memory from palloc is released after each input,
 * so what LeakSanitizer finds is what response.c itself failed to free
 * (json-c objects and tokenizers).
 *
 * Build and run: see test/fuzz/run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <setjmp.h>

#include "segment_json.h"

#include "response.c"

static void fuzz_list_details(SegmentResponse *resp, sigjmp_buf *jump);

/* in pg_stubs.c */
extern void fuzz_free_all(void);
extern int	fuzz_errors;
extern int	fuzz_interrupt_countdown;

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
	request.endpoint = &segment_endpoints[SEGMENT_ENDPOINT_DATA_SERIES];
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

		if (parse_body_fast(&resp, "fuzz-secret", false, &fast_rows, &nfast))
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

	/* a cancel in the middle of the walk */
	fuzz_interrupt_countdown = 1 + size % 4;
	InterruptPending = true;
	PG_exception_stack = &jump;
	if (sigsetjmp(jump, 0) == 0)
	{
		SegmentRow *rows;
		int			n;

		(void) parse_body_fast(&resp, "fuzz-secret", false, &rows, &n);
	}
	InterruptPending = false;

	/* the walk reporting its first problem, as for a body too large for a tree */
	PG_exception_stack = &jump;
	if (sigsetjmp(jump, 0) == 0)
	{
		SegmentRow *rows;
		int			n;

		(void) parse_body_fast(&resp, "fuzz-secret", true, &rows, &n);
	}

	PG_exception_stack = &jump;
	if (sigsetjmp(jump, 0) == 0)
	{
		SegmentRow *rows;
		int			n = segment_parse_rows(&resp, "fuzz-secret", (void **) &rows);
		int			i;

		/* every row handed back is a real day */
		for (i = 0; i < n; i++)
		{
			if (DATE_NOT_FINITE(rows[i].day))
				abort();
		}
	}

	fuzz_list_details(&resp, &jump);
	resp.request = &request;

	resp.status = 503;
	PG_exception_stack = &jump;
	if (sigsetjmp(jump, 0) == 0)
	{
		segment_report_http_error(&resp, "fuzz-secret");
		abort();				/* it always raises */
	}

	PG_exception_stack = NULL;
	fuzz_free_all();
	return 0;
}

/*
 * The body as a page of the segment list and as one segment's details.
 * Each parser either raises an error or hands back rows whose required
 * members (id and name; name) are there.
 */
static void
fuzz_list_details(SegmentResponse *resp, sigjmp_buf *jump)
{
	SegmentRequest list = {0};
	SegmentRequest details = {0};

	list.endpoint = &segment_endpoints[SEGMENT_ENDPOINT_LIST];
	list.target = "/segments/list?page=0&sort_direction=asc";
	details.endpoint = &segment_endpoints[SEGMENT_ENDPOINT_DETAILS];
	details.segment_id = "fuzz";
	details.target = "/segments/details?segment_id=fuzz";

	resp->request = &list;
	PG_exception_stack = jump;
	if (sigsetjmp(*jump, 0) == 0)
	{
		void	   *rows;
		int			n = segment_parse_list(resp, "fuzz-secret", &rows);
		int			i;

		for (i = 0; i < n; i++)
		{
			SegmentInfoRow *row = (SegmentInfoRow *) rows + i;

			if (row->values[SEGMENT_FIELD_ID] == NULL ||
				row->values[SEGMENT_FIELD_NAME] == NULL)
				abort();
		}
	}

	resp->request = &details;
	PG_exception_stack = jump;
	if (sigsetjmp(*jump, 0) == 0)
	{
		void	   *rows;

		if (segment_parse_details(resp, "fuzz-secret", &rows) != 1 ||
			((SegmentInfoRow *) rows)->values[SEGMENT_FIELD_NAME] == NULL)
			abort();
	}
}
