/*
 * docs/PROTOCOL.md describes exactly the table of proto/messages.def, the
 * ERROR codes of proto/errcodes.def and the frame limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "proto/proto.h"

/* Number of messages in the table. */
enum {
	MSG_COUNT = 0
#define PROTO_MSG(NAME, ...) +1
#include "proto/messages.def"
#undef PROTO_MSG
};

/* The section of doc that starts at heading h, up to the next heading. */
static size_t section_len(const char *h)
{
	const char *end = strstr(h + 1, "\n#");

	return end ? (size_t)(end - h) : strlen(h);
}

static bool section_has(const char *sec, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(sec + i, needle, n) == 0)
			return true;
	return false;
}

/*
 * docs/PROTOCOL.md describes exactly the table (curl test1477): a
 * "### NAME (id N)" heading per message, each field in its section as
 * "| `field` |" and its "max size: N bytes", a summary row per message, a row
 * per ERROR code, the frame limits; and no heading for a message the table
 * does not have.
 */
static void test_proto_docs_match_table(void **state)
{
	char *doc, need[256];
	size_t len, headings = 0;
	const char *p;

	assert_int_equal(bw_file_read(BW_SOURCE_DIR "/docs/PROTOCOL.md", 1 << 20, &doc, &len), 0);

	for (p = doc; (p = strstr(p, "\n### ")) != NULL; p++) {
		char name[64];
		unsigned id;

		if (sscanf(p, "\n### %63[A-Z0-9_] (id %u)", name, &id) != 2)
			continue;
		headings++;
		if ((size_t)id >= PROTO_MSG_SLOTS || !proto_msg_name((enum proto_msg_type)id) ||
		    strcmp(proto_msg_name((enum proto_msg_type)id), name) != 0)
			fail_msg("PROTOCOL.md documents %s (id %u), which the table does not have", name, id);
	}
	assert_int_equal(headings, MSG_COUNT);

#define PROTO_FIELD(m, type, req, min, max, elem)                            \
	if (!section_has(sec, slen, "| `" #m "` |"))                          \
		fail_msg("PROTOCOL.md: %s: field %s is not documented", name, #m);
#define PROTO_MSG(NAME, lname, id, dir, states, size, summary, fields)                         \
	{                                                                                     \
		const char *name = #NAME, *sec;                                               \
		size_t slen;                                                                  \
		snprintf(need, sizeof(need), "\n### %s (id %d)\n", name, id);                 \
		sec = strstr(doc, need);                                                      \
		if (!sec)                                                                     \
			fail_msg("PROTOCOL.md has no heading \"### %s (id %d)\"", name, id);  \
		slen = section_len(sec);                                                      \
		fields                                                                         \
		snprintf(need, sizeof(need), "| %s | %d |", name, id);                        \
		if (!strstr(doc, need))                                                       \
			fail_msg("PROTOCOL.md: summary table lacks \"%s\"", need);            \
		snprintf(need, sizeof(need), "max size: %zu bytes", (size_t)(size));         \
		if (!section_has(sec, slen, need))                                            \
			fail_msg("PROTOCOL.md: %s: max size %zu not given", name, (size_t)(size)); \
	}
#include "proto/messages.def"
#undef PROTO_MSG
#undef PROTO_FIELD

#define PROTO_ERRCODE(NAME, code, text)                                          \
	snprintf(need, sizeof(need), "| %d | `%s` |", code, #NAME);              \
	if (!strstr(doc, need))                                                  \
		fail_msg("PROTOCOL.md: error code table lacks \"%s\"", need);
#include "proto/errcodes.def"
#undef PROTO_ERRCODE

	/* The framing limits, with their values. */
	snprintf(need, sizeof(need), "| `PROTO_FRAME_MAX_PRELOGIN` | %d |", PROTO_FRAME_MAX_PRELOGIN);
	assert_non_null(strstr(doc, need));
	snprintf(need, sizeof(need), "| `PROTO_FRAME_MAX` | %d |", PROTO_FRAME_MAX);
	assert_non_null(strstr(doc, need));
	snprintf(need, sizeof(need), "| `PROTO_PAYLOAD_MAX` | %d |", PROTO_PAYLOAD_MAX);
	assert_non_null(strstr(doc, need));
	free(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proto_docs_match_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
