/*
 * yaml_test.c — manifests to JSON: documents, scalar typing as Kubernetes' YAML
 * reader types them, aliases, and errors that name the line.
 */
#include "io/yaml.h"
#include "test.h"

static int conv(const char *text, struct io_yaml_docs *d, char *err)
{
	return io_yaml_to_json(text, strlen(text), d, err, 256);
}

TEST(a_pod_manifest_becomes_json)
{
	struct io_yaml_docs d;
	char err[256];
	const char *y = "apiVersion: v1\n"
			"kind: Pod\n"
			"metadata:\n  name: web\n  labels: {app: web}\n"
			"spec:\n  containers:\n  - name: web\n    image: \"busybox:1\"\n"
			"    command: [/bin/httpd, -f, -p, \"8080\"]\n"
			"    ports:\n    - containerPort: 8080\n";
	REQUIRE(conv(y, &d, err) == 0);
	REQUIRE(d.n == 1);
	CHECK_EQ_STR(d.doc[0].json,
		     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"labels\":"
		     "{\"app\":\"web\"}},\"spec\":{\"containers\":[{\"name\":\"web\",\"image\":"
		     "\"busybox:1\",\"command\":[\"/bin/httpd\",\"-f\",\"-p\",\"8080\"],\"ports\":"
		     "[{\"containerPort\":8080}]}]}}");
	io_yaml_docs_free(&d);
}

TEST(scalars_are_typed_as_kubernetes_reads_them)
{
	struct io_yaml_docs d;
	char err[256];
	const char *y = "a: yes\nb: Off\nc: ~\nd:\ne: 0x1F\nf: 0755\ng: 1_000\nh: 1.50\ni: '5'\n"
			"j: 1e3\nk: -7\nl: \"true\"\nm: .5\nn: 10Mi\no: 12:30\n";
	REQUIRE(conv(y, &d, err) == 0);
	REQUIRE(d.n == 1);
	CHECK_EQ_STR(d.doc[0].json, "{\"a\":true,\"b\":false,\"c\":null,\"d\":null,\"e\":31,\"f\":493,"
				    "\"g\":1000,\"h\":1.5,\"i\":\"5\",\"j\":1000,\"k\":-7,\"l\":\"true\","
				    "\"m\":0.5,\"n\":\"10Mi\",\"o\":\"12:30\"}");
	io_yaml_docs_free(&d);
}

TEST(documents_are_split_and_empty_ones_skipped)
{
	struct io_yaml_docs d;
	char err[256];
	REQUIRE(conv("---\nkind: Pod\n---\n---\n# nothing\n---\nkind: Pod\nx: [1, 2]\n", &d, err) == 0);
	REQUIRE(d.n == 2);
	CHECK_EQ_STR(d.doc[0].json, "{\"kind\":\"Pod\"}");
	CHECK_EQ_STR(d.doc[1].json, "{\"kind\":\"Pod\",\"x\":[1,2]}");
	CHECK(d.doc[1].line > d.doc[0].line);
	io_yaml_docs_free(&d);
}

TEST(json_manifests_pass_through)
{
	struct io_yaml_docs d;
	char err[256];
	REQUIRE(conv("{\"kind\": \"Pod\", \"spec\": {\"a\": [1, \"x\\ny\", null, true]}}", &d, err) == 0);
	REQUIRE(d.n == 1);
	CHECK_EQ_STR(d.doc[0].json, "{\"kind\":\"Pod\",\"spec\":{\"a\":[1,\"x\\ny\",null,true]}}");
	io_yaml_docs_free(&d);
}

TEST(aliases_repeat_their_anchor)
{
	struct io_yaml_docs d;
	char err[256];
	REQUIRE(conv("base: &b {image: busybox, args: [a]}\nother: *b\n", &d, err) == 0);
	CHECK_EQ_STR(d.doc[0].json, "{\"base\":{\"image\":\"busybox\",\"args\":[\"a\"]},\"other\":"
				    "{\"image\":\"busybox\",\"args\":[\"a\"]}}");
	io_yaml_docs_free(&d);
}

TEST(errors_name_the_line)
{
	struct io_yaml_docs d;
	char err[256];
	CHECK(conv("kind: Pod\nspec:\n  containers: [a, b\n", &d, err) == -1);
	CHECKF(strstr(err, "line ") != NULL, "%s", err);
	CHECK(conv("a: *nope\n", &d, err) == -1);
	CHECKF(strstr(err, "alias *nope names no anchor") != NULL, "%s", err);
	CHECK(conv("a: &x {b: 1}\n<<: *x\n", &d, err) == -1);
	CHECKF(strstr(err, "merge keys") != NULL && strstr(err, "line 2") != NULL, "%s", err);
	CHECK(conv("a: .inf\n", &d, err) == -1);
	CHECK(conv("? [a]\n: b\n", &d, err) == -1);
	CHECKF(strstr(err, "mapping key") != NULL, "%s", err);
	CHECK(conv("\t- bad indentation\n  x: : :\n", &d, err) == -1);
}

TEST(alias_bombs_are_bounded)
{
	/* Each level repeats the one before ten times. */
	char y[2048] = "a0: &a0 [\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]\n";
	for (int i = 1; i < 9; i++) {
		char line[200];
		snprintf(line, sizeof(line), "a%d: &a%d [*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d,*a%d]\n",
			 i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
		strcat(y, line);
	}
	struct io_yaml_docs d;
	char err[256];
	CHECK(conv(y, &d, err) == -1);
	CHECKF(strstr(err, "expand past") != NULL, "%s", err);
}

TEST_MAIN("io/yaml", T(a_pod_manifest_becomes_json), T(scalars_are_typed_as_kubernetes_reads_them),
	  T(documents_are_split_and_empty_ones_skipped), T(json_manifests_pass_through),
	  T(aliases_repeat_their_anchor), T(errors_name_the_line), T(alias_bombs_are_bounded))
