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
  size_t left;            /* entries not reached because the observer stopped the batch at a group
                             boundary (batch_observer.stop): signing the directory again does them */
};

/* Signs the batch in DIR with E. Returns 0 when every entry got its outcome
 * (refusals included; see SUMMARY), ST_E_BATCH_LAYOUT when DIR has no csr/
 * directory, ST_E_IO / ST_E_NO_SPACE when outputs cannot be written, or the
 * engine's fault. DETAIL says what failed. */
int batch_sign_directory(struct engine *e, const char *dir, struct batch_summary *summary,
                         struct st_detail *detail);

/* Who watches a batch run. PROGRESS is called on the caller's thread after
 * every group (BATCH_GROUP entries, 256) is committed and written out, with
 * DONE entries of TOTAL in csr/ finished (hidden ones count as done). During
 * the call the batch holds nothing of the engine: a driver may let another
 * thread use the engine (a serial loop turn) before returning. STOP (may be
 * NULL) is asked right after each PROGRESS: when it returns 1 the batch takes
 * no further group, waits until what it wrote is on the directory, makes its
 * checkpoint and returns 0 with the entries not reached in summary->left. */
struct batch_observer {
  void (*progress)(void *arg, size_t done, size_t total);
  void *arg;
  int (*stop)(void *arg);
};

/* batch_sign_directory, reporting progress to OBSERVER (NULL: nobody). */
int batch_sign_directory_observed(struct engine *e, const char *dir, const struct batch_observer *observer,
                                  struct batch_summary *summary, struct st_detail *detail);

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
  size_t issued_before;   /* CSRs the journal already holds a certificate for (batch_inspect_journal):
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

/* The engine lock of a driver whose engine other threads use: batch_inspect_journal
 * holds it (ENTER .. LEAVE, once) while it asks the journal. */
struct batch_engine_lock {
  void (*enter)(void *arg);
  void (*leave)(void *arg);
  void *arg;
};

/* batch_inspect, then asks the journal (under LOCK) which of the CSRs that
 * pass the checks were issued before: their count goes in out->issued_before.
 * The listing and the checks run without the lock. Same returns. */
int batch_inspect_journal(struct engine *e, const char *dir, const struct batch_engine_lock *lock,
                          struct batch_inspection *out, struct st_detail *detail);

#endif
