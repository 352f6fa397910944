/*-------------------------------------------------------------------------
 *
 * fuzz_response.c
 *		  libFuzzer harness for segment_fdw's response parser (response.c)
 *
 * Each input is a response body.  It is parsed as a successful response
 * (segment_parse_body) and reported as an HTTP 503 (segment_report_http_error),
 * the two ways the extension reads remote bytes.  Errors raised with
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
