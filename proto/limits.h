/*
 * Every limit of the wire protocol, in one list (STYLE.md 9). The message
 * table (proto/messages.def) refers to these names; the decoder enforces them
 * and the encoder refuses to produce what a peer would reject. docs/PROTOCOL.md
 * repeats the values; change both together.
 */
#ifndef BW_PROTO_LIMITS_H
#define BW_PROTO_LIMITS_H

/* Framing ----------------------------------------------------------------- */

/* Every frame starts with its payload length, 4 bytes, big-endian. */
#define PROTO_FRAME_HDR 4

/*
 * Bytes the crypto layer adds around each payload once the session is
 * encrypted: the 16-byte tag of XChaCha20-Poly1305 or AES-256-GCM. Nonces are
 * implicit counters, so nothing else travels. If crypto/ ever adds more per
 * record, raise this and the frame limits follow.
 */
#define PROTO_AEAD_OVERHEAD 16

/* Largest UDP payload a UDP_PACKET carries (IPv4 and IPv6 without jumbograms). */
#define PROTO_UDP_DATAGRAM_MAX 65535

/*
 * Largest plaintext message: a UDP_PACKET with a full datagram plus its two
 * address strings and msgpack framing (under 200 bytes; 512 leaves room).
 * Every message's maximum size in messages.def is at most this.
 */
#define PROTO_PAYLOAD_MAX (PROTO_UDP_DATAGRAM_MAX + 512)

/* Frame payload limit once logged in (CONTROL and WORK states): 66,063 bytes. */
#define PROTO_FRAME_MAX (PROTO_PAYLOAD_MAX + PROTO_AEAD_OVERHEAD)

/*
 * Frame payload limit before login (NEW and HANDSHAKE states), so that an
 * unauthenticated peer makes the server buffer at most this much. Every message
 * accepted in those states (HELLO, LOGIN, NEW_WORK_CONN, NEW_VISITOR_CONN...)
 * fits, AEAD tag included; proto.c checks it at compile time.
 */
#define PROTO_FRAME_MAX_PRELOGIN 2048

/* Fields ------------------------------------------------------------------ */

#define PROTO_FIELD_NAME_MAX 31     /* wire name of a field (a map key) */
#define PROTO_MAP_KEY_MAX 64        /* key of a str-map field (metas, headers) */

#define PROTO_HS_MAX 256            /* crypto handshake message in HELLO(_REPLY) */
#define PROTO_SUITES_MAX 8          /* AEAD suites offered in HELLO */
#define PROTO_SUITE_ID_MAX 255
#define PROTO_VERSION_ID_MAX 255    /* protocol version numbers */
#define PROTO_ERROR_CODE_MAX 65535  /* ERROR code (proto/errcodes.def) */
#define PROTO_ERROR_TEXT_MAX 512    /* ERROR message, *_RESP error strings */

#define PROTO_SOFTWARE_VERSION_MAX 32
#define PROTO_USER_MAX 64
#define PROTO_RUN_ID_MAX 64
#define PROTO_HOSTNAME_MAX 64       /* the client machine's name (Linux: 64) */
#define PROTO_OS_ARCH_MAX 32        /* "linux", "amd64" */
#define PROTO_POOL_COUNT_MAX 64     /* work connections kept open in advance */
#define PROTO_LOGIN_METAS_MAX 8
#define PROTO_LOGIN_META_VALUE_MAX 128

#define PROTO_PROXY_NAME_MAX 128    /* frp prefixes names with "user." */
#define PROTO_PROXY_TYPE_MAX 16     /* "tcp", "xtcp"... */
#define PROTO_HOST_MAX 253          /* a DNS name */
#define PROTO_SUBDOMAIN_MAX 63      /* one DNS label */
#define PROTO_ADDR_MAX 64           /* "[2001:db8::1]:51000" and the like */
#define PROTO_DOMAINS_MAX 16        /* custom_domains */
#define PROTO_LOCATIONS_MAX 16
#define PROTO_LOCATION_MAX 256      /* one URL path prefix */
#define PROTO_HTTP_USER_MAX 64
#define PROTO_HTTP_PASSWORD_MAX 128
#define PROTO_HEADERS_MAX 16        /* headers set on forwarded requests */
#define PROTO_HEADER_VALUE_MAX 512
#define PROTO_PROXY_METAS_MAX 16
#define PROTO_META_VALUE_MAX 256
#define PROTO_ALLOW_USERS_MAX 16

#define PROTO_MAC_LEN 32            /* NEW_WORK_CONN, NEW_VISITOR_CONN */
#define PROTO_PROOF_LEN 32          /* NEW_VISITOR_CONN */
#define PROTO_SK_VERIFIER_LEN 32    /* NEW_PROXY (stcp, sudp, xtcp) */
#define PROTO_WORK_CONN_REQ_MAX 64  /* REQ_WORK_CONN count */
#define PROTO_ICE_UFRAG_MAX 256     /* RFC 8445 ice-ufrag: 4..256 characters */
#define PROTO_ICE_PWD_MAX 256       /* ice-pwd: 22..256 */
#define PROTO_ICE_CANDIDATE_MAX 512 /* one SDP candidate attribute value */
#define PROTO_P2P_SESSIONS_PER_CLIENT_MAX 64 /* P2P sessions a client takes part in */
#define PROTO_P2P_CANDIDATES_MAX 64 /* candidates per side and session */

/*
 * Limits the layers above enforce on what the messages ask for, named here so
 * that every limit is in one list.
 */
#define PROTO_PROXIES_PER_CLIENT_MAX 256
#define PROTO_WORK_CONN_PENDING_MAX PROTO_POOL_COUNT_MAX
#define PROTO_UDP_SESSIONS_PER_PROXY_MAX 1024
/* User connections of one client waiting for a work connection at once;
 * more are refused (closed) until the client catches up. */
#define PROTO_WAITING_USERS_MAX 4096
/* A local service (or burrowd, for a work connection) must accept within this. */
#define PROTO_CONNECT_TIMEOUT_MS 10000

#endif
