/*
 * engine.h - the signing engine: one local CA in an HSM, one journal, one policy.
 *
 * Every intake (a batch directory, a serial port, the console) drives the same
 * engine the same way:
 *
 *   engine_submit() / engine_refuse()   decide one request; its journal record
 *                                       is appended (not yet durable)
 *   engine_commit()                     makes every record since the last
 *                                       commit durable (one fdatasync), then
 *                                       emits their events
 *   release the results                 only now may a certificate or a
 *                                       refusal leave the station
 *
 * No CSR is signed twice: a CSR already issued (same DER), or a CSR for a
 * device whose key and subject already hold a certificate, gets that
 * certificate back from the journal, with no new signature: once the
 * certificate verifies with the CA's key and carries the request's subject
 * and key (a fault naming the record otherwise), and with a handed-back
 * record journaled, so that every time a certificate leaves is recorded.
 * Every commit ends with a seal (a checkpoint signed by the journal key in
 * the token, in the same write); records no seal covers are never trusted
 * (journal.h, audit_establish).
 *
 * Identity rules (docs/certificate-profile.md): a public key certified for one device is
 * refused for any other (key-reused); a device id certified with one key is
 * refused with another unless profile.reissue is allow (device-already-certified).
 *
 * Events go to registered sinks after the records they speak of are durable;
 * the engine knows nothing of screens. One thread drives an engine.
 */
#ifndef STATION_ENGINE_H
#define STATION_ENGINE_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

#include "error.h"

struct station_config;
struct engine;

enum engine_event_kind {
  ENGINE_EVENT_ISSUED,       /* a new certificate was signed and journaled */
  ENGINE_EVENT_REDELIVERED,  /* a certificate issued before was handed back */
  ENGINE_EVENT_REFUSED,      /* a request was refused and journaled */
  ENGINE_EVENT_JOURNAL_STOPPED,  /* a journal commit failed: signing stopped (CODE: no-space or journal;
                                    DETAIL: the sentence every request now gets; SOURCE: the log;
                                    FILESYSTEM: where to free space) */
  ENGINE_EVENT_JOURNAL_RESUMED,  /* the journal can be written again: signing resumed (CODE ST_OK) */
  ENGINE_EVENT_TOKEN_FAULT,      /* the token failed (CODE: hsm..., or hsm-timeout: signing stopped until a
                                    restart; DETAIL: what it said; SOURCE: the token's label); requests are
                                    refused with CODE while the station waits to log in again */
  ENGINE_EVENT_TOKEN_BACK,       /* logged in again after a fault and the CA key proved (CODE ST_OK) */
};

struct engine_event {
  enum engine_event_kind kind;
  const char *source;        /* "batch:/media/x/csr/a.csr"; JOURNAL_*: the journal's log file */
  const char *device;        /* device id, or "" */
  const char *serial_hex;    /* or "" */
  int code;                  /* ST_OK or the refusal code */
  const char *detail;        /* the refusal's particulars, or "" */
  uint64_t seq;              /* journal record (a redelivery: its handed-back record) */
  const char *filesystem;    /* JOURNAL_*: the mount point holding the journal; else "" */
  uint64_t records, issued, refused;  /* the journal's counts (engine_counts) as the event leaves */
  const uint8_t *csr_sha256; /* ISSUED, REFUSED, REDELIVERED: the request's CSR digest (32 bytes); else NULL */
};

/* A receiver of events. EMIT is called on the engine's thread, from inside
 * the engine call that made the event (engine_commit, engine_resume, a
 * decide): it must not call back into the engine (the counts it needs travel
 * in the event). The event and its strings are valid only during the call. */
struct engine_sink {
  void (*emit)(void *arg, const struct engine_event *event);
  void *arg;
};

/* The outcome of one request. */
struct engine_result {
  int code;                  /* ST_OK: a certificate; else the refusal code */
  int from_journal;          /* 1: issued before, handed back without signing */
  char device[37];           /* device id, or "" */
  char serial_hex[41];       /* certificate serial, or "" */
  uint8_t csr_sha256[32];    /* identity of the input */
  uint8_t *cert_der;         /* owned: the certificate (code ST_OK), else NULL */
  size_t cert_len;
  uint64_t seq;              /* journal record written for it: issued, refused or handed-back (0: none) */
  struct st_detail detail;   /* the particulars of a refusal (text empty otherwise) */
};

/* Loads and checks the local CA certificate and the factory root (profile,
 * chain, factory OU), the gateway certificate when one is configured
 * (gateway.h), and opens the journal (recovering a torn tail). Does not
 * touch the HSM. Returns 0 and *OUT, or ST_E_CA_CERT, ST_E_GATEWAY_CERT,
 * ST_E_JOURNAL*, ST_E_NO_MEMORY with DETAIL. CFG must outlive the engine. */
int engine_open(const struct station_config *cfg, struct engine **out, struct st_detail *detail);

/* Opens the token (once), logs in with PIN, finds the CA key and proves it
 * matches the CA certificate (same public key, and a test signature that
 * verifies with the certificate). Warns when the key is extractable or not
 * sensitive. Returns 0, or ST_E_HSM_* / ST_E_CA_MISMATCH with DETAIL;
 * ST_E_HSM_TIMEOUT, without touching the token, once a call in the token
 * never came back (the engine is wedged until restarted). */
int engine_login(struct engine *e, const char *pin, struct st_detail *detail);

/* Logs out of the token (console lock; a wedged engine leaves the token
 * alone), once the journal head of the last commit is on the token (waits
 * for it at most hsm.sign_timeout). Submitting then fails with ST_E_HSM_PIN. */
int engine_logout(struct engine *e);

/* Adds SINK (copied). Returns 0 or ST_E_NO_MEMORY. */
int engine_add_sink(struct engine *e, const struct engine_sink *sink);

/* Decides one request: DATA (LEN bytes, PEM or DER) from SOURCE. Fills RES.
 * Returns 0 when the request has an outcome (issued, handed back, or refused:
 * see res->code), or a FAULT code (HSM, signature check, journal) when the
 * station cannot go on; then res->code is that fault and nothing was journaled
 * for this request. Needs engine_login for requests that must be signed. */
int engine_submit(struct engine *e, const char *source, const uint8_t *data, size_t len,
                  struct engine_result *res);

/* A request read and checked on its own, with neither the journal nor the
 * HSM: the CSR parsed, its signature and its subject checked, its hashes
 * taken. Preparing is the costly half of a request that needs no order, so
 * intakes prepare ahead on the engine's worker pool while the engine
 * decides earlier requests. */
struct engine_request;

/* Prepares DATA (LEN bytes). Thread-safe: may run on any thread while the
 * engine thread works. A refusal is carried inside *OUT, not returned.
 * Returns 0 and *OUT (free with engine_request_free), or ST_E_NO_MEMORY. */
int engine_prepare(const struct engine *e, const uint8_t *data, size_t len, struct engine_request **out);

/* Frees REQ; NULL is fine. */
void engine_request_free(struct engine_request *req);

/* The refusal found while preparing REQ (parse or policy), or ST_OK when
 * only the journal and the HSM have still to decide. For inspections
 * (batch_inspect) that foresee refusals without signing. */
int engine_request_refusal(const struct engine_request *req);

/* The SHA-256 of the CSR's DER in REQ (zeros when the bytes did not parse). */
void engine_request_csr_sha256(const struct engine_request *req, uint8_t out[32]);

/* 1 when a certificate was issued for the CSR whose DER has CSR_SHA256
 * (signing it again would hand that certificate back), 0 when not, or a
 * negative code when the journal cannot be read. On the engine's thread. */
int engine_csr_issued(struct engine *e, const uint8_t csr_sha256[32]);

/* Decides a prepared request from SOURCE, on the engine thread, as
 * engine_submit does (engine_submit is engine_prepare + engine_decide).
 * The signature check of a new certificate runs on the pool; engine_commit
 * waits for it. */
int engine_decide(struct engine *e, const char *source, const struct engine_request *req,
                  struct engine_result *res);

/* Decides N prepared requests (REQS[i] from SOURCES[i]) into RESULTS[i], as
 * engine_decide would one after the other, but signing them together: on
 * hsm.sessions threads when that is above 1. Returns 0, or the first fault.
 * A fault while journaling the results leaves the results before the faulty
 * request standing (journaled like any other) and gives that request and the
 * ones after it the fault as their code, with nothing to release. A fault
 * before any result is journaled (the engine stopped or not logged in, the
 * journal stopped, planning or signing) gives every result the fault. */
int engine_decide_many(struct engine *e, size_t n, const char *const *sources,
                       const struct engine_request *const *reqs, struct engine_result *results);

/* The engine's worker pool, for intakes that prepare ahead. Borrowed. */
struct workers *engine_workers(const struct engine *e);

/* Journals a refusal decided by an intake before any CSR was read (a symlink,
 * a bad file name): CODE with DETAIL (may be NULL). Fills RES. Returns 0 or a fault. */
int engine_refuse(struct engine *e, const char *source, int code, const char *detail,
                  struct engine_result *res);

/* Seals the records appended since the last commit (the journal key signs
 * in the token while the pool finishes the signature checks of the
 * certificates signed since then), waits for those checks; when all verify,
 * makes every result since the last commit durable with its seal (one write,
 * one fdatasync) and emits their events. Returns 0, or ST_E_SIGN_VERIFY (a certificate the
 * HSM signed does not verify: the engine refuses further work until
 * reopened), or ST_E_NO_SPACE / ST_E_JOURNAL (the journal could not be
 * written: the engine stops on its journal, see engine_resume). In both
 * cases none of those results may be released. While the engine is stopped
 * on its journal nothing is appended, and a commit returns 0 (the refusals
 * made meanwhile may go out). */
int engine_commit(struct engine *e, struct st_detail *detail);

/* ---- when the journal cannot be written (engine_journal.c) ----
 *
 * A commit that fails (the disk is full: ST_E_NO_SPACE; any other write or
 * sync error: ST_E_JOURNAL) stops the engine on its journal: the group is
 * not released, JOURNAL_STOPPED goes to the sinks, and from then on every
 * request (engine_submit, engine_decide*, engine_refuse) is answered at once
 * with that code and a sentence naming the journal and, for a full disk, the
 * file system to free (nothing is signed, nothing journaled). Each of those
 * requests is remembered (at most 1024) and journaled as a refusal with that
 * code and its own time as soon as the journal can be written again.
 *
 * engine_resume, called by a request or by a driver's timer, tries to get
 * the journal back at most every 2 s (longer when a resumed journal fails
 * again at once: 2 s doubling up to 64 s): the file system must have 1 MiB
 * free (statvfs); then the journal is recovered (journal_recover: cut back
 * to the last commit, read and checked from its first byte, index rebuilt),
 * checked against the head on the token when logged in, the remembered
 * refusals are committed, JOURNAL_RESUMED goes out and signing goes on. A
 * request retried afterwards is decided as any other: handed back from the
 * journal when it was issued before, signed once otherwise. A journal found
 * changed, deleted or replaced behind the station's back
 * (ST_E_JOURNAL_CORRUPT, ST_E_JOURNAL_REPLACED, or the head's codes) stops
 * the engine for good, as a restart would refuse it. */

/* 0 while the engine can write its journal; while it is stopped on it, the
 * code of the failed commit (ST_E_NO_SPACE or ST_E_JOURNAL). Thread-safe: a
 * driver may ask without holding the engine. */
int engine_journal_stopped(const struct engine *e);

/* When stopped on the journal and the next attempt is due, tries to resume
 * (see above; blocks while the journal is read back). Returns 0 when the
 * engine can write its journal (it was not stopped, or it resumed now),
 * the stop's code with the sentence requests get in DETAIL while still
 * stopped, or the fault that stopped the engine for good. Call on the
 * engine's thread. */
int engine_resume(struct engine *e, struct st_detail *detail);

/* Frees what RES owns and zeroes it; NULL is fine. */
void engine_result_cleanup(struct engine_result *res);

/* The local CA and factory root certificates. Borrowed. */
X509 *engine_ca_cert(const struct engine *e);
X509 *engine_root_cert(const struct engine *e);

/* The device gateway's URL told to boards (gateway.h), or NULL when no
 * gateway is configured. Borrowed. */
const char *engine_gateway_url(const struct engine *e);

/* Journal record counts (committed and pending). */
void engine_counts(const struct engine *e, uint64_t *records, uint64_t *issued, uint64_t *refused);

/* Closes the journal (dropping uncommitted records) and the token; NULL is fine. */
void engine_close(struct engine *e);

/* ---- audit hooks (audit.h, export.h) ---- */

struct export_options;
struct export_counts;

/* After a login: finds or makes the journal-signing key (hsm.journal_key).
 * At the first login, establishes the journal's trust (audit_establish: the
 * last seal checked, an unsealed tail sealed where the head vouches for it
 * and cut otherwise, or a journal begun); at later ones checks the journal
 * against the head kept on the token. A journal that was replaced, cut,
 * rolled back, rewritten or lost stops the engine (ST_E_JOURNAL_REPLACED,
 * ST_E_JOURNAL_TRUNCATED, ST_E_JOURNAL_ROLLBACK, ST_E_CHECKPOINT,
 * ST_E_JOURNAL_MISSING). Called by engine_login. */
int engine_audit_login(struct engine *e, struct st_detail *detail);

/* After a durable commit (sealed by engine_seal_commit): writes the head to
 * the token. Called by engine_commit. */
int engine_audit_commit(struct engine *e, struct st_detail *detail);

/* A signed checkpoint covering every durable record, made durable, and the
 * head written, after commits made unsealed (while logged out); nothing when
 * the last record is a checkpoint (every commit made logged in ends with
 * its seal), when not logged in, or when records are still uncommitted. Drivers call it at the
 * end of a batch (batch_sign_directory does) and engine_close calls it.
 * Returns 0 or a fault (the engine then stops). */
int engine_checkpoint(struct engine *e, struct st_detail *detail);

/* The next first login (engine_login) may begin a new journal where
 * journal.path holds none, with a journal-init record saying why
 * (`station journal init`; audit_establish). Call before engine_login. */
void engine_init_journal(struct engine *e);

/* The journal-init record's sentence written at the first login ("first
 * journal of this token", "replaces a lost journal: ..."), or "" when none
 * was written. Borrowed. */
const char *engine_init_reason(const struct engine *e);

/* The journal key's id (SHA-256 of its SubjectPublicKeyInfo DER) into ID.
 * Needs a login. Returns 0, ST_E_JOURNAL_KEY (not logged in) or ST_E_CRYPTO. */
int engine_journal_key_id(const struct engine *e, uint8_t id[32]);

/* At close: a last checkpoint (engine_checkpoint), then the journal key is
 * released (not when the engine is wedged: engine_close then keeps it for a
 * call stuck in the token). Called by engine_close. */
void engine_audit_close(struct engine *e);

/* Writes a signed export (export.h) of the journal into directory OUT_DIR as
 * station-journal-<UTC time>.<csv|jsonl|pem|txt>, with its .sig, .manifest.json
 * and .manifest.json.sig; the path
 * goes into PATH (PATH_CAP bytes). For the console's export key. Needs a
 * login. COUNTS may be NULL. Returns 0 or the codes of export_write. */
int engine_export(struct engine *e, const struct export_options *opt, const char *out_dir, char *path,
                  size_t path_cap, struct export_counts *counts, struct st_detail *detail);

#endif
