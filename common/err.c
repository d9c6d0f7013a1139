#include "err.h"

#include <string.h>

static const struct {
	const char *name;
	const char *text;
} err_table[] = {
#define BW_E(name, text) {#name, text},
#include "err.def"
#undef BW_E
};

#define ERR_COUNT (sizeof(err_table) / sizeof(err_table[0]))

static int err_index(int rc)
{
	if (rc <= BW__ERR_BASE || rc >= BW__ERR_END)
		return -1;
	return rc - BW__ERR_BASE - 1;
}

const char *bw_strerror(int rc)
{
	int i;

	if (rc == 0)
		return "success";
	i = err_index(rc);
	if (i >= 0 && (unsigned)i < ERR_COUNT)
		return err_table[i].text;
	if (rc < 0 && rc > BW__ERR_BASE)
		return strerror(-rc);
	return "unknown error";
}

const char *bw_errname(int rc)
{
	int i = err_index(rc);

	return (i >= 0 && (unsigned)i < ERR_COUNT) ? err_table[i].name : NULL;
}
