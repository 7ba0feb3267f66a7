/*
 * bench/rss_floor.c — the resident memory of a process that links what
 * ledgerlet links and initialises libcurl, and does nothing else: the floor
 * under bench rss_110_pods_mib (bench/node_110.sh). Debian's libcurl brings its
 * TLS, Kerberos, LDAP, SSH and IDN libraries; their pages count in every
 * process's RSS, shared as they are.
 *
 * Prints: bench rss_libcurl_floor_mib <n> MiB
 */
#include <curl/curl.h>
#include <json-c/json.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>

#include "io/reactor.h"

static long status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kb = -1;
	size_t n = strlen(field);
	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, field, n) == 0 && line[n] == ':')
			sscanf(line + n + 1, "%ld", &kb);
	if (f != NULL)
		fclose(f);
	return kb;
}

int main(void)
{
	/* What every ledgerlet has at its start: libcurl, a multi handle, a reactor. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURLM *m = curl_multi_init();
	struct io_reactor *r = NULL;
	if (m == NULL || io_reactor_new(&r, 256) != 0) {
		fprintf(stderr, "rss_floor: cannot set up libcurl or the reactor\n");
		return 1;
	}
	printf("bench rss_libcurl_floor_mib %.3f MiB\n", (double)status_kb("VmRSS") / 1024);
	io_reactor_free(r);
	curl_multi_cleanup(m);
	curl_global_cleanup();
	(void)mdb_version;
	(void)json_c_version;
	return 0;
}
