/*
 * batch.h - signing a batch directory (a USB stick, or any directory).
 *
 * Layout (interface.md):
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
};

/* Signs the batch in DIR with E. Returns 0 when every entry got its outcome
 * (refusals included; see SUMMARY), ST_E_BATCH_LAYOUT when DIR has no csr/
 * directory, ST_E_IO / ST_E_NO_SPACE when outputs cannot be written, or the
 * engine's fault. DETAIL says what failed. */
int batch_sign_directory(struct engine *e, const char *dir, struct batch_summary *summary,
                         struct st_detail *detail);

#endif
