/*
 * Replays a libFuzzer corpus through a harness without libFuzzer, so every
 * build (gcc, ASan, UBSan) runs the corpus as a regression test. Arguments are
 * files or directories; each file is one input.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	char *data;
	size_t len;
	int rc = bw_file_read(path, 1u << 20, &data, &len);

	if (rc < 0) {
		fprintf(stderr, "replay: %s: cannot read (%d)\n", path, rc);
		return 1;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	free(data);
	return 0;
}

static int replay(const char *path, unsigned *count)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int failed = 0;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "replay: %s: not found\n", path);
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return replay_file(path);
	}
	d = opendir(path);
	if (!d)
		return 1;
	while ((de = readdir(d)) != NULL) {
		char full[4096];

		if (de->d_name[0] == '.')
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		failed |= replay(full, count);
	}
	closedir(d);
	return failed;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int failed = 0;

	for (int i = 1; i < argc; i++)
		failed |= replay(argv[i], &count);
	printf("replayed %u inputs\n", count);
	if (count == 0) {
		fprintf(stderr, "replay: empty corpus\n");
		return 1;
	}
	return failed;
}
