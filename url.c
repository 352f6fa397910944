/*-------------------------------------------------------------------------
 *
 * url.c
 *		  URLs for segment_fdw: checking a server's url, the URLs servers of
 *		  roles other than superusers may use, building a request's URL, and
 *		  naming a request in errors
 *
 * Everything here goes through curl's URL API (no hand-written parser),
 * and nothing touches the network: the option validator relies on it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "mb/pg_wchar.h"
#include "utils/guc.h"

#include "segment_http.h"

/*
 * Check that "url" can be a server's url: an absolute http or https URL
 * without credentials, query or fragment.  On failure, set *detail to why.
 * No network access.
 */
bool
segment_check_url(const char *url, char **detail)
{
	CURLU	   *h = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *part = NULL;
	bool		ok = false;

	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	if (curl_url_set(h, CURLUPART_URL, url, 0) != CURLUE_OK)
		*detail = "It is not an absolute URL.";
	else if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
			 (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
		*detail = "Only http and https URLs are supported.";
	else if (strncmp(url + strlen(scheme), "://", 3) != 0)
		*detail = "It is not an absolute URL.";	/* curl takes "http:/x" */
	else if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
			 host[0] == '\0')
		*detail = "The URL has no host.";
	else if (curl_url_get(h, CURLUPART_USER, &part, 0) == CURLUE_OK)
		*detail = "The URL must not contain credentials; put the key in the user mapping's api_key option.";
	/* the characters, since curl reports no empty query or fragment */
	else if (strchr(url, '?') != NULL)
		*detail = "The URL must not have a query string.";
	else if (strchr(url, '#') != NULL)
		*detail = "The URL must not have a fragment.";
	else
		ok = true;

	curl_free(scheme);
	curl_free(host);
	curl_free(part);
	curl_url_cleanup(h);
	return ok;
}

/*
 * Check that "url" can be a server's proxy: an absolute URL of a scheme
 * libcurl speaks to proxies (http, https, socks4, socks4a, socks5,
 * socks5h), with a host and without credentials, which would be shown to
 * whoever can read the server's options.  On failure, set *detail to why.
 */
bool
segment_check_proxy(const char *url, char **detail)
{
	static const char *const schemes[] = {"http", "https", "socks4", "socks4a",
	"socks5", "socks5h", NULL};
	CURLU	   *h = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *user = NULL;
	char	   *password = NULL;
	bool		ok = false;
	int			i;

	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
		curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		strncmp(url + strlen(scheme), "://", 3) != 0)
		*detail = "It is not an absolute URL.";
	else if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
			 host[0] == '\0')
		*detail = "The URL has no host.";
	else if (curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK ||
			 curl_url_get(h, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK)
		*detail = "The URL must not contain credentials.";
	else
	{
		*detail = "Its scheme must be http, https, socks4, socks4a, socks5 or socks5h.";
		for (i = 0; schemes[i]; i++)
		{
			if (pg_strcasecmp(scheme, schemes[i]) == 0)
				ok = true;
		}
	}

	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_free(password);
	curl_url_cleanup(h);
	return ok;
}

/*
 * URL bases a server not owned by a superuser may use besides Braze's REST
 * endpoints: the setting segment_fdw.allowed_urls, a comma-separated list.
 */
char	   *segment_allowed_urls = NULL;

/* The parts of a URL that decide where it goes, palloc'd */
typedef struct UrlParts
{
	char	   *scheme;
	char	   *host;
	char	   *port;			/* the scheme's default when none is given */
	char	   *path;
	bool		has_user;
} UrlParts;

/*
 * Split "url" into its parts with curl's URL API.  False if curl does not
 * take it as an absolute URL.
 */
static bool
url_parts(const char *url, UrlParts *parts)
{
	CURLU	   *h = curl_url();
	char	   *part[4] = {NULL, NULL, NULL, NULL};
	char	   *user = NULL;
	bool		ok;

	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	/* nothing in here throws: curl's strings are copied after the cleanup */
	ok = curl_url_set(h, CURLUPART_URL, url, 0) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_SCHEME, &part[0], 0) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_HOST, &part[1], 0) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_PORT, &part[2], CURLU_DEFAULT_PORT) == CURLUE_OK &&
		curl_url_get(h, CURLUPART_PATH, &part[3], 0) == CURLUE_OK;
	parts->has_user = curl_url_get(h, CURLUPART_USER, &user, 0) == CURLUE_OK;
	curl_free(user);
	curl_url_cleanup(h);

	if (ok)
	{
		parts->scheme = pstrdup(part[0]);
		parts->host = pstrdup(part[1]);
		parts->port = pstrdup(part[2]);
		parts->path = pstrdup(part[3]);
	}
	curl_free(part[0]);
	curl_free(part[1]);
	curl_free(part[2]);
	curl_free(part[3]);
	return ok;
}

/*
 * Is "host" the host of a Braze REST endpoint: rest.<instance>.braze.com
 * or rest.<instance>.braze.eu, the instance written like iad-01 (letters,
 * a hyphen, digits)?  Compared without regard to case, as DNS does.
 */
static bool
is_braze_host(const char *host)
{
	const char *p;
	const char *end;
	size_t		len = strlen(host);

	if (pg_strncasecmp(host, "rest.", 5) != 0)
		return false;
	if (len > 10 && pg_strcasecmp(host + len - 10, ".braze.com") == 0)
		end = host + len - 10;
	else if (len > 9 && pg_strcasecmp(host + len - 9, ".braze.eu") == 0)
		end = host + len - 9;
	else
		return false;

	p = host + 5;
	if (p >= end || !isalpha((unsigned char) *p))
		return false;
	while (p < end && isalpha((unsigned char) *p))
		p++;
	if (p >= end || *p++ != '-' || p >= end)
		return false;
	while (p < end && isdigit((unsigned char) *p))
		p++;
	return p == end;
}

/*
 * Does url "u" fall under the URL base "base": the same scheme, host and
 * port, and a path that is the base's path or below it, by whole segments
 * ("/v2" covers "/v2" and "/v2/x", not "/v22")?  curl removes "." and ".."
 * segments but sends percent-encoded ones as written, and a server may
 * decode them ("/v2/%2e%2e/admin" is "/admin" to many): below a base with
 * a path, a path with a percent sign is not taken.
 */
static bool
url_under_base(const UrlParts *u, const char *base)
{
	UrlParts	b;
	size_t		blen;

	if (!url_parts(base, &b))
		return false;
	if (pg_strcasecmp(u->scheme, b.scheme) != 0 ||
		pg_strcasecmp(u->host, b.host) != 0 ||
		strcmp(u->port, b.port) != 0)
		return false;
	blen = strlen(b.path);
	while (blen > 0 && b.path[blen - 1] == '/')
		blen--;
	if (blen > 0 && strchr(u->path, '%') != NULL)
		return false;
	return strncmp(u->path, b.path, blen) == 0 &&
		(u->path[blen] == '\0' || u->path[blen] == '/');
}

/*
 * The next item of the comma-separated list of segment_fdw.allowed_urls
 * (strtok_r's way: "list" the first time, NULL after), spaces trimmed;
 * empty items are skipped.  NULL at the end.
 */
static char *
next_url_item(char *list, char **saveptr)
{
	char	   *item;

	while ((item = strtok_r(list, ",", saveptr)) != NULL)
	{
		char	   *end;

		list = NULL;
		while (*item == ' ')
			item++;
		end = item + strlen(item);
		while (end > item && end[-1] == ' ')
			*--end = '\0';
		if (*item != '\0')
			return item;
	}
	return NULL;
}

/*
 * May a server whose owner is not a superuser use "url" (which
 * segment_check_url accepted)?  Yes for a Braze REST endpoint: https,
 * rest.<instance>.braze.com or .braze.eu, the default port, no path; and
 * for a URL under one of the bases of segment_fdw.allowed_urls.  Anything
 * else (loopback, internal hosts, numeric or encoded addresses) only a
 * superuser's server may use.
 */
bool
segment_url_is_allowed(const char *url)
{
	UrlParts	u;
	char	   *list;
	char	   *item;
	char	   *saveptr = NULL;

	if (!url_parts(url, &u) || u.has_user)
		return false;
	if (pg_strcasecmp(u.scheme, "https") == 0 && strcmp(u.port, "443") == 0 &&
		strcmp(u.path, "/") == 0 && is_braze_host(u.host))
		return true;

	if (segment_allowed_urls == NULL)
		return false;
	list = pstrdup(segment_allowed_urls);
	for (item = next_url_item(list, &saveptr); item != NULL;
		 item = next_url_item(NULL, &saveptr))
	{
		if (url_under_base(&u, item))
		{
			pfree(list);
			return true;
		}
	}
	pfree(list);
	return false;
}

/*
 * Check hook of segment_fdw.allowed_urls: every item must be a URL a
 * server could have.
 */
bool
segment_check_allowed_urls(char **newval, void **extra, GucSource source)
{
	char	   *list;
	char	   *item;
	char	   *saveptr = NULL;

	if (*newval == NULL)
		return true;
	list = pstrdup(*newval);
	for (item = next_url_item(list, &saveptr); item != NULL;
		 item = next_url_item(NULL, &saveptr))
	{
		char	   *detail = NULL;

		if (!segment_check_url(item, &detail))
		{
			GUC_check_errdetail("\"%s\": %s", item, detail);
			return false;
		}
	}
	pfree(list);
	return true;
}

/*
 * Append "name=value" to the query of "h", the value percent-encoded by
 * curl.  Does not throw.
 */
static CURLUcode
append_param(CURLU *h, const char *name, const char *value)
{
	char	   *escaped = curl_easy_escape(NULL, value, 0);
	char	   *param;
	CURLUcode	rc;

	if (escaped == NULL)
		return CURLUE_OUT_OF_MEMORY;
	param = palloc_extended(strlen(name) + strlen(escaped) + 2,
							MCXT_ALLOC_NO_OOM);
	if (param == NULL)
	{
		curl_free(escaped);
		return CURLUE_OUT_OF_MEMORY;
	}
	sprintf(param, "%s=%s", name, escaped);
	curl_free(escaped);
	rc = curl_url_set(h, CURLUPART_QUERY, param, CURLU_APPENDQUERY);
	pfree(param);
	return rc;
}

/*
 * Set req->url and req->target (path and query) for a request: the
 * endpoint's path appended to the server's url, and the parameters the
 * endpoint lists, encoded by curl's URL API, so a segment id such as
 * "a&b=c d/é" arrives intact.  Braze reads
 * UTF-8: the segment id is converted from the database encoding first, so
 * 'café' is sent as caf%C3%A9 from a LATIN1 database too.
 */
void
segment_url_for_request(const char *base_url, SegmentRequest *req)
{
	CURLU	   *h;
	char	   *path = NULL;
	char	   *url = NULL;
	char	   *query = NULL;
	char	   *newpath;
	size_t		pathlen;
	CURLUcode	rc;
	char	   *segment_utf8;
	int			i;

	/* may throw, so before curl allocates anything */
	segment_utf8 = req->segment_id ?
		pg_server_to_any(req->segment_id, strlen(req->segment_id), PG_UTF8) :
		NULL;
	h = curl_url();

	if (h == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));

	/* from here to curl_url_cleanup, nothing may throw */
	rc = curl_url_set(h, CURLUPART_URL, base_url, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(h, CURLUPART_PATH, &path, 0);
	if (rc == CURLUE_OK)
	{
		/* base path without trailing slashes, then the API's path */
		pathlen = strlen(path);
		while (pathlen > 0 && path[pathlen - 1] == '/')
			pathlen--;
		newpath = palloc_extended(pathlen + strlen(req->endpoint->path) + 1,
								  MCXT_ALLOC_NO_OOM);
		if (newpath == NULL)
			rc = CURLUE_OUT_OF_MEMORY;
		else
		{
			memcpy(newpath, path, pathlen);
			strcpy(newpath + pathlen, req->endpoint->path);
			rc = curl_url_set(h, CURLUPART_PATH, newpath, 0);
			pfree(newpath);
		}
	}

	/* the endpoint's parameters, percent-encoded (a space as %20, never '+') */
	for (i = 0; rc == CURLUE_OK && i < SEGMENT_MAX_PARAMS &&
		 req->endpoint->params[i] != SEGMENT_PARAM_END; i++)
	{
		char		number[32];

		switch (req->endpoint->params[i])
		{
			case SEGMENT_PARAM_END:
				break;			/* not reached */
			case SEGMENT_PARAM_SEGMENT_ID:
				rc = append_param(h, "segment_id", segment_utf8);
				break;
			case SEGMENT_PARAM_LENGTH:
				snprintf(number, sizeof(number), "%d", req->length);
				rc = append_param(h, "length", number);
				break;
			case SEGMENT_PARAM_ENDING_AT:
				/* left out: the API ends the series now */
				if (req->ending_at)
					rc = append_param(h, "ending_at", req->ending_at);
				break;
			case SEGMENT_PARAM_PAGE:
				snprintf(number, sizeof(number), INT64_FORMAT, req->page);
				rc = append_param(h, "page", number);
				break;
			case SEGMENT_PARAM_SORT_ASC:
				/* oldest first: segments created meanwhile come at the end */
				rc = append_param(h, "sort_direction", "asc");
				break;
		}
	}

	curl_free(path);
	path = NULL;
	if (rc == CURLUE_OK)
		rc = curl_url_get(h, CURLUPART_URL, &url, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(h, CURLUPART_PATH, &path, 0);
	if (rc == CURLUE_OK)
		rc = curl_url_get(h, CURLUPART_QUERY, &query, 0);

	if (rc == CURLUE_OK)
	{
		size_t		target_len = strlen(path) + strlen(query) + 2;

		req->url = palloc_extended(strlen(url) + 1, MCXT_ALLOC_NO_OOM);
		req->target = palloc_extended(target_len, MCXT_ALLOC_NO_OOM);
		if (req->url == NULL || req->target == NULL)
			rc = CURLUE_OUT_OF_MEMORY;
		else
		{
			strcpy(req->url, url);
			snprintf(req->target, target_len, "%s?%s", path, query);
		}
	}

	curl_free(url);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(h);

	if (rc != CURLUE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not build the request URL for GET %s",
						req->endpoint->path),
				 errdetail_internal("%s", curl_url_strerror(rc))));
}
