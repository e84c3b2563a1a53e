/*
 * journal.h - the station's write-ahead journal: append-only, hash-chained.
 *
 * One record per request the station issued or refused. A record reaches the
 * disk (journal_commit: write + fdatasync) before the certificate it holds may
 * leave the station; callers append a group of records and commit once per
 * group (group commit), then release that group's outputs.
 *
 * Layout: journal.path names a directory the station owns (created 0700 when
 * missing) holding the file `journal.log` (0600); when journal.path is an
 * existing regular file, that file is the log itself.
 *
 * File format (v1), text, one line per entry, '\n' ends every line:
 *
 *   line 1, the header:  station-journal 1 <genesis>
 *       <genesis> is 64 hex digits, random, made when the journal is created.
 *   every further line, a record of 12 fields separated by one space:
 *       <seq> <time> <event> <source> <device> <csr-sha256> <key-sha256>
 *       <serial> <reason> <detail> <certificate> <chain>
 *     seq          decimal, 1 for the first record, each next one +1
 *     time         UTC, YYYY-MM-DDTHH:MM:SS.mmmZ
 *     event        issued | refused | checkpoint | journal-init | handed-back
 *                  (a checkpoint is a record signed by the journal key, the
 *                  seal that ends every commit: see checkpoint.h; journal-init
 *                  is the first record of a journal and says why it was
 *                  started; handed-back records a certificate of an earlier
 *                  issued record given out again)
 *     source       where the request came from ("batch:/media/stick/csr/a.csr",
 *                  "serial:/dev/ttyUSB0"), percent-encoded
 *     device       the device id (CN, a lower-case UUID), percent-encoded
 *     csr-sha256   SHA-256 of the CSR's DER (of the raw input when it did not
 *                  parse), 64 lower-case hex digits
 *     key-sha256   SHA-256 of the CSR's SubjectPublicKeyInfo DER, 64 hex digits
 *     serial       the certificate serial number, lower-case hex, even length
 *     reason       the refusal's error name (error.h), e.g. wrong-factory
 *     detail       a sentence with the particulars, percent-encoded
 *     certificate  the issued certificate, DER in base64 (RFC 4648, no breaks)
 *     chain        64 hex digits: SHA-256( previous chain value (32 bytes) ||
 *                  the bytes of this line before the space that precedes chain )
 *                  The chain value before the first record is SHA-256 of the
 *                  header line without its '\n'.
 *   A field with no value is a single '-'. Percent-encoding: every byte below
 *   0x21 or above 0x7e, and '%', is written %XX (upper-case hex); a value that
 *   is exactly "-" is written %2D.
 *
 * Crash recovery: records are appended with whole writes; a crash can leave a
 * partial last line (no '\n', or trailing NUL bytes). journal_open cuts such a
 * torn tail back to the last whole record and says so in its report; after a
 * failed commit journal_recover cuts back to the last commit. Any other
 * damage (a whole line that does not parse, a broken chain, a gap in seq) is
 * tampering or corruption: journal_open refuses with ST_E_JOURNAL_CORRUPT and
 * journal_verify names the first bad record.
 *
 * Concurrency: journal_open takes an exclusive flock on the log; a second
 * station process gets ST_E_JOURNAL_LOCKED. One thread uses a struct journal.
 */
#ifndef STATION_JOURNAL_H
#define STATION_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct st_detail;
struct journal;

enum journal_event {
  JOURNAL_EVENT_ISSUED = 1,
  JOURNAL_EVENT_REFUSED = 2,
  JOURNAL_EVENT_CHECKPOINT = 3,
  JOURNAL_EVENT_INIT = 4,          /* "journal-init" */
  JOURNAL_EVENT_HANDED_BACK = 5,   /* "handed-back" */
};

/* The event's name as the journal writes it ("issued", "refused",
 * "checkpoint"); "unknown" for a value not in the enum. Static storage. */
const char *journal_event_name(enum journal_event event);

/* One record. When appending, the caller fills the inputs (pointers it owns;
 * NULL or has_* = 0 for "no value") and journal_append fills seq, time_ms
 * (when 0) and chain. When read back (journal_find_*, journal_verify callbacks),
 * every pointer is owned by the record: free with journal_record_cleanup. */
struct journal_record {
  uint64_t seq;
  int64_t time_ms;                 /* milliseconds since the epoch, UTC */
  enum journal_event event;
  char *source;
  char *device;
  uint8_t csr_sha256[32];
  int has_csr_sha256;
  uint8_t key_sha256[32];
  int has_key_sha256;
  uint8_t serial[20];
  size_t serial_len;               /* 0: no serial */
  char *reason;
  char *detail;
  uint8_t *cert_der;
  size_t cert_len;                 /* 0: no certificate */
  uint8_t chain[32];
};

/* What journal_open found. */
struct journal_open_report {
  uint64_t records;                /* whole records in the journal (checkpoints included) */
  uint64_t issued;
  uint64_t refused;
  uint64_t checkpoints;
  uint64_t handed_back;
  uint64_t torn_bytes_dropped;     /* bytes of a torn last record cut away (0: none) */
  int created;                     /* 1 when the journal was made new */
};

/* Opens (creating when missing) the journal at PATH, takes its lock, reads the
 * index file when there is a usable one and checks the chain of the records
 * after it (else of the whole log), cuts a torn tail (fsync'd), and indexes
 * issued records by CSR hash, device id, key hash and serial. REPORT may be
 * NULL.
 * Returns 0 and *OUT, or ST_E_JOURNAL_LOCKED, ST_E_JOURNAL_CORRUPT (DETAIL
 * names the first bad record: "record 17 (line 18): chain hash mismatch"),
 * ST_E_JOURNAL (I/O, with the path and errno text in DETAIL). */
int journal_open(const char *path, struct journal **out, struct journal_open_report *report,
                 struct st_detail *detail);

/* Appends REC (assigns rec->seq, rec->time_ms when 0, rec->chain). Buffered:
 * not durable until journal_commit returns 0. Issued records are indexed at
 * once, so lookups see them before the commit.
 * Returns 0, ST_E_NO_MEMORY, or ST_E_JOURNAL when the journal has failed before. */
int journal_append(struct journal *j, struct journal_record *rec);

/* Number of appended records not yet committed. */
size_t journal_pending(const struct journal *j);

/* Makes every appended record durable: writes them (through st_sys) and
 * fdatasyncs the log. Returns 0 when durable; ST_E_NO_SPACE or ST_E_JOURNAL
 * otherwise, after cutting the log back to its last durable length. After a
 * failed commit the handle refuses appends, commits and lookups (ST_E_JOURNAL)
 * until journal_recover succeeds, or the journal is closed and opened again. */
int journal_commit(struct journal *j, struct st_detail *detail);

/* 0 while J can be used; after a failed journal_commit, the code that commit
 * returned (ST_E_NO_SPACE or ST_E_JOURNAL), until journal_recover succeeds. */
int journal_failed(const struct journal *j);

/* After a failed commit, makes J usable again without giving up its lock:
 * checks that the log's path still names the file J holds, cuts the log
 * back to the length of the last successful commit (what the failed write
 * left after it, a torn line or whole lines, was never committed nor
 * released), fsyncs it, then reads and checks it from its first byte as
 * journal_open does and builds the index anew; the records appended since
 * that commit are gone. The log must end exactly on the last committed
 * record and chain value. Does not check for room (journal_room). Blocks on
 * reading the whole log. REPORT (may be NULL) gets the counts, and in
 * torn_bytes_dropped the bytes cut. Returns 0 (at once when J has not
 * failed), ST_E_JOURNAL (I/O: J stays failed, try again later),
 * ST_E_JOURNAL_REPLACED (the log was deleted, moved or replaced),
 * ST_E_JOURNAL_CORRUPT (it no longer ends on the last commit, or does not
 * check out: DETAIL says where), or ST_E_NO_MEMORY. */
int journal_recover(struct journal *j, struct journal_open_report *report, struct st_detail *detail);

/* Room for the journal (journal_space.c). Returns 0 when the file system
 * holding J's log has at least NEED bytes available to the station
 * (statvfs, through st_sys), ST_E_NO_SPACE when it has less (DETAIL names
 * the file system, the log and both amounts), or ST_E_JOURNAL when it
 * cannot be asked. */
int journal_room(const struct journal *j, uint64_t need, struct st_detail *detail);

/* The mount point of the file system holding the file PATH (the directory
 * below which every ancestor is on another device), written into OUT (CAP
 * bytes). Falls back to PATH's directory when it cannot be told. */
void journal_filesystem(const char *path, char *out, size_t cap);

/* Lookups among issued records (committed or pending). Each returns 1 and a
 * copy in *OUT (caller cleans up) when found, 0 when not, or a negative code.
 *   by CSR hash: the record that issued a certificate for that CSR;
 *   by device:   the latest issued record for that device id;
 *   by key hash: the first issued record for that public key. */
int journal_find_csr(struct journal *j, const uint8_t csr_sha256[32], struct journal_record *out);
int journal_find_device(struct journal *j, const char *device, struct journal_record *out);
int journal_find_key(struct journal *j, const uint8_t key_sha256[32], struct journal_record *out);

/* 1 when a certificate with this serial was ever issued here, else 0. */
int journal_serial_used(struct journal *j, const uint8_t *serial, size_t len);

/* The genesis value of J's header (32 bytes). */
void journal_genesis(const struct journal *j, uint8_t genesis[32]);

/* The seq and chain value of the last record appended (committed or pending);
 * 0 and the chain value of the header when the journal has no record. */
void journal_last(const struct journal *j, uint64_t *seq, uint8_t chain[32]);

/* The seq of the last checkpoint record appended (0: none yet). */
uint64_t journal_last_checkpoint(const struct journal *j);

/* ---- what is trusted: the seal ----
 *
 * A record is trusted only when a seal covers it: a checkpoint record after
 * it, signed by the journal key (checkpoint.h), which the engine appends at
 * the end of every commit. Records found in the file after its last
 * checkpoint (a commit a crash interrupted, or lines added by hand) are
 * trusted by nothing until the audit (audit_establish) seals them, when the
 * head on the token vouches for them, or cuts them. */

/* The seq of the last record a seal covers: the last checkpoint appended or
 * found (0: none). The one boundary of what is trusted in J. */
uint64_t journal_sealed(const struct journal *j);

/* From now on, records that were in the file when J was opened (or last cut)
 * and come after record LAST are not trusted: a lookup that finds one
 * answers ST_E_JOURNAL_UNSEALED instead of handing it out, and
 * journal_serial_used counts their serials as used. Records appended through
 * J are not concerned. UINT64_MAX: every record is trusted (the default). */
void journal_trust_upto(struct journal *j, uint64_t last);

/* The last checkpoint in the file as journal_open (or journal_cut_after)
 * found it: 1 with a copy in *REC (caller cleans up) and the chain value of
 * the record before it in PREV_CHAIN (of the header for record 1), 0 when
 * the file held none, or a negative code (ST_E_JOURNAL, ST_E_JOURNAL_CORRUPT). */
int journal_last_seal(struct journal *j, struct journal_record *rec, uint8_t prev_chain[32]);

/* The chain value of record SEQ, for the last checkpoint found at open and
 * the records after it (and seq 0 when the file held no checkpoint). Returns
 * 1 and CHAIN, or 0 when SEQ is not among them. */
int journal_chain_at(const struct journal *j, uint64_t seq, uint8_t chain[32]);

/* Cuts every record after record KEEP off the log (KEEP at or after the last
 * checkpoint found at open, before the end; nothing pending; not failed):
 * first copies the lines cut to a new file beside the log,
 * "<log>.unsealed-<UTC time>" (0600, fsync'd; its path into SAVED, SAVED_CAP
 * bytes), then truncates the log and fsyncs it, then reads and checks the log
 * again from its first byte and builds the index anew. *CUT gets the number
 * of records cut. Returns 0, ST_E_JOURNAL (I/O; the log is unchanged when
 * the copy failed), ST_E_JOURNAL_CORRUPT, ST_E_NO_MEMORY, or ST_E_INTERNAL
 * (KEEP out of range). */
int journal_cut_after(struct journal *j, uint64_t keep, char *saved, size_t saved_cap, uint64_t *cut,
                      struct st_detail *detail);

/* ---- the index file ----
 *
 * The index of issued records (by CSR hash, key hash, device, serial) and the
 * counts are kept in a file beside the log, "<log>.index", signed by the
 * journal key and covering the log up to one checkpoint (the format is at the
 * top of journal_index_file.c and in docs/journal-format.md). journal_open
 * reads that file and only the records after it; when it is missing or does
 * not match the log it reads the whole log, as it always can. An index read
 * from the file is not used until its signature is checked
 * (journal_index_claim, journal_index_settle: the audit does it at the first
 * login): until then every lookup answers ST_E_JOURNAL_UNSEALED. */

#define JOURNAL_INDEX_MSG_MAX 256
#define JOURNAL_INDEX_SIG_MAX 160

/* Signs MSG (LEN bytes) with the journal key: a DER ECDSA-SHA256 signature
 * into SIG (*SIG_LEN bytes of room in, its length out). 0 or a negative code
 * with DETAIL. */
struct journal_index_signer {
  int (*sign)(void *arg, const char *msg, size_t len, uint8_t *sig, size_t *sig_len, struct st_detail *detail);
  void *arg;
};

/* 1 when J's index was read from the index file and its signature is not
 * checked yet: MSG (JOURNAL_INDEX_MSG_MAX bytes) gets the signed message
 * (*MSG_LEN its length), *SIG and *SIG_LEN the signature (borrowed from J).
 * 0 otherwise. */
int journal_index_claim(const struct journal *j, char *msg, size_t *msg_len, const uint8_t **sig,
                        size_t *sig_len);

/* After journal_index_claim answered 1: VERIFIED 1 (the signature verifies
 * with the journal key) makes the index trusted; 0 discards it, says so on
 * stderr with WHY, and reads the whole log again, building the index anew
 * (nothing may be pending). Returns 0, or journal_open's codes. */
int journal_index_settle(struct journal *j, int verified, const char *why, struct st_detail *detail);

/* 1 when writing the index file now is worth it and allowed: nothing
 * pending, not failed, the index not awaiting its check, the last record a
 * checkpoint, and at least max(1024, records / 64) records after the one the
 * index file covers (or no usable index file and as many records). */
int journal_index_due(const struct journal *j);

/* Writes the index file for the log as it is (the conditions of
 * journal_index_due but the count), signed through SIGNER, fsyncs it and its
 * directory. Blocks on the disk (about 75 bytes per issued record). Returns
 * 0, ST_E_INTERNAL (not allowed now), ST_E_JOURNAL (I/O, DETAIL), or
 * SIGNER's code; the log is never touched. */
int journal_index_write(struct journal *j, const struct journal_index_signer *signer, struct st_detail *detail);

/* The seq of the checkpoint the index file J was read from or last wrote
 * covers (0: none: J was read from its first byte). */
uint64_t journal_index_seq(const struct journal *j);

/* Drops the appended records without writing them, as a failed commit
 * would: J then answers CODE as journal_failed until journal_recover. */
void journal_abandon(struct journal *j, int code);

/* Counts of records so far (committed and pending; records includes
 * checkpoints; after a failed commit, committed only). Any pointer may be
 * NULL. */
void journal_counts(const struct journal *j, uint64_t *records, uint64_t *issued, uint64_t *refused);

/* The path of the log file itself. Borrowed. */
const char *journal_log_path(const struct journal *j);

/* Commits nothing: pending records are dropped. Releases the lock; NULL is fine. */
void journal_close(struct journal *j);

/* Frees what REC owns (for records the journal handed out) and zeroes it. */
void journal_record_cleanup(struct journal_record *rec);

/* What journal_verify found. */
struct journal_verify_report {
  uint64_t records;                /* records that checked out (checkpoints included) */
  uint64_t issued;
  uint64_t refused;
  uint64_t checkpoints;
  uint64_t handed_back;
  uint64_t last_seq;               /* seq of the last record that checked out (0: none) */
  uint64_t last_checkpoint;        /* seq of the last checkpoint among them (0: none) */
  enum journal_event last_event;   /* event of that last record (0: none) */
  uint8_t last_chain[32];          /* chain value after it (of the header when none) */
  uint8_t genesis[32];             /* the header's genesis value */
  uint64_t bad_seq;                /* seq the first bad record claims or should have (0: none bad) */
  uint64_t bad_line;               /* its line number in the file (0: none bad) */
  int torn_tail;                   /* 1 when the file ends in a partial record */
};

/* Checks the journal at PATH (directory or file, as journal_open takes it)
 * without taking its lock and without changing it: the header, every record's
 * syntax, seq continuity, and the chain. A torn last record is reported, not
 * fatal. Returns 0 when intact, ST_E_JOURNAL_CORRUPT with DETAIL naming the
 * first bad record and why ("record 17 (line 18): chain hash mismatch: the
 * record was changed, or a record before it was removed or inserted"), or
 * ST_E_JOURNAL when it cannot be read. REPORT may be NULL. */
int journal_verify(const char *path, struct journal_verify_report *report, struct st_detail *detail);

/* A further check of each record, for journal_verify_with: CHECK gets every
 * record whose syntax, seq and chain checked out, in order, with the header's
 * GENESIS and PREV_CHAIN, the chain value of the record before it (of the
 * header for record 1). It returns 0 to go on, or a negative code with DETAIL
 * set to stop the check (that code is returned, and the report names REC as
 * the first bad record). REC and its strings are valid during the call only. */
struct journal_checker {
  int (*check)(void *arg, const struct journal_record *rec, const uint8_t genesis[32],
               const uint8_t prev_chain[32], struct st_detail *detail);
  void *arg;
};

/* journal_verify, calling CHECKER (may be NULL) for every good record. Reads
 * the log once, in constant memory, without its lock. */
int journal_verify_with(const char *path, const struct journal_checker *checker,
                        struct journal_verify_report *report, struct st_detail *detail);

#endif
