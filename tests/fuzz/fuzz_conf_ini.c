/*
 * libFuzzer harness for frp's legacy INI files: both loaders with the format
 * given and sniffed, then describe() on what loads.
 */
#include <stdint.h>
#include <stdlib.h>

#include "conf/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct conf_diag diag = { 0 };
	struct conf_client c;
	struct conf_server s;

	if (size > CONF_FILE_MAX)
		return 0;
	if (conf_client_parse("fuzz.ini", text, size, CONF_FORMAT_INI, &c, &diag) == 0) {
		free(conf_client_describe(&c));
		conf_client_free(&c);
	}
	if (conf_server_parse("fuzz.ini", text, size, CONF_FORMAT_INI, &s, &diag) == 0) {
		free(conf_server_describe(&s));
		conf_server_free(&s);
	}
	if (conf_client_parse("fuzz", text, size, CONF_FORMAT_AUTO, &c, &diag) == 0)
		conf_client_free(&c);
	conf_diag_free(&diag);
	return 0;
}
