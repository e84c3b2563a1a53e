/*
 * batch_internal.h - what batch.c shares with batch_inspect.c: the listing of
 * csr/ and the intake's checks on names and files, so that an inspection
 * predicts exactly what a signing run decides. Not for other modules.
 */
#ifndef STATION_BATCH_INTERNAL_H
#define STATION_BATCH_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct st_detail;

struct batch_entry {
  char *name;             /* the file name in csr/ */
  size_t stem_len;        /* length of NAME without its extension; 0: bad name */
};

/* The length of NAME's stem when it ends in .csr, .pem or .der (any case), else 0. */
size_t batch_stem_len(const char *name);

/* The length of the name outputs take for ENTRY: its stem, or the whole name
 * when it has no CSR extension. */
size_t batch_output_stem_len(const struct batch_entry *entry);

/* Lists the directory CSR_FD (borrowed) into *OUT, sorted so that names giving
 * the same output sit together. Returns 0 (free with batch_entries_free),
 * ST_E_IO with DETAIL, or ST_E_NO_MEMORY. */
/* Opens DIR's csr/ directory (ROOT_FD is DIR, open) into *OUT, never
 * following a symbolic link. Returns 0, or ST_E_BATCH_LAYOUT with DETAIL
 * telling a link, something that is not a directory, and no csr/ apart. */
int batch_open_csr(int root_fd, const char *dir, int *out, struct st_detail *detail);

int batch_list(int csr_fd, struct batch_entry **out, size_t *count, struct st_detail *detail);

/* Frees COUNT entries and the array; NULL is fine. */
void batch_entries_free(struct batch_entry *entries, size_t count);

/* 1 when ENTRY (a good name) gives the same output name as PREVIOUS, the
 * entry before it in listing order (NULL for the first): a name clash. */
int batch_names_clash(const struct batch_entry *previous, const struct batch_entry *entry);

/* Reads regular file NAME of CSR_FD without following links or blocking.
 * Returns 0 with the bytes in *DATA (caller frees), a refusal code
 * (not-a-regular-file, too-large, unreadable) with a sentence in DETAIL,
 * ST_E_IO when the medium failed (batch_medium_failed) or ST_E_NO_MEMORY. */
int batch_read(int csr_fd, const char *name, uint8_t **data, size_t *len, struct st_detail *detail);

/* 1 when ERR (an errno) says that the medium under the batch failed or went
 * away (EIO, ENODEV, ENXIO, ENOMEDIUM, ENOTCONN, ESHUTDOWN, ESTALE: a stick
 * pulled out or failing) rather than that one file is unfit. Reading a CSR
 * then gives ST_E_IO, a fault of the stick that stops the batch, never a
 * refusal journaled against the CSR. */
int batch_medium_failed(int err);

/* "a symbolic link (not followed)", "a directory", ...: for refusal notes. Static. */
const char *batch_file_kind(mode_t mode);

#endif
