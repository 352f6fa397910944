/*-------------------------------------------------------------------------
 *
 * pg_stubs.c
 *		  The few backend functions response.c calls, for the fuzzing harness
 *
 * palloc and friends track their blocks so that the harness can free them
 * all after each input; ereport(ERROR) formats its message (so bad format
 * arguments are caught) and jumps to PG_exception_stack, through the
 * PG_TRY blocks of response.c to the harness, as in the backend.  The calendar
 * functions are a plain Julian-day computation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <setjmp.h>

#include "catalog/namespace.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "segment_parse.h"

/* the backend's error recovery: PG_TRY saves and restores the stack */
sigjmp_buf *PG_exception_stack = NULL;
volatile sig_atomic_t InterruptPending = false;
ErrorContextCallback *error_context_stack = NULL;
int			fuzz_errors = 0;

/* every palloc'd block starts with a link in this list */
typedef struct Block
{
	struct Block *prev;
	struct Block *next;
	size_t		size;
	max_align_t align[];
} Block;

static Block blocks = {&blocks, &blocks, 0};
static int	current_elevel;

static void *
block_alloc(size_t size, bool zero)
{
	Block	   *b = zero ? calloc(1, sizeof(Block) + size) : malloc(sizeof(Block) + size);

	if (b == NULL)
		abort();
	b->size = size;
	b->next = blocks.next;
	b->prev = &blocks;
	blocks.next->prev = b;
	blocks.next = b;
	return b->align;
}

static Block *
block_of(void *p)
{
	return (Block *) ((char *) p - offsetof(Block, align));
}

void *
palloc(Size size)
{
	return block_alloc(size, false);
}

void *
palloc0(Size size)
{
	return block_alloc(size, true);
}

void *
palloc_extended(Size size, int flags)
{
	return block_alloc(size, (flags & MCXT_ALLOC_ZERO) != 0);
}

void *
MemoryContextAllocExtended(MemoryContext context, Size size, int flags)
{
	return palloc_extended(size, flags);
}

void
pfree(void *p)
{
	Block	   *b = block_of(p);

	b->prev->next = b->next;
	b->next->prev = b->prev;
	free(b);
}

void *
repalloc(void *p, Size size)
{
	void	   *q = palloc(size);
	Block	   *b = block_of(p);

	memcpy(q, p, Min(size, b->size));
	pfree(p);
	return q;
}

void *
repalloc_huge(void *p, Size size)
{
	return repalloc(p, size);
}

char *
pstrdup(const char *s)
{
	size_t		len = strlen(s);
	char	   *p = palloc(len + 1);

	memcpy(p, s, len + 1);
	return p;
}

char *
pnstrdup(const char *s, Size len)
{
	char	   *p;

	len = strnlen(s, len);
	p = palloc(len + 1);
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

void
fuzz_free_all(void)
{
	while (blocks.next != &blocks)
		pfree(blocks.next->align);
}

/*
 * Interrupts: the harness sets InterruptPending and a countdown; the
 * countdown's last CHECK_FOR_INTERRUPTS raises a cancel.
 */
int			fuzz_interrupt_countdown = 0;

void
ProcessInterrupts(void)
{
	if (--fuzz_interrupt_countdown > 0)
		return;
	InterruptPending = false;
	ereport(ERROR,
			(errcode(ERRCODE_QUERY_CANCELED),
			 errmsg("canceling statement due to user request")));
}

/* ---- error reporting ---- */

bool
errstart(int elevel, const char *domain)
{
	current_elevel = elevel;
	return true;
}

bool
errstart_cold(int elevel, const char *domain)
{
	return errstart(elevel, domain);
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	if (current_elevel >= ERROR)
	{
		fuzz_errors++;
		pg_re_throw();
	}
}

void
pg_re_throw(void)
{
	if (PG_exception_stack == NULL)
		abort();
	siglongjmp(*PG_exception_stack, 1);
}

/* format each message into a buffer, as the real ones do */
#define FORMAT_AND_RETURN(fmt) \
	do { \
		char		buf[1024]; \
		va_list		args; \
		va_start(args, fmt); \
		vsnprintf(buf, sizeof(buf), fmt, args); \
		va_end(args); \
		return 0; \
	} while (0)

int
errcode(int sqlerrcode)
{
	return 0;
}

int
errmsg(const char *fmt,...)
{
	FORMAT_AND_RETURN(fmt);
}

int
errmsg_internal(const char *fmt,...)
{
	FORMAT_AND_RETURN(fmt);
}

int
errdetail(const char *fmt,...)
{
	FORMAT_AND_RETURN(fmt);
}

int
errdetail_internal(const char *fmt,...)
{
	FORMAT_AND_RETURN(fmt);
}

int
errhint(const char *fmt,...)
{
	FORMAT_AND_RETURN(fmt);
}

int
errcontext_msg(const char *fmt,...)
{
	FORMAT_AND_RETURN(fmt);
}

int
set_errcontext_domain(const char *domain)
{
	return 0;
}

/* ---- encoding and time ---- */

int
GetDatabaseEncoding(void)
{
	return PG_UTF8;
}

char *
pg_any_to_server(const char *s, int len, int encoding)
{
	char	   *p = palloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* the database is UTF-8 here: no conversion is ever looked up or run */
Oid
FindDefaultConversionProc(int32 for_encoding, int32 to_encoding)
{
	abort();
}

int
pg_do_encoding_conversion_buf(Oid proc, int src_encoding, int dest_encoding,
							  unsigned char *src, int srclen,
							  unsigned char *dest, int destlen, bool noError)
{
	abort();
}

TimestampTz
time_t_to_timestamptz(pg_time_t tm)
{
	return (TimestampTz) tm * USECS_PER_SEC;
}

const char *
timestamptz_to_str(TimestampTz t)
{
	return "2024-01-01 00:00:00+00";
}

/* Julian day number of a proleptic Gregorian date, and back */
int
date2j(int year, int month, int day)
{
	int			a = (14 - month) / 12;
	int			y = year + 4800 - a;
	int			m = month + 12 * a - 3;

	return day + (153 * m + 2) / 5 + 365 * y + y / 4 - y / 100 + y / 400 - 32045;
}

void
j2date(int jd, int *year, int *month, int *day)
{
	int			a = jd + 32044;
	int			b = (4 * a + 3) / 146097;
	int			c = a - 146097 * b / 4;
	int			d = (4 * c + 3) / 1461;
	int			e = c - 1461 * d / 4;
	int			m = (5 * e + 2) / 153;

	*day = e - (153 * m + 2) / 5 + 1;
	*month = m + 3 - 12 * (m / 10);
	*year = 100 * b + d - 4800 + m / 10;
}

/* util.c writes days with it; the parser only reads them */
char *
JsonEncodeDateTime(char *buf, Datum value, Oid typid, const int *tzp)
{
	return pstrdup("");
}
