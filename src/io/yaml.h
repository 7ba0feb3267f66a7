/*
 * io/yaml.h — YAML (or JSON) manifest text to JSON documents, with libyaml.
 *
 * Static pod manifests are YAML or JSON, one or more documents a file. The
 * journal records what a manifest said as JSON (DESIGN.md contract 7: the fold
 * decodes it), so the manifest source converts each document here. Scalars are
 * typed as Kubernetes' YAML reader (sigs.k8s.io/yaml over go-yaml v2, YAML 1.1)
 * types them: plain null/~/empty → null, true/false/yes/no/on/off (any of their
 * usual cases) → booleans, decimal, 0x and 0o integers and decimal floats →
 * numbers, everything quoted or else → strings. Aliases are expanded; merge
 * keys (<<) are refused.
 *
 * Ownership: io_yaml_docs owns each document's JSON text until io_yaml_docs_free.
 */
#ifndef LEDGERLET_IO_YAML_H
#define LEDGERLET_IO_YAML_H

#include <stddef.h>

#define IO_YAML_DOCS_MAX 64          /* documents in one file */
#define IO_YAML_DEPTH_MAX 64         /* nesting */
#define IO_YAML_ANCHORS_MAX 256
#define IO_YAML_EXPANSION_MAX (4u << 20) /* bytes of JSON one file may expand to */

struct io_yaml_doc {
	char *json;
	size_t len;
	int line; /* where the document starts, 1-based */
};

struct io_yaml_docs {
	struct io_yaml_doc doc[IO_YAML_DOCS_MAX];
	size_t n;
};

/*
 * Converts text to JSON documents (empty documents are skipped). Returns 0, or
 * -1 with err saying what is wrong and at which line ("line 7, column 3: ...").
 * On error *out holds nothing.
 */
int io_yaml_to_json(const char *text, size_t len, struct io_yaml_docs *out, char *err,
		    size_t err_len);
void io_yaml_docs_free(struct io_yaml_docs *d);

#endif
