/*
 * journal_internal.h - what the journal's own files share; not for the rest of
 * the station (the contract is journal.h).
 *
 *   journal_format.c  one line <-> struct journal_record, the header, the chain
 *   journal_index.c   the in-memory index of issued records
 *   journal_index_file.c  that index kept in a file beside the log, signed
 *   journal_verify.c  the streaming scanner (used by journal_open too) and
 *                     journal_verify
 *   journal.c         open, append, commit, recovery after a failed commit,
 *                     lookups, close
 *   journal_space.c   room on the journal's file system
 */
#ifndef STATION_JOURNAL_INTERNAL_H
#define STATION_JOURNAL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "xbuf.h"

struct st_detail;

/* The longest line the journal writes or reads, its '\n' included. */
#define JOURNAL_LINE_MAX 65536

/* "station-journal 1 " and 64 hex digits, without the '\n'. */
#define JOURNAL_HEADER_PREFIX "station-journal 1 "
#define JOURNAL_HEADER_LEN 82

/* The log's name inside a journal directory. */
#define JOURNAL_LOG_NAME "journal.log"

/* journal_format.c ----------------------------------------------------- */

/* Writes the header line for GENESIS, '\n' included, into OUT
 * (JOURNAL_HEADER_LEN + 2 bytes, NUL-terminated). */
void jf_header_format(char *out, const uint8_t genesis[32]);

/* Checks a header line (without '\n'). Returns true, or false with *WHY saying
 * what is wrong (static text). */
bool jf_header_check(const char *line, size_t len, const char **why);

/* True when P (LEN bytes, no '\n') could be the start of a header whose write
 * was interrupted: a prefix of a valid header, then only NUL bytes. */
bool jf_header_torn(const char *p, size_t len);

/* CHAIN_OUT = SHA-256(PREV || BODY). 0 or ST_E_CRYPTO. */
int jf_chain(uint8_t chain_out[32], const uint8_t prev[32], const void *body, size_t len);

/* Appends REC as one line, '\n' included, to OUT, with its chain computed from
 * PREV into REC->chain. REC's seq and time_ms must be set. Returns 0,
 * ST_E_NO_MEMORY, ST_E_CRYPTO, or ST_E_INTERNAL when a field cannot be written
 * (bad event, reason not [a-z0-9-], serial over 20 bytes, time out of range,
 * line over JOURNAL_LINE_MAX); OUT is unchanged on failure. */
int jf_format(struct xbuf *out, struct journal_record *rec, const uint8_t prev[32]);

/* Parses one record line LINE (LEN bytes, without '\n') into REC (zeroed
 * first; clean up with journal_record_cleanup even on failure). *BODY_LEN gets
 * the length of the chained part (the bytes before the space before chain).
 * Returns 0, ST_E_NO_MEMORY, or ST_E_JOURNAL_CORRUPT with *WHY saying which
 * field is wrong (static text). */
int jf_parse(const char *line, size_t len, struct journal_record *rec, size_t *body_len,
             const char **why);

/* journal_index.c ------------------------------------------------------ */

enum jindex_table { JINDEX_CSR, JINDEX_KEY, JINDEX_DEVICE, JINDEX_SERIAL, JINDEX_TABLES };

/* One indexed record: where it is, the hash of each of its keys (0: none),
 * and the first 16 bytes of its chain value. 40 bytes, no padding: the index
 * file holds an array of them as they are in memory. */
struct jindex_entry {
  uint64_t loc;
  uint32_t hash[JINDEX_TABLES];
  uint8_t chain[16];
};

/* Reads the record stored at location LOC back into REC (for the index to
 * compare keys), checking that it is the record whose chain value begins
 * with CHAIN (16 bytes). Returns 0 or a negative code. */
struct jindex_loader {
  int (*load)(void *arg, uint64_t loc, const uint8_t chain[16], struct journal_record *rec);
  void *arg;
};

struct jindex;

/* A new, empty index reading records through LOADER. NULL when out of memory. */
struct jindex *jindex_new(const struct jindex_loader *loader);

/* Frees IX; NULL is fine. */
void jindex_free(struct jindex *ix);

/* Indexes the issued record REC, stored at location LOC, under each key it
 * has. Returns 0 or a negative code; the index is unchanged on failure. */
int jindex_add(struct jindex *ix, uint64_t loc, const struct journal_record *rec);

/* Looks KEY (LEN bytes) up in TABLE. Returns 1 and *LOC and CHAIN (the first
 * 16 bytes of the record's chain value), 0 when absent, or a negative code
 * from the loader. */
int jindex_find(struct jindex *ix, enum jindex_table table, const void *key, size_t len,
                uint64_t *loc, uint8_t chain[16]);

/* Bytes the index has allocated. */
size_t jindex_memory(const struct jindex *ix);

/* The arrays of an index: N entries then N2 more (ENTRY2), and for each table
 * its SIZE slots (entry number + 1, 0 empty; SIZE a power of two, or 0 with
 * no array) of which USED are taken. */
struct jindex_arrays {
  const struct jindex_entry *entry;
  size_t n;
  const struct jindex_entry *entry2;
  size_t n2;
  const uint32_t *slot[JINDEX_TABLES];
  size_t size[JINDEX_TABLES], used[JINDEX_TABLES];
};

/* IX's arrays, borrowed (valid until IX changes). */
void jindex_arrays(const struct jindex *ix, struct jindex_arrays *out);

/* Makes the empty index IX use the arrays of A (N entries, no ENTRY2),
 * which lie inside MAP, a private writable mapping of MAP_LEN bytes that IX
 * then owns (munmap'd by jindex_free; A's pointers are set to NULL). The
 * mapped entries stay where they are, entries added later go to the heap; a
 * table is written copy-on-write and moves to the heap when it grows. The
 * caller has checked the arrays (jif_load): every slot names an entry, no
 * table is more than 3/4 full. Returns 0, or ST_E_INTERNAL when IX is not
 * empty (A unchanged). */
int jindex_adopt(struct jindex *ix, struct jindex_arrays *a, void *map, size_t map_len);

/* journal_index_file.c -------------------------------------------------- */

#define JIF_HEADER_LEN 320

/* What the index file's header says: it describes records 1 to SEQ, SEQ being
 * a checkpoint whose line runs from byte OFF to END, with chain values PREV
 * (of record SEQ - 1) and CHAIN (of SEQ), and the counts among them. */
struct jif_header {
  uint8_t genesis[32];
  uint64_t seq, off, end;
  uint8_t prev[32], chain[32];
  uint64_t records, issued, refused, checkpoints, handed_back;
};

/* The message the index's signature is over, for (GENESIS, SEQ, CHAIN, the
 * file's DIGEST), into OUT (JOURNAL_INDEX_MSG_MAX bytes); returns its length. */
size_t jif_message(char *out, const uint8_t genesis[32], uint64_t seq, const uint8_t chain[32],
                   const uint8_t digest[32]);

/* Reads the index file PATH for the log LOG_FD (LOG_SIZE bytes): checks its
 * shape and that the log holds what it describes (not its signature), puts
 * its arrays into the empty index IX, the header into H, the file's digest
 * into DIGEST, its signature into SIG (JOURNAL_INDEX_SIG_MAX bytes; *SIG_LEN).
 * Returns 0; 1 when there is no such file; -1 with *WHY (static text saying
 * what is wrong) when it cannot be used; IX stays empty unless 0. */
int jif_load(const char *path, int log_fd, uint64_t log_size, struct jindex *ix, struct jif_header *h,
             uint8_t digest[32], uint8_t *sig, size_t *sig_len, const char **why);

/* Writes the index file PATH (through PATH.tmp, fsync'd, renamed; the
 * caller fsyncs the directory) from H and IX, signed through SIGNER; DIGEST
 * gets the file's digest. Returns 0, ST_E_JOURNAL (I/O, DETAIL says what),
 * ST_E_NO_MEMORY, ST_E_CRYPTO, or what SIGNER returned. */
int jif_write(const char *path, const struct jif_header *h, const struct jindex *ix,
              const struct journal_index_signer *signer, uint8_t digest[32], struct st_detail *detail);

/* journal_verify.c ------------------------------------------------------ */

/* The streaming check of a whole log, shared by journal_open and
 * journal_verify. Set fd, path, and optionally on_record; jscan_run fills the
 * rest. */
struct jscan {
  int fd;
  const char *path;
  /* Called for every record that checked out, with its byte offset; a
   * negative return stops the scan with that code. */
  int (*on_record)(void *arg, uint64_t off, const struct journal_record *rec);
  void *arg;
  /* Set resume to scan from byte start_off on, right after record last_seq
   * whose chain value is chain, in the journal whose genesis is genesis (all
   * three set by the caller), without reading the header: the records after
   * what the index file covers. The counts are of the records scanned. */
  int resume;
  uint64_t start_off;

  uint64_t records, issued, refused, checkpoints, handed_back;
  uint64_t last_seq;          /* seq of the last good record (0: none) */
  uint64_t last_checkpoint;   /* seq of the last good checkpoint record (0: none) */
  enum journal_event last_event; /* event of the last good record (0: none) */
  uint8_t genesis[32];        /* the header's genesis value */
  uint8_t chain[32];          /* chain value after the last good record */
  uint64_t good_end;          /* offset just past the last good line */
  uint64_t torn_bytes;        /* bytes after good_end in a torn tail */
  int torn_tail;              /* 1: the file ends in a partial line */
  int header_torn;            /* 1: not even the header is whole (see jf_header_torn) */
  int empty;                  /* 1: the file has no bytes */
  uint64_t bad_seq, bad_line; /* the first bad record (0: none) */
};

/* Reads S->fd from offset 0 (or start_off) to the end, checking the header, every record's
 * syntax, seq continuity and the chain. Returns 0 (torn tail and empty file
 * included: see the flags), ST_E_JOURNAL_CORRUPT with DETAIL naming the first
 * bad record, ST_E_JOURNAL on a read error, or what on_record returned. */
int jscan_run(struct jscan *s, struct st_detail *detail);

/* journal.c ------------------------------------------------------------- */

/* The log file for PATH: PATH/journal.log when PATH is a directory, PATH when
 * it is a regular file. *LOG_PATH is malloc'd. Returns 0, ST_E_NO_MEMORY, or
 * ST_E_JOURNAL (DETAIL says why; errno ENOENT stays set when PATH is missing). */
int journal_resolve(const char *path, char **log_path, int *is_dir, struct st_detail *detail);

#endif
