/*
 * libFuzzer harness for the TOML side of conf/: the TOML reader on its own,
 * then both loaders (key table, checks, describe) on the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>

#include "conf/conf_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct toml_node *root;
	struct toml_error err;
	struct conf_diag diag = { 0 };
	struct conf_client c;
	struct conf_server s;

	if (size > CONF_FILE_MAX)
		return 0;
	if (toml_parse(text, size, &root, &err) == 0)
		toml_free(root);
	if (conf_client_parse("fuzz.toml", text, size, CONF_FORMAT_TOML, &c, &diag) == 0) {
		free(conf_client_describe(&c));
		conf_client_free(&c);
	}
	if (conf_server_parse("fuzz.toml", text, size, CONF_FORMAT_TOML, &s, &diag) == 0) {
		free(conf_server_describe(&s));
		conf_server_free(&s);
	}
	conf_diag_free(&diag);
	return 0;
}
