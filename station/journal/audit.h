/*
 * audit.h - the journal that proves itself: the journal-signing key and the
 * head on the token, checkpoints made by the engine, and the full check that
 * `station journal verify` runs.
 *
 * The journal key is a private key in the token labelled hsm.journal_key
 * (made on first use; never the CA key). Every commit of the engine ends
 * with a checkpoint signed by it, its seal: a record no seal covers is not
 * trusted (journal_sealed; audit_establish decides what becomes of such
 * records when a station starts). The head is a data object on the
 * same token labelled "<journal_key>-head" holding the seq and chain value of
 * the last durable record (checkpoint.h gives the text). Order of writes: the
 * journal record is durable first, then the head is written, so a crash in
 * between leaves the head behind the journal, which the check accepts; it
 * never leaves the head ahead.
 *
 * What the full check adds to the chain check of journal_verify:
 *   - every checkpoint's signature verifies with the journal key;
 *   - the journal reaches the head: a journal ending before the head's seq
 *     had its tail cut (journal-truncated) or is an older copy
 *     (journal-rolled-back: it ends on a checkpoint, as a journal does after a
 *     batch or a clean stop); a different genesis means the whole journal was
 *     replaced (journal-replaced); a different chain value at the head's seq
 *     means it was rewritten from an older copy (journal-rolled-back).
 */
#ifndef STATION_AUDIT_H
#define STATION_AUDIT_H

#include <stdint.h>
#include <stdio.h>

#include <openssl/evp.h>

#include "checkpoint.h"
#include "journal.h"

struct hsm;
struct st_detail;
struct audit;

/* Finds the journal key KEY_LABEL on H (logged in), creating it when missing.
 * The head of the journal at JOURNAL_PATH (as configured) is the token data
 * object "<KEY_LABEL>-head-<first 16 hex digits of SHA-256(JOURNAL_PATH)>":
 * one head per journal location. Returns 0 and *OUT (free with audit_free; H
 * must outlive it), or ST_E_JOURNAL_KEY / ST_E_HSM* with DETAIL. */
int audit_open(struct hsm *h, const char *key_label, const char *journal_path, struct audit **out,
               struct st_detail *detail);

/* The journal key's public half (borrowed) and its signing handle (borrowed;
 * signs inside the token). */
EVP_PKEY *audit_public_key(struct audit *a);
EVP_PKEY *audit_signer(struct audit *a);

/* 1 when audit_open made the journal key (the token held none), else 0. */
int audit_key_created(const struct audit *a);

/* Reads the head from the token. Returns 1 and *HEAD, 0 when the token holds
 * none, ST_E_JOURNAL_HEAD when it cannot be read or is not a head value. */
int audit_head_read(struct audit *a, struct journal_head *head, struct st_detail *detail);

/* Posts J's last record (journal_last) as the head; a thread of the audit
 * writes it to the token (the newest posted, in order). Call only when that
 * record is durable. Does not block on the token; a failed write is logged
 * and tried again with the next post. Returns 0. */
int audit_head_write(struct audit *a, struct journal *j, struct st_detail *detail);

/* Waits until every posted head is on the token. Returns 0 or
 * ST_E_JOURNAL_HEAD with DETAIL. audit_free flushes too. */
int audit_head_flush(struct audit *a, struct st_detail *detail);

/* As audit_head_flush, for at most TIMEOUT_MS milliseconds: returns
 * ST_E_HSM_TIMEOUT with DETAIL when the writer is still busy then (a token
 * that stopped answering), and the write goes on behind. */
int audit_head_flush_timed(struct audit *a, unsigned timeout_ms, struct st_detail *detail);

/* Before signing on journal J: refuses a journal the head says was replaced
 * (ST_E_JOURNAL_REPLACED), cut (ST_E_JOURNAL_TRUNCATED) or rolled back
 * (ST_E_JOURNAL_ROLLBACK); a journal ahead of the head (a crash between the
 * journal write and the head update) is accepted. With no head on the token
 * yet, writes one (first use). Returns 0 or one of those codes with DETAIL. */
int audit_check_journal(struct audit *a, struct journal *j, struct st_detail *detail);

/* The first login of a station on journal J (audit_seal.c): establishes
 * what J's trust rests on, before anything is decided.
 *
 * J holds records: it must be the journal the head names (else
 * ST_E_JOURNAL_REPLACED, ST_E_JOURNAL_TRUNCATED, ST_E_JOURNAL_ROLLBACK, as
 * audit_check_journal); the last checkpoint's signature must verify
 * (ST_E_CHECKPOINT). Records after it are kept only where the head on the
 * token vouches for them (same seq and chain value; a journal written before
 * every commit was sealed): those are sealed once, now. What neither the
 * seal nor the head covers was never released: it is cut
 * (journal_cut_after), the lines kept in "<log>.unsealed-<time>", and the
 * count said on stderr. A journal from before the journal key existed on
 * the token (no key, no head, no checkpoint) is sealed as it is.
 *
 * J holds no record: INIT 1 (`station journal init`) starts it with a
 * journal-init record saying why (the first journal of this token, or one
 * replacing a lost journal, with the lost head's seq), sealed and committed
 * at once; INIT 0 starts it only when the token held neither the journal key
 * nor a head (the very first run), or when the head names this empty
 * journal (a first run that committed nothing): then the journal-init
 * record is appended uncommitted, for the first commit to seal, and the
 * head (record 0) is written first; otherwise ST_E_JOURNAL_MISSING with
 * DETAIL saying what happened and what to do. INIT 1 on a journal with records is
 * ST_E_EXISTS. WHY (may be NULL, WHY_CAP bytes) gets the journal-init
 * record's sentence when one was written ("" otherwise).
 *
 * Then every record of J is trusted (journal_trust_upto) and the head is
 * written. Returns 0 or the code with DETAIL. */
int audit_establish(struct audit *a, struct journal *j, int init, char *why, size_t why_cap,
                    struct st_detail *detail);

/* When J holds records after its last checkpoint: appends a checkpoint,
 * commits it, and writes the head. Returns 0 (nothing to do included) or a
 * code with DETAIL. */
int audit_checkpoint(struct audit *a, struct journal *j, struct st_detail *detail);

/* Frees A; NULL is fine. */
void audit_free(struct audit *a);

/* The journal key's fingerprint: SHA-256 of PUB's SubjectPublicKeyInfo DER
 * (the key id of checkpoint_key_id) as 64 lower-case hex digits into HEX. It
 * is the manifest's station.journal_key_sha256 and what
 * `openssl pkey -pubin -outform DER | sha256sum` prints for the PEM of
 * `station journal key`. Returns 0 or ST_E_CRYPTO. */
int audit_key_fingerprint(EVP_PKEY *pub, char hex[65]);

/* Prints the line "journal key: sha256:<fingerprint>" to OUT (what `ca show`,
 * `ca init`, `selftest` and `journal init` print). Returns 0 or ST_E_CRYPTO
 * (nothing printed). */
int audit_print_fingerprint(FILE *out, EVP_PKEY *pub);

/* What audit_verify found. */
struct audit_verify_report {
  struct journal_verify_report journal;
  int head_found;               /* 1 when a head was given */
  struct journal_head head;
  uint64_t head_behind;         /* records after the head (a crash between writes) */
  uint64_t unsigned_tail;       /* records after the last checkpoint (covered by the head) */
  uint64_t trusted;             /* the last record a seal covers or the head vouches for */
};

/* The full check of the journal at PATH: journal_verify, every checkpoint
 * with PUB, and HEAD (NULL: the token holds none; then a journal with records
 * fails with ST_E_JOURNAL_HEAD). EXTRA (may be NULL) is called for every good
 * record after the checks, for an export that reads the journal in the same
 * pass (EXTRA also sees records the check fails afterwards: an exporter
 * uses REPORT->trusted, the boundary of what is trusted, and writes nothing
 * unless the check passes). Returns 0 when intact, or ST_E_JOURNAL_CORRUPT,
 * ST_E_CHECKPOINT, ST_E_JOURNAL_TRUNCATED, ST_E_JOURNAL_ROLLBACK,
 * ST_E_JOURNAL_REPLACED, ST_E_JOURNAL_HEAD, ST_E_JOURNAL_UNSEALED (records
 * after REPORT->trusted: covered by no seal and not by the head),
 * ST_E_JOURNAL_MISSING (HEAD given, no journal at PATH), ST_E_JOURNAL (I/O),
 * or what EXTRA returned; DETAIL names the first bad record and the
 * reason. */
int audit_verify(const char *path, EVP_PKEY *pub, const struct journal_head *head,
                 const struct journal_checker *extra, struct audit_verify_report *report,
                 struct st_detail *detail);

#endif
