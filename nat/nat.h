/*
 * NAT detection. burrowd answers STUN on its UDP port (RFC 5389 Binding, plus
 * RFC 5780 OTHER-ADDRESS and CHANGE-REQUEST when it has a second address and
 * port); burrow probes the NAT in front of it against that server, classifies
 * it, and reports it in words, in JSON and as a compact record for the
 * rendezvous. STUN messages are encoded and decoded by libnice's STUN library.
 * docs/NAT-DETECTION.md describes the message sequence and the classification.
 */
#ifndef BW_NAT_H
#define BW_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;

/* Numeric IPv4 or IPv6 address (never DNS) and port into *out. */
int nat_addr_parse(const char *host, uint16_t port, struct sockaddr_storage *out);

/* STUN server ------------------------------------------------------------- */

/* Datagrams on the primary socket that are not STUN (first byte above 3, the
 * RFC 7983 demultiplexing rule) go here, for the rendezvous. data is valid
 * for the call only; the callback must not free the server. */
typedef void (*nat_stun_other_cb)(const uint8_t *data, size_t len,
				  const struct sockaddr *from, void *arg);

struct nat_stun_server_conf {
	struct sockaddr_storage addr;     /* A1:P1 (bindAddr:bindUDPPort); port 0 = any */
	/* RFC 5780 needs both A2 and P2, and a specific A1 of A2's family; the
	 * server then binds A1:P1, A1:P2, A2:P1 and A2:P2. Neither = one socket,
	 * no OTHER-ADDRESS, and 420 to CHANGE-REQUEST (RFC 5780 section 6). */
	struct sockaddr_storage alt_addr; /* A2 (natProbeAltAddr); AF_UNSPEC = none */
	uint16_t alt_port;                /* P2 (natProbeAltPort); 0 = any free port */
	const char *software;             /* SOFTWARE value; NULL = "burrow <version>" */
	nat_stun_other_cb on_other;       /* NULL = drop non-STUN datagrams */
	void *other_arg;
};

struct nat_stun_stats {
	uint64_t requests;   /* Binding requests answered with a success response */
	uint64_t errors;     /* error responses sent (400, 420) */
	uint64_t dropped;    /* malformed, oversized, not a request, send failures */
	uint64_t other;      /* non-STUN datagrams handed to on_other */
};

/* Bind the sockets and start answering on `base`. NULL and *rc on error:
 * BW_E_NAT_ALT_CONF for an incomplete RFC 5780 setup, -EADDRINUSE, ... */
struct nat_stun_server *nat_stun_server_new(struct event_base *base,
					    const struct nat_stun_server_conf *conf, int *rc);
void nat_stun_server_free(struct nat_stun_server *srv); /* NULL is a no-op */

/* Bound address of socket i (0 A1:P1, 1 A1:P2, 2 A2:P1, 3 A2:P2); ports the
 * OS chose are filled in. BW_E_NOT_FOUND when the server has no socket i. */
int nat_stun_server_addr(const struct nat_stun_server *srv, unsigned i,
			 struct sockaddr_storage *out);
/* Send one datagram from the primary socket (for the rendezvous). */
int nat_stun_server_sendto(struct nat_stun_server *srv, const void *buf, size_t len,
			   const struct sockaddr *to);
void nat_stun_server_stats(const struct nat_stun_server *srv, struct nat_stun_stats *out);

/* Classification ---------------------------------------------------------- */

enum nat_type {
	NAT_TYPE_UNKNOWN, NAT_TYPE_OPEN, NAT_TYPE_FIREWALL, NAT_TYPE_FULL_CONE,
	NAT_TYPE_RESTRICTED, NAT_TYPE_PORT_RESTRICTED, NAT_TYPE_SYMMETRIC,
	NAT_TYPE_UDP_BLOCKED, NAT_TYPE_COUNT
};
/* RFC 4787 words, for mapping and filtering; DEPENDENT is a mapping that is
 * one of the two dependent kinds when test III went unanswered. */
enum nat_behaviour {
	NAT_BEH_UNKNOWN, NAT_BEH_ENDPOINT_INDEPENDENT, NAT_BEH_ADDRESS_DEPENDENT,
	NAT_BEH_ADDRESS_PORT_DEPENDENT, NAT_BEH_DEPENDENT, NAT_BEH_COUNT
};
enum nat_tri { NAT_TRI_UNKNOWN, NAT_TRI_NO, NAT_TRI_YES, NAT_TRI_COUNT };
enum nat_udp { NAT_UDP_OK, NAT_UDP_NO_RESPONSE, NAT_UDP_ERROR, NAT_UDP_COUNT };
enum nat_alloc {
	NAT_ALLOC_UNKNOWN, NAT_ALLOC_PRESERVING, NAT_ALLOC_SEQUENTIAL, NAT_ALLOC_RANDOM,
	NAT_ALLOC_COUNT
};
enum nat_test { NAT_TEST_MAPPING, NAT_TEST_FILTERING, NAT_TEST_HAIRPIN, NAT_TEST_ALLOC,
		NAT_TEST_COUNT };

/* What one STUN transaction of the probe saw. */
enum nat_answer { NAT_ANS_NOT_RUN, NAT_ANS_NONE, NAT_ANS_OK, NAT_ANS_ERROR };
struct nat_sample {
	enum nat_answer answer;
	int error;                       /* STUN error code (NAT_ANS_ERROR) */
	struct sockaddr_storage local;   /* the socket the request left from */
	struct sockaddr_storage mapped;  /* XOR-MAPPED-ADDRESS (NAT_ANS_OK) */
};

#define NAT_SEQ_MAX 8
struct nat_observations {
	struct sockaddr_storage server;  /* A1:P1 */
	struct sockaddr_storage other;   /* OTHER-ADDRESS of test I; AF_UNSPEC = none */
	struct nat_sample map[3];        /* one socket to A1:P1, A2:P1, A2:P2 */
	struct nat_sample filter[2];     /* fresh sockets: CHANGE-REQUEST ip+port, port */
	enum nat_answer hairpin;         /* a request to map[0]'s mapped address came back */
	struct nat_sample seq[NAT_SEQ_MAX]; /* fresh sockets to A1:P1, in send order */
	unsigned n_seq;
	int timeout_ms;                  /* per request, for the give-up message */
	int send_errno;                  /* last sendto() error of test I, 0 = none */
	int64_t rtt_ms, elapsed_ms;
};

#define NAT_WHY_MAX 160
struct nat_result {
	enum nat_type type;
	enum nat_udp udp;
	enum nat_tri nat;                /* mapped address differs from the local one */
	enum nat_behaviour mapping, filtering;
	enum nat_tri port_preserving, hairpin;
	enum nat_alloc alloc;
	int port_delta;                  /* NAT_ALLOC_SEQUENTIAL: next port - last port */
	struct sockaddr_storage server, other, local, mapped;
	unsigned untested;               /* bits 1 << NAT_TEST_* */
	char why[NAT_TEST_COUNT][NAT_WHY_MAX]; /* why each untested test is */
	char error[2 * NAT_WHY_MAX];     /* give-up message when udp != NAT_UDP_OK */
	int64_t rtt_ms, elapsed_ms;
};

/* Pure: observations in, verdict out (docs/NAT-DETECTION.md has the rules). */
void nat_classify(const struct nat_observations *obs, struct nat_result *out);

/* Render into buf (NUL-terminated); BW_E_TOO_BIG when truncated.
 * NAT_FORMAT_MAX always suffices. JSON keys are stable (see the docs). */
#define NAT_FORMAT_MAX 2048
int nat_result_format_text(const struct nat_result *r, char *buf, size_t len);
int nat_result_format_json(const struct nat_result *r, char *buf, size_t len);
const char *nat_type_name(enum nat_type t); /* "port-restricted-cone"; never NULL */

/* The compact record for the NAT_REPORT message: each field an enum value
 * above (range 0..*_COUNT-1), port_delta as int16. */
struct nat_report {
	uint8_t type, udp, mapping, filtering, alloc, hairpin, port_preserving;
	uint8_t untested;                /* bits 1 << NAT_TEST_* */
	int16_t port_delta;
};
void nat_report_from_result(const struct nat_result *r, struct nat_report *out);
int nat_report_check(const struct nat_report *rep); /* BW_E_RANGE if out of range */
/* One line for logs and status: "symmetric (mapping ..., ports sequential +1)". */
int nat_report_format(const struct nat_report *rep, char *buf, size_t len);

/* Probe -------------------------------------------------------------------- */

struct nat_probe_conf {
	struct sockaddr_storage server;  /* burrowd's STUN address (A1:P1) */
	struct sockaddr_storage local;   /* AF_UNSPEC = the route's source address */
	int timeout_ms;                  /* 0 = 1500: give up on a request after */
	int rto_ms;                      /* 0 = 100: first retransmission, doubling */
	unsigned seq_samples;            /* 0 = 4, at most NAT_SEQ_MAX */
	bool no_hairpin;                 /* skip the hairpinning test */
};

/* Called once, from the event loop, with the verdict; r lives until
 * nat_probe_free, which the callback may call. */
typedef void (*nat_probe_done_cb)(const struct nat_result *r, void *arg);

/* Start the tests (independent ones in parallel). NULL and *rc when the
 * sockets cannot be set up; done is then never called. */
struct nat_probe *nat_probe_start(struct event_base *base, const struct nat_probe_conf *conf,
				  nat_probe_done_cb done, void *arg, int *rc);
/* Stop (done is not called if it has not been) and free; NULL is a no-op. */
void nat_probe_free(struct nat_probe *p);
const struct nat_observations *nat_probe_observations(const struct nat_probe *p);

#endif
