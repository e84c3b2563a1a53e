/*
 * checkpoint.h - signed checkpoints in the journal, and the journal head.
 *
 * A checkpoint is a journal record (event "checkpoint") that vouches, with a
 * signature by the journal-signing key held in the token, for every record
 * before it. It uses the twelve fields of a record (journal.h) this way:
 *
 *   seq          N + 1: the record right after the last record it covers (N)
 *   time         when it was made
 *   event        checkpoint
 *   source       station
 *   device       -
 *   csr-sha256   -
 *   key-sha256   SHA-256 of the journal public key's SubjectPublicKeyInfo DER
 *                (`openssl pkey -pubin -in key.pem -outform DER | sha256sum`)
 *   serial       -
 *   reason       -
 *   detail       "covers records 1 to N" (percent-encoded like every detail)
 *   certificate  the signature: DER ECDSA-SHA256 by the journal key, base64
 *   chain        as for every record
 *
 * The signed message is one line of ASCII text, '\n' included:
 *
 *   station-journal checkpoint 1 <genesis> <N> <chain(N)>\n
 *
 * <genesis> is the journal header's 64 hex digits, <N> decimal without
 * leading zeros, <chain(N)> the 64 lower-case hex digits of record N's chain
 * field (for N = 0, SHA-256 of the header line). So an auditor rebuilds it
 * with printf and checks it with `openssl dgst -sha256 -verify`.
 *
 * The head is the seq and chain value of the last durable record, kept in a
 * data object on the token (hsm_data_write) so that a copy of the journal
 * file cannot roll it back. Its value is one line of ASCII text:
 *
 *   station-journal-head 1 <genesis> <seq> <chain(seq)>\n
 */
#ifndef STATION_CHECKPOINT_H
#define STATION_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

struct journal;
struct journal_record;
struct st_detail;

/* The longest checkpoint message or head value, its '\n' and a NUL included. */
#define CHECKPOINT_TEXT_MAX 192

/* Room for a checkpoint's signature (a DER ECDSA P-256 signature is at most
 * 72 bytes). */
#define CHECKPOINT_SIG_MAX 160

/* Writes the checkpoint message for (GENESIS, N, CHAIN) into OUT
 * (CHECKPOINT_TEXT_MAX bytes, NUL-terminated) and returns its length. */
size_t checkpoint_message(char *out, const uint8_t genesis[32], uint64_t n, const uint8_t chain[32]);

/* The key id of PUB: SHA-256 of its SubjectPublicKeyInfo DER. 0 or ST_E_CRYPTO. */
int checkpoint_key_id(EVP_PKEY *pub, uint8_t id[32]);

/* The message of a checkpoint appended to J now (covering every record
 * appended so far) into OUT (CHECKPOINT_TEXT_MAX bytes); returns its length. */
size_t checkpoint_next_message(struct journal *j, char *out);

/* Signs MSG (MSG_LEN bytes) with SIGNER (the journal key in the token: blocks
 * on the token) into SIG (CHECKPOINT_SIG_MAX bytes; *SIG_LEN its length) and
 * checks the signature with PUB. Touches no journal: may run on another
 * thread. Returns 0, ST_E_JOURNAL_KEY (the token did not sign, or the
 * signature does not verify) or ST_E_CRYPTO. */
int checkpoint_sign(EVP_PKEY *signer, EVP_PKEY *pub, const char *msg, size_t msg_len, uint8_t *sig,
                    size_t *sig_len, struct st_detail *detail);

/* Appends to J the checkpoint whose signature SIG was made over
 * checkpoint_next_message(J) with nothing appended since (key id of PUB).
 * Not durable until journal_commit. Returns 0 or journal_append's codes. */
int checkpoint_append_signed(struct journal *j, EVP_PKEY *pub, const uint8_t *sig, size_t sig_len,
                             struct st_detail *detail);

/* Appends to J a checkpoint covering every record appended so far, signed by
 * SIGNER (the journal key in the token) whose public half is PUB; the
 * signature is checked with PUB before it is appended. Not durable until
 * journal_commit. Returns 0, ST_E_JOURNAL_KEY (the token did not sign, or the
 * signature does not verify), ST_E_CRYPTO, or journal_append's codes. */
int checkpoint_append(struct journal *j, EVP_PKEY *signer, EVP_PKEY *pub, struct st_detail *detail);

/* Checks the checkpoint record REC found after a record whose chain value is
 * PREV_CHAIN, in the journal with GENESIS: source, key id (of PUB) and the
 * signature. Returns 0, or ST_E_CHECKPOINT with DETAIL naming the record and
 * what is wrong, or ST_E_CRYPTO. */
int checkpoint_check(const struct journal_record *rec, const uint8_t genesis[32],
                     const uint8_t prev_chain[32], EVP_PKEY *pub, struct st_detail *detail);

/* The journal head kept on the token. */
struct journal_head {
  uint8_t genesis[32];
  uint64_t seq;                /* 0: the journal had no record yet */
  uint8_t chain[32];
};

/* Writes HEAD as its text (CHECKPOINT_TEXT_MAX bytes, NUL-terminated) into
 * OUT and returns its length. */
size_t checkpoint_head_format(char *out, const struct journal_head *head);

/* Parses a head value of LEN bytes. False when it is not exactly what
 * checkpoint_head_format writes. */
bool checkpoint_head_parse(struct journal_head *head, const char *text, size_t len);

#endif
