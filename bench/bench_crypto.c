/*
 * bench_crypto: single-thread throughput of crypto/ against memcpy.
 *
 * For 16 KiB stream records and 1,200-byte datagrams, per suite, seal and
 * open through the public API (bw_crypto_seal/open, bw_crypto_dgram_*), each
 * as MB/s (10^6 bytes of plaintext per second) and as a ratio to memcpy of the
 * same sizes measured in the same run; then full handshakes per second.
 * Every figure is the median of --reps runs of --time seconds of this
 * thread's CPU time (so "per core", whatever else runs on the machine).
 *
 * Buffers cycle through a ring of about 256 KiB, so that every row (memcpy
 * included) works from L2 rather than from one L1-hot buffer. Open needs
 * records under consecutive counters: a ring of them is sealed once, opened
 * in order, and the receiver's counter (or replay window) is reset, through a
 * test hook, each time the ring wraps.
 *
 *   bench_crypto                 the table (about 15 s)
 *   bench_crypto --quick         a smoke run (ctest bench/crypto-smoke)
 *   bench_crypto --time S --reps N
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "crypto/crypto.h"
#include "crypto/crypto_int.h"

#define RING_BYTES (256 * 1024)

static double opt_time = 0.33;
static int opt_reps = 3;

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Totals over the run, to report how much other load stole. */
static double total_cpu, total_wall;

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_crypto: %s: %s\n", what, bw_strerror(rc));
	exit(1);
}

/* Keeps the compiler from dropping memcpy whose result nobody reads. */
static void clobber(void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

enum op { OP_MEMCPY, OP_SEAL, OP_OPEN, OP_HANDSHAKE };

struct job {
	enum op op;
	enum bw_crypto_mode mode;
	size_t size;    /* plaintext bytes per record */
	size_t nring;   /* records in the ring */
	size_t stride;  /* bytes per ring slot */
	uint8_t *pt, *ring, *out;
	struct bw_crypto_session *tx, *rx;
};

static const uint8_t psk[32] = "bench psk bench psk bench psk b";

static void handshake(uint8_t suite, enum bw_crypto_mode mode, struct bw_crypto_session **si,
		      struct bw_crypto_session **sr)
{
	uint8_t m1[128], m2[128], pl[16];
	size_t l1, l2, n;
	int rc;
	struct bw_crypto_hs *i = bw_crypto_hs_new(BW_CRYPTO_INITIATOR, psk, NULL, 0, &rc);
	struct bw_crypto_hs *r = bw_crypto_hs_new(BW_CRYPTO_RESPONDER, psk, NULL, 0, &rc);

	if (!i || !r)
		die("hs_new", rc);
	if ((rc = bw_crypto_hs_write_msg1(i, NULL, 0, m1, sizeof(m1), &l1)) < 0 ||
	    (rc = bw_crypto_hs_read_msg1(r, m1, l1, pl, sizeof(pl), &n)) < 0 ||
	    (rc = bw_crypto_hs_write_msg2(r, suite, NULL, 0, m2, sizeof(m2), &l2)) < 0 ||
	    (rc = bw_crypto_hs_read_msg2(i, m2, l2, pl, sizeof(pl), &n)) < 0 ||
	    (rc = bw_crypto_hs_split(i, mode, si)) < 0 || (rc = bw_crypto_hs_split(r, mode, sr)) < 0)
		die("handshake", rc);
	bw_crypto_hs_free(i);
	bw_crypto_hs_free(r);
}

/* One batch of work (a ring's worth); returns plaintext bytes processed. */
static size_t batch(struct job *j)
{
	size_t n;
	int rc = 0;

	for (size_t k = 0; k < j->nring; k++) {
		uint8_t *slot = j->ring + k * j->stride;

		switch (j->op) {
		case OP_MEMCPY:
			memcpy(slot, j->pt, j->size);
			clobber(slot);
			break;
		case OP_SEAL:
			rc = j->mode == BW_CRYPTO_STREAM
				     ? bw_crypto_seal(j->tx, NULL, 0, j->pt, j->size, slot, j->stride, &n)
				     : bw_crypto_dgram_seal(j->tx, j->pt, j->size, slot, j->stride, &n);
			break;
		case OP_OPEN:
			n = j->size + (j->mode == BW_CRYPTO_STREAM ? BW_CRYPTO_RECORD_OVERHEAD
								   : BW_CRYPTO_DGRAM_OVERHEAD);
			rc = j->mode == BW_CRYPTO_STREAM
				     ? bw_crypto_open(j->rx, NULL, 0, slot, n, j->out, j->size, &n)
				     : bw_crypto_dgram_open(j->rx, slot, n, j->out, j->size, &n);
			break;
		case OP_HANDSHAKE: {
			struct bw_crypto_session *a, *b;

			handshake(BW_CRYPTO_CHACHA20POLY1305, BW_CRYPTO_STREAM, &a, &b);
			bw_crypto_session_free(a);
			bw_crypto_session_free(b);
			break;
		}
		}
		if (rc < 0)
			die("record", rc);
	}
	if (j->op == OP_OPEN)
		bw_crypto__session_set_counters(j->rx, 0, 0); /* the ring again from 0 */
	return j->op == OP_HANDSHAKE ? j->nring : j->nring * j->size;
}

/*
 * Median over reps of units (bytes or handshakes) per CPU second of this
 * thread: "per core" even when other processes share the machine and
 * deschedule us. Wall time is capped too, so a busy machine cannot stretch
 * the run without bound.
 */
static double measure(struct job *j)
{
	double r[16];

	batch(j); /* warm up: caches, key schedules, CPU clock */
	for (int rep = 0; rep < opt_reps; rep++) {
		double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC), t, w;
		size_t units = 0;

		do {
			units += batch(j);
			t = clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
			w = clock_s(CLOCK_MONOTONIC) - w0;
		} while (t < opt_time && w < 4 * opt_time);
		r[rep] = (double)units / t;
		total_cpu += t;
		total_wall += w;
	}
	qsort(r, (size_t)opt_reps, sizeof(r[0]), cmp_double);
	return r[opt_reps / 2];
}

static void setup(struct job *j, enum op op, uint8_t suite, enum bw_crypto_mode mode, size_t size)
{
	memset(j, 0, sizeof(*j));
	j->op = op;
	j->mode = mode;
	j->size = size;
	j->stride = (size + BW_CRYPTO_DGRAM_OVERHEAD + 63) / 64 * 64;
	j->nring = RING_BYTES / j->stride;
	j->pt = malloc(size);
	j->out = malloc(size);
	j->ring = malloc(j->nring * j->stride);
	if (!j->pt || !j->out || !j->ring)
		die("malloc", BW_E_NOMEM);
	for (size_t k = 0; k < size; k++)
		j->pt[k] = (uint8_t)(k * 131);
	memset(j->ring, 0, j->nring * j->stride);
	if (op == OP_SEAL || op == OP_OPEN)
		handshake(suite, mode, &j->tx, &j->rx);
	if (op == OP_OPEN) {
		enum op keep = j->op;

		j->op = OP_SEAL; /* fill the ring with records 0..nring-1 */
		batch(j);
		j->op = keep;
	}
}

static void teardown(struct job *j)
{
	bw_crypto_session_free(j->tx);
	bw_crypto_session_free(j->rx);
	free(j->pt);
	free(j->out);
	free(j->ring);
}

static void cpu_line(void)
{
	char line[256], model[256] = "?";
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "model name", 10) == 0) {
			char *p = strchr(line, ':');

			snprintf(model, sizeof(model), "%s", p ? p + 2 : line);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	if (f)
		fclose(f);
	printf("cpu: %s; AES-256-GCM (AES-NI + PCLMUL) %s\n", model,
	       crypto_aead_aes256gcm_is_available() ? "available" : "not available");
}

int main(int argc, char **argv)
{
	static const uint8_t all[] = {BW_CRYPTO_XCHACHA20POLY1305, BW_CRYPTO_CHACHA20POLY1305,
				      BW_CRYPTO_AES256GCM};
	static const struct {
		const char *name;
		enum bw_crypto_mode mode;
		size_t size;
	} kinds[] = {{"stream", BW_CRYPTO_STREAM, 16384}, {"dgram", BW_CRYPTO_DGRAM, 1200}};
	struct job j;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--quick") == 0) {
			opt_time = 0.01;
			opt_reps = 1;
		} else if (strcmp(argv[i], "--time") == 0 && i + 1 < argc) {
			opt_time = atof(argv[++i]);
		} else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
			opt_reps = atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: bench_crypto [--quick] [--time S] [--reps N]\n");
			return 2;
		}
	}
	if (opt_reps < 1 || opt_reps > 15 || opt_time <= 0 || opt_time > 10) {
		fprintf(stderr, "bench_crypto: --reps 1..15, --time (0, 10]\n");
		return 2;
	}
	if ((rc = bw_crypto_init()) < 0)
		die("init", rc);
	cpu_line();
	printf("one thread; median of %d x %.2f s per row; MB = 10^6 bytes of plaintext\n\n",
	       opt_reps, opt_time);
	printf("%-7s %6s  %-18s %-5s %10s %9s\n", "kind", "bytes", "suite", "op", "MB/s",
	       "x memcpy");
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		double base;

		setup(&j, OP_MEMCPY, 0, kinds[k].mode, kinds[k].size);
		base = measure(&j);
		teardown(&j);
		printf("%-7s %6zu  %-18s %-5s %10.0f %9.3f\n", kinds[k].name, kinds[k].size, "memcpy",
		       "-", base / 1e6, 1.0);
		for (size_t s = 0; s < sizeof(all); s++) {
			if (!bw_crypto__suite_local(all[s]))
				continue;
			for (enum op op = OP_SEAL; op <= OP_OPEN; op++) {
				double v;

				setup(&j, op, all[s], kinds[k].mode, kinds[k].size);
				v = measure(&j);
				teardown(&j);
				printf("%-7s %6zu  %-18s %-5s %10.0f %9.3f\n", kinds[k].name,
				       kinds[k].size, bw_crypto_suite_name(all[s]),
				       op == OP_SEAL ? "seal" : "open", v / 1e6, v / base);
			}
		}
	}
	memset(&j, 0, sizeof(j));
	j.op = OP_HANDSHAKE;
	j.nring = 16;
	printf("\nhandshakes/s (initiator and responder both on this core, split included): %.0f\n",
	       measure(&j));
	printf("measured %.1f s of CPU in %.1f s of wall time (%.0f%% lost to other load)\n",
	       total_cpu, total_wall, 100.0 * (1.0 - total_cpu / total_wall));
	return 0;
}
