/*
 * The quic engine's ngtcp2 connection: callbacks, a null packet protection
 * and a four-message handshake in CRYPTO frames in place of TLS.
 *
 * Why QUIC runs without its own crypto here. Burrow's rule is "libsodium for
 * all crypto", and the peer session already seals every datagram this engine
 * emits (crypto/, keyed by a Noise handshake over the proxy's secret): the
 * session's AEAD gives confidentiality and integrity, its record counter and
 * replay window reject replays, and its ephemeral keys give forward secrecy.
 * A datagram that fails the session's checks never reaches ngtcp2, so a party
 * without the session keys can neither read QUIC packets nor inject, modify
 * or replay one: not a STREAM frame, not an ACK, not a CONNECTION_CLOSE or a
 * stateless reset. QUIC's own packet protection and TLS handshake would only
 * repeat that work with a second set of keys (and drag in GnuTLS). So:
 * - encrypt copies the payload and appends a 16-byte zero "tag", decrypt
 *   copies it back (Q_TAGLEN says why the tag is not shorter);
 * - header protection uses an all-zero mask (the header goes as it is);
 * - Initial, Handshake and 1-RTT "keys" are installed with dummy contexts;
 * - the handshake carries only what QUIC needs from TLS, the transport
 *   parameters, in this order:
 *     visitor -> owner  Initial    HELLO     visitor's transport parameters
 *     owner -> visitor  Initial    HELLO_OK  (empty: handshake level is open)
 *     owner -> visitor  Handshake  PARAMS    owner's transport parameters
 *     visitor -> owner  Handshake  FINISHED  (empty)
 *   each as type (1 byte), length (2 bytes, big endian), body.
 * QUIC therefore provides reliability, flow control and congestion control
 * only. Connection ids, stateless reset tokens, path challenges and ngtcp2's
 * randomness come from libsodium; none of them guards anything here (the
 * session does), but they cost nothing. The path ngtcp2 sees is a pair of
 * fixed placeholder addresses that never change: the session owns the real
 * path and may move it (relay to direct) under QUIC; active migration is off.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#ifdef BW_TP_QUIC_DEBUG
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#endif

#include <sodium.h>

#include "common/err.h"
#include "peer/tp_quic_int.h"

#define Q_IVLEN 12
/*
 * The null AEAD's tag is as long as a real one, though it guards nothing.
 * ngtcp2 0.12 pads a 1-RTT packet shorter than its DCID + 22 bytes, and
 * counts a padded packet as bytes in flight although it is not
 * ack-eliciting: no loss timer covers it, and the peer acknowledges it only
 * alongside an ack-eliciting packet. With a one-byte tag every ACK-only
 * packet was padded, and a receiver sends little else: its ACKs filled its
 * small congestion window (BBR's PROBE_RTT, 5-12 KB) before the peer's ACK
 * of its last PING came back through a deep queue (the relay). From then on
 * it could send no MAX_DATA, MAX_STREAM_DATA, PING or FIN, only more padded
 * ACKs, and the sender waited for flow-control credit for good while
 * keepalives kept the association up (docs/BENCHMARKS.md, P2P, problem 2).
 * First byte, packet number (1 byte or more), the smallest ACK frame (5
 * bytes) and a tag of 15 bytes or more add up to 22: no ACK is padded.
 */
#define Q_TAGLEN 16
_Static_assert(1 + 1 + 5 + Q_TAGLEN >= 22, "ACK-only packets would be padded");

enum {
	HS_HELLO = 0xb1,
	HS_HELLO_OK = 0xb2,
	HS_PARAMS = 0xb3,
	HS_FINISHED = 0xb4,
};

enum { HS_START, HS_WAIT_HELLO_OK, HS_WAIT_PARAMS, HS_WAIT_FINISHED, HS_DONE };

/* --- Null packet protection ---------------------------------------------------- */

static uint8_t null_handle; /* a non-NULL native handle for every dummy object */
static const uint8_t zero_iv[Q_IVLEN];
static const uint8_t zero_secret[32];
static const ngtcp2_crypto_aead_ctx null_aead_ctx = {.native_handle = &null_handle};
static const ngtcp2_crypto_cipher_ctx null_hp_ctx = {.native_handle = &null_handle};
static const ngtcp2_crypto_ctx null_ctx = {
	.aead = {.native_handle = &null_handle, .max_overhead = Q_TAGLEN},
	.md = {.native_handle = &null_handle},
	.hp = {.native_handle = &null_handle},
	.max_encryption = UINT64_MAX,
	.max_decryption_failure = UINT64_MAX,
};

static int null_encrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead,
			const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *plaintext,
			size_t plaintextlen, const uint8_t *nonce, size_t noncelen,
			const uint8_t *aad, size_t aadlen)
{
	if (dest != plaintext)
		memmove(dest, plaintext, plaintextlen);
	memset(dest + plaintextlen, 0, Q_TAGLEN);
	return 0;
}

static int null_decrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead,
			const ngtcp2_crypto_aead_ctx *aead_ctx, const uint8_t *ciphertext,
			size_t ciphertextlen, const uint8_t *nonce, size_t noncelen,
			const uint8_t *aad, size_t aadlen)
{
	if (ciphertextlen < Q_TAGLEN)
		return NGTCP2_ERR_DECRYPT;
	if (dest != ciphertext)
		memmove(dest, ciphertext, ciphertextlen - Q_TAGLEN);
	return 0;
}

static int null_hp_mask(uint8_t *dest, const ngtcp2_crypto_cipher *hp,
			const ngtcp2_crypto_cipher_ctx *hp_ctx, const uint8_t *sample)
{
	memset(dest, 0, NGTCP2_HP_SAMPLELEN);
	return 0;
}

static int null_update_key(ngtcp2_conn *conn, uint8_t *rx_secret, uint8_t *tx_secret,
			   ngtcp2_crypto_aead_ctx *rx_aead_ctx, uint8_t *rx_iv,
			   ngtcp2_crypto_aead_ctx *tx_aead_ctx, uint8_t *tx_iv,
			   const uint8_t *current_rx_secret, const uint8_t *current_tx_secret,
			   size_t secretlen, void *user_data)
{
	memcpy(rx_secret, current_rx_secret, secretlen);
	memcpy(tx_secret, current_tx_secret, secretlen);
	*rx_aead_ctx = null_aead_ctx;
	*tx_aead_ctx = null_aead_ctx;
	memset(rx_iv, 0, Q_IVLEN);
	memset(tx_iv, 0, Q_IVLEN);
	return 0;
}

static void null_delete_aead_ctx(ngtcp2_conn *conn, ngtcp2_crypto_aead_ctx *ctx, void *user_data)
{
}

static void null_delete_cipher_ctx(ngtcp2_conn *conn, ngtcp2_crypto_cipher_ctx *ctx,
				   void *user_data)
{
}

static int install_initial(ngtcp2_conn *conn)
{
	ngtcp2_conn_set_initial_crypto_ctx(conn, &null_ctx);
	return ngtcp2_conn_install_initial_key(conn, &null_aead_ctx, zero_iv, &null_hp_ctx,
					       &null_aead_ctx, zero_iv, &null_hp_ctx, Q_IVLEN);
}

static int install_handshake(ngtcp2_conn *conn)
{
	int rv;

	ngtcp2_conn_set_crypto_ctx(conn, &null_ctx);
	rv = ngtcp2_conn_install_rx_handshake_key(conn, &null_aead_ctx, zero_iv, Q_IVLEN,
						  &null_hp_ctx);
	if (rv == 0)
		rv = ngtcp2_conn_install_tx_handshake_key(conn, &null_aead_ctx, zero_iv, Q_IVLEN,
							  &null_hp_ctx);
	return rv;
}

static int install_1rtt(ngtcp2_conn *conn)
{
	int rv = ngtcp2_conn_install_rx_key(conn, zero_secret, sizeof(zero_secret),
					    &null_aead_ctx, zero_iv, Q_IVLEN, &null_hp_ctx);

	if (rv == 0)
		rv = ngtcp2_conn_install_tx_key(conn, zero_secret, sizeof(zero_secret),
						&null_aead_ctx, zero_iv, Q_IVLEN, &null_hp_ctx);
	return rv;
}

static int cb_version_negotiation(ngtcp2_conn *conn, uint32_t version,
				  const ngtcp2_cid *client_dcid, void *user_data)
{
	return ngtcp2_conn_install_vneg_initial_key(conn, version, &null_aead_ctx, zero_iv,
						    &null_hp_ctx, &null_aead_ctx, zero_iv,
						    &null_hp_ctx, Q_IVLEN);
}

/* --- The handshake -------------------------------------------------------------- */

static int hs_send(ngtcp2_conn *conn, ngtcp2_crypto_level level, uint8_t type, bool params)
{
	uint8_t msg[3 + Q_HS_MAX];
	ngtcp2_ssize n = 0;

	if (params) {
		n = ngtcp2_conn_encode_local_transport_params(conn, msg + 3, Q_HS_MAX - 3);
		if (n < 0)
			return (int)n;
	}
	msg[0] = type;
	msg[1] = (uint8_t)(n >> 8);
	msg[2] = (uint8_t)n;
	return ngtcp2_conn_submit_crypto_data(conn, level, msg, 3 + (size_t)n);
}

/* One complete message. Only the next expected one is accepted. */
static int hs_handle(struct peer_tp *tp, ngtcp2_crypto_level level, uint8_t type,
		     const uint8_t *body, size_t len)
{
	ngtcp2_conn *conn = tp->conn;
	int rv;

	if (tp->server && tp->hs_state == HS_START && level == NGTCP2_CRYPTO_LEVEL_INITIAL &&
	    type == HS_HELLO) {
		rv = ngtcp2_conn_decode_remote_transport_params(conn, body, len);
		if (rv == 0)
			rv = install_handshake(conn);
		if (rv == 0)
			rv = install_1rtt(conn);
		if (rv == 0)
			rv = hs_send(conn, NGTCP2_CRYPTO_LEVEL_INITIAL, HS_HELLO_OK, false);
		if (rv == 0)
			rv = hs_send(conn, NGTCP2_CRYPTO_LEVEL_HANDSHAKE, HS_PARAMS, true);
		tp->hs_state = HS_WAIT_FINISHED;
		return rv;
	}
	if (!tp->server && tp->hs_state == HS_WAIT_HELLO_OK &&
	    level == NGTCP2_CRYPTO_LEVEL_INITIAL && type == HS_HELLO_OK && len == 0) {
		tp->hs_state = HS_WAIT_PARAMS;
		return install_handshake(conn);
	}
	if (!tp->server && tp->hs_state == HS_WAIT_PARAMS &&
	    level == NGTCP2_CRYPTO_LEVEL_HANDSHAKE && type == HS_PARAMS) {
		rv = ngtcp2_conn_decode_remote_transport_params(conn, body, len);
		if (rv == 0)
			rv = install_1rtt(conn);
		if (rv == 0)
			rv = hs_send(conn, NGTCP2_CRYPTO_LEVEL_HANDSHAKE, HS_FINISHED, false);
		if (rv == 0)
			ngtcp2_conn_handshake_completed(conn);
		tp->hs_state = HS_DONE;
		return rv;
	}
	if (tp->server && tp->hs_state == HS_WAIT_FINISHED &&
	    level == NGTCP2_CRYPTO_LEVEL_HANDSHAKE && type == HS_FINISHED && len == 0) {
		ngtcp2_conn_handshake_completed(conn);
		tp->hs_state = HS_DONE;
		return 0;
	}
	return NGTCP2_ERR_PROTO;
}

static int cb_recv_crypto_data(ngtcp2_conn *conn, ngtcp2_crypto_level level, uint64_t offset,
			       const uint8_t *data, size_t datalen, void *user_data)
{
	struct peer_tp *tp = user_data;
	uint8_t *buf;
	size_t *have;

	/* Nothing is ever sent at the 1-RTT level (no session tickets). */
	if (level != NGTCP2_CRYPTO_LEVEL_INITIAL && level != NGTCP2_CRYPTO_LEVEL_HANDSHAKE)
		return NGTCP2_ERR_PROTO;
	buf = tp->hs_rx[level == NGTCP2_CRYPTO_LEVEL_HANDSHAKE];
	have = &tp->hs_len[level == NGTCP2_CRYPTO_LEVEL_HANDSHAKE];
	if (datalen > Q_HS_MAX - *have)
		return NGTCP2_ERR_PROTO;
	memcpy(buf + *have, data, datalen);
	*have += datalen;
	while (*have >= 3) {
		size_t len = (size_t)buf[1] << 8 | buf[2];
		int rv;

		if (*have < 3 + len)
			break;
		rv = hs_handle(tp, level, buf[0], buf + 3, len);
		if (rv != 0)
			return rv;
		*have -= 3 + len;
		memmove(buf, buf + 3 + len, *have);
	}
	return 0;
}

static int cb_client_initial(ngtcp2_conn *conn, void *user_data)
{
	struct peer_tp *tp = user_data;
	int rv = install_initial(conn);

	if (rv == 0)
		rv = hs_send(conn, NGTCP2_CRYPTO_LEVEL_INITIAL, HS_HELLO, true);
	tp->hs_state = HS_WAIT_HELLO_OK;
	return rv ? NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_recv_client_initial(ngtcp2_conn *conn, const ngtcp2_cid *dcid, void *user_data)
{
	return install_initial(conn) ? NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_handshake_completed(ngtcp2_conn *conn, void *user_data)
{
	q_ready(user_data);
	return 0;
}

static int cb_recv_retry(ngtcp2_conn *conn, const ngtcp2_pkt_hd *hd, void *user_data)
{
	return NGTCP2_ERR_CALLBACK_FAILURE; /* the owner never sends Retry */
}

/* --- Randomness (libsodium) ------------------------------------------------------ */

static void cb_rand(uint8_t *dest, size_t destlen, const ngtcp2_rand_ctx *rand_ctx)
{
	randombytes_buf(dest, destlen);
}

static int cb_new_cid(ngtcp2_conn *conn, ngtcp2_cid *cid, uint8_t *token, size_t cidlen,
		      void *user_data)
{
	randombytes_buf(cid->data, cidlen);
	cid->datalen = cidlen;
	randombytes_buf(token, NGTCP2_STATELESS_RESET_TOKENLEN);
	return 0;
}

static int cb_path_challenge(ngtcp2_conn *conn, uint8_t *data, void *user_data)
{
	randombytes_buf(data, NGTCP2_PATH_CHALLENGE_DATALEN);
	return 0;
}

/* --- Streams ------------------------------------------------------------------------ */

static int cb_stream_open(ngtcp2_conn *conn, int64_t stream_id, void *user_data)
{
	struct q_stream *s;

	if (!ngtcp2_is_bidi_stream(stream_id))
		return NGTCP2_ERR_CALLBACK_FAILURE; /* we allow none */
	s = q_stream_new(user_data, stream_id, false);
	if (!s)
		return NGTCP2_ERR_CALLBACK_FAILURE;
	ngtcp2_conn_set_stream_user_data(conn, stream_id, s);
	q_stream_opened(s);
	return 0;
}

static int cb_recv_stream_data(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id,
			       uint64_t offset, const uint8_t *data, size_t datalen,
			       void *user_data, void *stream_user_data)
{
	struct peer_tp *tp = user_data;
	int rc = 0;

	tp->rx_total += datalen;
	if (stream_user_data)
		rc = q_stream_recv(stream_user_data, data, datalen,
				   flags & NGTCP2_STREAM_DATA_FLAG_FIN);
	q_conn_credit(tp);
	return rc ? NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_acked(ngtcp2_conn *conn, int64_t stream_id, uint64_t offset, uint64_t datalen,
		    void *user_data, void *stream_user_data)
{
	if (stream_user_data)
		q_stream_acked(stream_user_data, datalen);
	return 0;
}

static int cb_stream_close(ngtcp2_conn *conn, uint32_t flags, int64_t stream_id,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	if (stream_user_data)
		q_stream_ng_closed(stream_user_data,
				   flags & NGTCP2_STREAM_CLOSE_FLAG_APP_ERROR_CODE_SET);
	return 0;
}

static int cb_stream_reset(ngtcp2_conn *conn, int64_t stream_id, uint64_t final_size,
			   uint64_t app_error_code, void *user_data, void *stream_user_data)
{
	if (stream_user_data)
		q_stream_abort(stream_user_data);
	return 0;
}

/* --- The connection --------------------------------------------------------------- */

static void fill_callbacks(ngtcp2_callbacks *cb, bool server)
{
	memset(cb, 0, sizeof(*cb));
	if (server)
		cb->recv_client_initial = cb_recv_client_initial;
	else {
		cb->client_initial = cb_client_initial;
		cb->recv_retry = cb_recv_retry;
	}
	cb->recv_crypto_data = cb_recv_crypto_data;
	cb->handshake_completed = cb_handshake_completed;
	cb->encrypt = null_encrypt;
	cb->decrypt = null_decrypt;
	cb->hp_mask = null_hp_mask;
	cb->recv_stream_data = cb_recv_stream_data;
	cb->acked_stream_data_offset = cb_acked;
	cb->stream_open = cb_stream_open;
	cb->stream_close = cb_stream_close;
	cb->stream_reset = cb_stream_reset;
	cb->rand = cb_rand;
	cb->get_new_connection_id = cb_new_cid;
	cb->update_key = null_update_key;
	cb->delete_crypto_aead_ctx = null_delete_aead_ctx;
	cb->delete_crypto_cipher_ctx = null_delete_cipher_ctx;
	cb->get_path_challenge_data = cb_path_challenge;
	cb->version_negotiation = cb_version_negotiation;
}

#ifdef BW_TP_QUIC_DEBUG
/* ngtcp2's own trace, for debugging only: build with -DBW_TP_QUIC_DEBUG and
 * set BW_QUIC_LOG. Library code does not log otherwise. */
static void dbg_log(void *user_data, const char *fmt, ...)
{
	va_list ap;
	struct peer_tp *tp = user_data;
	fprintf(stderr, "%s ", tp->server ? "S" : "C");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
#endif

static void fill_settings(const struct peer_tp *tp, ngtcp2_settings *st)
{
	ngtcp2_settings_default(st);
#ifdef BW_TP_QUIC_DEBUG
	if (getenv("BW_QUIC_LOG"))
		st->log_printf = dbg_log;
#endif
	st->cc_algo = (ngtcp2_cc_algo)tp->cc;
	st->initial_ts = tp->ts;
	st->max_tx_udp_payload_size = tp->mtu;
	/* Use the session's MTU from the start; no probing beyond it. */
	st->no_tx_udp_payload_size_shaping = 1;
	st->no_pmtud = 1;
	st->handshake_timeout = tp->idle_us * NGTCP2_MICROSECONDS;
}

static void fill_params(const struct peer_tp *tp, ngtcp2_transport_params *p)
{
	ngtcp2_transport_params_default(p);
	p->initial_max_stream_data_bidi_local = tp->stream_window;
	p->initial_max_stream_data_bidi_remote = tp->stream_window;
	p->initial_max_data = tp->conn_window;
	p->initial_max_streams_bidi = tp->max_streams;
	p->max_idle_timeout = tp->idle_us * NGTCP2_MICROSECONDS;
	p->max_udp_payload_size = tp->mtu;
	p->disable_active_migration = 1;
}

static void fill_path(struct peer_tp *tp)
{
	struct sockaddr_in *visitor = tp->server ? &tp->path.remote : &tp->path.local;
	struct sockaddr_in *owner = tp->server ? &tp->path.local : &tp->path.remote;

	visitor->sin_family = owner->sin_family = AF_INET;
	visitor->sin_addr.s_addr = htonl(0xc0000201); /* 192.0.2.1: documentation only */
	owner->sin_addr.s_addr = htonl(0xc0000202);
	visitor->sin_port = htons(1);
	owner->sin_port = htons(2);
	tp->path.path.local.addr = (ngtcp2_sockaddr *)&tp->path.local;
	tp->path.path.local.addrlen = sizeof(tp->path.local);
	tp->path.path.remote.addr = (ngtcp2_sockaddr *)&tp->path.remote;
	tp->path.path.remote.addrlen = sizeof(tp->path.remote);
}

static void conn_started(struct peer_tp *tp)
{
	/* Keep an idle association alive: "idle" then means the peer is gone. */
	ngtcp2_conn_set_keep_alive_timeout(tp->conn, tp->idle_us * NGTCP2_MICROSECONDS / 3);
}

int q_conn_client_new(struct peer_tp *tp)
{
	ngtcp2_callbacks cb;
	ngtcp2_settings st;
	ngtcp2_transport_params p;
	ngtcp2_cid dcid, scid;
	uint8_t id[2][Q_CIDLEN];
	int rv;

	fill_path(tp);
	fill_callbacks(&cb, false);
	fill_settings(tp, &st);
	fill_params(tp, &p);
	randombytes_buf(id, sizeof(id));
	ngtcp2_cid_init(&dcid, id[0], Q_CIDLEN);
	ngtcp2_cid_init(&scid, id[1], Q_CIDLEN);
	rv = ngtcp2_conn_client_new(&tp->conn, &dcid, &scid, &tp->path.path, NGTCP2_PROTO_VER_V1,
				    &cb, &st, &p, NULL, tp);
	if (rv != 0)
		return q_liberr(rv);
	ngtcp2_conn_set_retry_aead(tp->conn, &null_ctx.aead, &null_aead_ctx);
	conn_started(tp);
	return 0;
}

int q_conn_server_new(struct peer_tp *tp, const uint8_t *pkt, size_t len)
{
	ngtcp2_callbacks cb;
	ngtcp2_settings st;
	ngtcp2_transport_params p;
	ngtcp2_pkt_hd hd;
	ngtcp2_cid scid;
	uint8_t id[Q_CIDLEN];
	int rv;

	/* Only a visitor's first Initial packet starts the association. */
	if (ngtcp2_accept(&hd, pkt, len) != 0 || hd.version != NGTCP2_PROTO_VER_V1)
		return BW_E_MSG_MALFORMED;
	fill_path(tp);
	fill_callbacks(&cb, true);
	fill_settings(tp, &st);
	fill_params(tp, &p);
	p.original_dcid = hd.dcid;
	p.stateless_reset_token_present = 1;
	randombytes_buf(p.stateless_reset_token, sizeof(p.stateless_reset_token));
	randombytes_buf(id, sizeof(id));
	ngtcp2_cid_init(&scid, id, Q_CIDLEN);
	rv = ngtcp2_conn_server_new(&tp->conn, &hd.scid, &scid, &tp->path.path, hd.version, &cb,
				    &st, &p, NULL, tp);
	if (rv != 0) {
		tp->conn = NULL;
		return q_liberr(rv);
	}
	conn_started(tp);
	return 0;
}

int q_liberr(int liberr)
{
	switch (liberr) {
	case NGTCP2_ERR_IDLE_CLOSE:
	case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
		return BW_E_TIMEOUT;
	case NGTCP2_ERR_DRAINING:
	case NGTCP2_ERR_CLOSING:
		return BW_E_CLOSED;
	case NGTCP2_ERR_NOMEM:
		return BW_E_NOMEM;
	default:
		return -EPROTO;
	}
}

void q_close(struct peer_tp *tp, int liberr)
{
	ngtcp2_connection_close_error ccerr;
	ngtcp2_ssize n;

	switch (liberr) {
	case NGTCP2_ERR_IDLE_CLOSE:
	case NGTCP2_ERR_HANDSHAKE_TIMEOUT:
	case NGTCP2_ERR_DRAINING:
	case NGTCP2_ERR_CLOSING:
	case NGTCP2_ERR_DROP_CONN:
		break; /* nothing to tell the peer, or it already knows */
	default:
		ngtcp2_connection_close_error_set_transport_error_liberr(&ccerr, liberr, NULL, 0);
		n = ngtcp2_conn_write_connection_close(tp->conn, NULL, NULL, tp->pkt, tp->mtu,
						       &ccerr, tp->ts);
		if (n > 0)
			tp->cbs.output(tp->arg, tp->pkt, (size_t)n);
	}
	q_die(tp, q_liberr(liberr));
}
