/*
 * batch.h - signing a batch directory (a USB stick, or any directory).
 *
 * Layout (docs/batch-signing.md):
 *   DIR/csr/NAME.csr|.pem|.der   input, one CSR per regular file
 *   DIR/certs/NAME.pem           the device certificate, for each issued CSR
 *   DIR/rejected/NAME.txt        "<reason-code> <sentence>" and the particulars,
 *                                for each refused file
 * Every entry of csr/ gets an outcome, in name order:
 *   - hidden entries (".name") are skipped and said so, nothing else;
 *   - symlinks, directories, FIFOs, devices, sockets are refused
 *     (not-a-regular-file) without being opened or followed;
 *   - a name not ending in .csr/.pem/.der (any case) is refused (bad-file-name);
 *   - two files giving the same NAME are refused after the first (name-clash);
 *     names are compared ignoring the case of ASCII letters, as a FAT or exFAT
 *     stick does (csr/Board.csr and csr/board.pem would both write
 *     certs/board.pem there);
 *   - every other file is read (at most CSR_MAX_BYTES, never blocking) and
 *     handed to the engine.
 * Work goes in groups: a group's journal records are made durable in one
 * commit, then its output files are published (output.h). A fault stops the
 * batch after releasing what is already durable.
 */
#ifndef STATION_BATCH_H
#define STATION_BATCH_H

#include <stddef.h>

struct engine;
struct st_detail;

struct batch_summary {
  size_t issued;          /* new certificates signed */
  size_t handed_back;     /* certificates issued before, delivered again */
  size_t refused;         /* refused files (journaled, with a rejected/ note) */
  size_t skipped;         /* hidden entries skipped */
  size_t unwritten;       /* of the above, journaled but whose file may not have reached the stick
                             (the batch stopped on a fault of the stick): delivered by the next run */
  size_t left;            /* entries not reached because the driver closed the batch between two groups
                             (batch_close): signing the directory again does them */
};

/* Signs the batch in DIR with E. Returns 0 when every entry got its outcome
 * (refusals included; see SUMMARY), ST_E_BATCH_LAYOUT when DIR has no csr/
 * directory, ST_E_IO / ST_E_NO_SPACE when outputs cannot be written, or the
 * engine's fault. DETAIL says what failed. */
int batch_sign_directory(struct engine *e, const char *dir, struct batch_summary *summary,
                         struct st_detail *detail);

/* A batch in progress, driven in steps by the thread that owns the engine
 * (the service's loop), so that between two groups that thread serves
 * others (a serial turn, a command): the batch holds nothing of the engine
 * between steps. batch_sign_directory is open, every step, close. */
struct batch;

/* Opens the batch in DIR for E: csr/ listed, certs/ and rejected/ made,
 * the first group's files being read on the engine's pool. SUMMARY
 * (borrowed; must outlive the batch) is zeroed and filled as groups are
 * done. Returns 0 and *OUT, or (nothing left open) ST_E_BATCH_LAYOUT,
 * ST_E_IO, ST_E_NO_SPACE, ST_E_NO_MEMORY with DETAIL. */
int batch_open(struct engine *e, const char *dir, struct batch_summary *summary, struct batch **out,
               struct st_detail *detail);

/* Does one group (BATCH_GROUP entries, 256): decides it, commits it (one
 * fdatasync and seal) and hands its files to the writer, while the next
 * group is read on the pool; waits for the files of the group before it.
 * Returns 1 when the group is done (batch_progress has moved), 0 when
 * nothing was left or the batch stopped on a fault (batch_close returns it). */
int batch_step(struct batch *b);

/* 1 when no group is left or a fault ended the batch: batch_close is next. */
int batch_finished(const struct batch *b);

/* DONE entries of TOTAL in csr/ finished (decided and committed, or hidden). */
void batch_progress(const struct batch *b, size_t *done, size_t *total);

/* Ends the batch, also between two groups (a driver stopping it: the
 * entries not reached go in summary->left, and signing the directory again
 * does them): waits until every file written is on the directory, makes the
 * engine's checkpoint and frees B. Returns 0 when every entry reached got
 * its outcome, or the fault (the stick's, the journal's, the engine's) with
 * DETAIL. */
int batch_close(struct batch *b, struct st_detail *detail);

/* Refusal reasons an inspection tells apart; the rest are counted under "other". */
#define BATCH_INSPECT_REASONS 8

/* What signing a batch would give, as far as the intake's checks and the
 * policy can tell without the journal or the HSM. */
struct batch_inspection {
  size_t files;           /* entries of csr/ that get an outcome (hidden ones excluded) */
  size_t hidden;          /* hidden entries, skipped */
  size_t refusals;        /* entries the intake or the policy will refuse */
  size_t reason_count;    /* distinct reasons in REASONS */
  struct {
    int code;             /* the refusal code (st_error_name gives its name) */
    size_t count;
  } reasons[BATCH_INSPECT_REASONS];
  size_t other;           /* refusals whose reason did not fit in REASONS */
  size_t issued_before;   /* CSRs the journal already holds a certificate for (batch_inspect_issued):
                             signing gives them back, with no new signature */
};

/* Looks at the batch in DIR without writing anything and without the journal
 * or the HSM: lists csr/, applies the intake's checks (names, file kinds,
 * sizes, name clashes) and the policy (engine_prepare) to every entry, and
 * counts the refusals by reason. Requests that the journal would refuse
 * (key-reused, device-already-certified) are not foreseen. Thread-safe like
 * engine_prepare: may run while another thread drives E. Returns 0 and
 * *OUT, ST_E_BATCH_LAYOUT when DIR has no csr/, ST_E_IO or ST_E_NO_MEMORY. */
int batch_inspect(const struct engine *e, const char *dir, struct batch_inspection *out, struct st_detail *detail);

/* The digests of the CSRs an inspection found fit to sign, for asking the
 * journal which were issued before. */
struct batch_digests;

/* batch_inspect, keeping the digests of the CSRs that pass the checks in
 * *DIGESTS (free with batch_digests_free) for batch_inspect_issued.
 * Thread-safe like batch_inspect. Same returns; *DIGESTS is NULL unless 0. */
int batch_inspect_collect(const struct engine *e, const char *dir, struct batch_inspection *out,
                          struct batch_digests **digests, struct st_detail *detail);

/* Asks the journal which of DIGESTS were issued before and adds their count
 * to out->issued_before (signing gives them back, with no new signature).
 * On the engine's thread. */
void batch_inspect_issued(struct engine *e, const struct batch_digests *digests, struct batch_inspection *out);

/* Frees DIGESTS; NULL is fine. */
void batch_digests_free(struct batch_digests *digests);

#endif
