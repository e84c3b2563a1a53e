/*
 * journal.c - open, append, group commit, lookups and close of the journal
 * (see journal.h for the contract, journal_format.c for the line format).
 *
 * State: the log is open O_APPEND and flock'ed. durable_len is the length of
 * the file known to be on disk (after the last fdatasync, or as found and
 * checked by journal_open). Appended records are formatted into `pending`, an
 * in-memory buffer that journal_commit writes with one write and makes durable
 * with one fdatasync. A record's location is its offset in the file as if
 * pending were already written after durable_len: below durable_len it is read
 * back with pread, above it from the pending buffer. So the index never moves
 * a location when a commit succeeds.
 *
 * When a commit fails, the log is cut back to durable_len and the handle is
 * marked failed: from then on it answers ST_E_JOURNAL to everything, because
 * what is on disk is no longer certain. Two ways back: close it and open the
 * journal again, or journal_recover, which does the same through the handle
 * (and the lock) it has: the log is cut to durable_len again (whatever the
 * failed write left after it, a torn line or whole lines, was never committed
 * and never released), then read and checked from its first byte as
 * journal_open reads it, and the index is built anew. Because the handle
 * knows exactly where the last commit ended (durable_len, durable_seq,
 * durable_chain), the file read back must end there, on that record and that
 * chain value: anything else means the file was changed behind the station's
 * back, and the journal stays failed.
 *
 * Reading the log (journal_read, at open and for recovery) goes through the
 * index file when there is a usable one (journal_index_file.c): the index of
 * records 1 to N is mapped from it and only the records after N are read and
 * checked. Such an index is "claimed" until journal_index_settle says its
 * signature verified (lookups answer ST_E_JOURNAL_UNSEALED meanwhile), or is
 * discarded and the whole log read. A record read back through the index is
 * checked against the chain value the index holds for it (journal_load), so
 * a line changed behind the index is refused, never used. Recovery reads
 * through the index file only when it is the one whose signature was
 * checked (the same digest).
 */
#include "journal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "clock.h"
#include "encoding.h"
#include "error.h"
#include "log.h"
#include "syscalls.h"

/* A record of the file after its last checkpoint, as found at open. */
struct journal_tail {
  uint64_t seq;
  uint64_t off;
  uint8_t chain[32];
};

struct journal {
  int fd;
  char *log_path;
  uint64_t durable_len;
  struct xbuf pending;        /* whole lines appended since the last commit */
  size_t pending_records;
  uint64_t next_seq;
  uint8_t chain[32];          /* chain value of the last appended record */
  uint8_t genesis[32];        /* the header's genesis value */
  uint64_t last_checkpoint;   /* seq of the last checkpoint appended (0: none) */
  uint64_t records, issued, refused, checkpoints;
  struct jindex *index;
  char *scratch;              /* JOURNAL_LINE_MAX bytes for reading one line back */
  uint64_t durable_seq;       /* seq of the last record known durable (0: none) */
  uint64_t durable_records, durable_issued, durable_refused; /* the counts up to it */
  uint8_t durable_chain[32];  /* its chain value (of the header when none) */
  int failed;                 /* a commit failed: ST_E_NO_SPACE or ST_E_JOURNAL, else 0 */
  uint64_t handed_back, durable_handed_back;
  /* the seal, as found by the last full read of the file */
  const struct jscan *scanning;  /* during a full read: the scan (its chain is the previous record's) */
  uint64_t seal_seq;          /* the last checkpoint found (0: none) */
  uint64_t seal_off;          /* its offset */
  uint8_t seal_prev[32];      /* the chain value before it */
  uint8_t tail_base[32];      /* the chain value before the first tail record */
  struct journal_tail *tail;  /* the records after it */
  size_t tail_n, tail_cap;
  uint64_t opened_seq;        /* the last record the file held when read */
  uint64_t trust_limit;       /* records of the file after this one are not trusted */
  /* the last checkpoint appended or found: where its line is, the chain values before and at it */
  uint64_t cp_off;
  uint8_t cp_prev[32], cp_chain[32];
  /* the index file (journal_index_file.c) */
  char *ix_path;              /* "<log>.index" */
  int ix_state;               /* JOURNAL_IX_BUILT, _CLAIMED or _TRUSTED */
  uint64_t ix_seq;            /* the checkpoint the index file covers (0: no usable file) */
  uint8_t ix_digest[32];      /* its digest (what its signature covers) */
  char ix_msg[JOURNAL_INDEX_MSG_MAX];
  size_t ix_msg_len;
  uint8_t ix_sig[JOURNAL_INDEX_SIG_MAX];
  size_t ix_sig_len;
};

/* Where the index in memory comes from. */
enum {
  JOURNAL_IX_BUILT = 0,       /* from records read and checked in the log */
  JOURNAL_IX_CLAIMED = 1,     /* from the index file, its signature not checked yet: not used */
  JOURNAL_IX_TRUSTED = 2,     /* from the index file, its signature checked */
};

int journal_resolve(const char *path, char **log_path, int *is_dir, struct st_detail *detail)
{
  struct stat st;
  *log_path = NULL;
  if (stat(path, &st) < 0) {
    st_detail_set(detail, "cannot open journal %s: %s", path, strerror(errno));
    return ST_E_JOURNAL;
  }
  *is_dir = S_ISDIR(st.st_mode);
  if (!*is_dir && !S_ISREG(st.st_mode)) {
    st_detail_set(detail, "cannot open journal %s: it is neither a directory nor a regular file",
                  path);
    return ST_E_JOURNAL;
  }
  if (*is_dir ? asprintf(log_path, "%s/%s", path, JOURNAL_LOG_NAME) < 0
              : (*log_path = strdup(path)) == NULL) {
    *log_path = NULL;
    return ST_E_NO_MEMORY;
  }
  return 0;
}

/* fsyncs the directory that holds FILE (so a new name in it is durable). */
static int journal_sync_dir_of(const char *file, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY, fd = -1;
  char *copy = strdup(file);
  const char *dir;
  if (copy == NULL)
    goto out;
  dir = dirname(copy);
  r = ST_E_JOURNAL;
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0 || st_sys.fsync(fd) < 0) {
    st_detail_set(detail, "cannot sync directory %s: %s", dir, strerror(errno));
    goto out;
  }
  r = 0;
out:
  if (fd >= 0)
    close(fd);
  free(copy);
  return r;
}

/* The chain value of the record whose line ends just before byte LOC of the
 * log: the last 64 hex digits of that line, or for the first record the
 * chain value of the header. 0, or ST_E_JOURNAL / ST_E_JOURNAL_CORRUPT. */
static int journal_prev_chain(struct journal *j, uint64_t loc, uint8_t prev[32])
{
  char text[JOURNAL_HEADER_LEN + 2];
  ssize_t got;
  if (loc == JOURNAL_HEADER_LEN + 1) {
    do
      got = pread(j->fd, text, JOURNAL_HEADER_LEN, 0);
    while (got < 0 && errno == EINTR);
    if (got != JOURNAL_HEADER_LEN)
      return got < 0 ? ST_E_JOURNAL : ST_E_JOURNAL_CORRUPT;
    return EVP_Digest(text, JOURNAL_HEADER_LEN, prev, NULL, EVP_sha256(), NULL) ? 0 : ST_E_CRYPTO;
  }
  if (loc < JOURNAL_HEADER_LEN + 1 + 66)
    return ST_E_JOURNAL_CORRUPT;
  do
    got = pread(j->fd, text, 66, (off_t)(loc - 66));
  while (got < 0 && errno == EINTR);
  if (got != 66)
    return got < 0 ? ST_E_JOURNAL : ST_E_JOURNAL_CORRUPT;
  return text[0] == ' ' && text[65] == '\n' && st_hex_decode(prev, text + 1, 64) ? 0 : ST_E_JOURNAL_CORRUPT;
}

/* Reads the line at LOC (committed or pending) back into REC. With CHAIN (the
 * first 16 bytes of the chain value the index holds for it), a committed
 * line must be that record: its chain field begins with CHAIN and is
 * SHA-256 of the chain value before it and its bytes; otherwise the log was
 * changed behind the index (ST_E_JOURNAL_CORRUPT, said on stderr). */
static int journal_load(void *arg, uint64_t loc, const uint8_t chain[16], struct journal_record *rec)
{
  struct journal *j = arg;
  int r = ST_E_JOURNAL_CORRUPT, committed = loc < j->durable_len;
  const char *p = NULL, *why = NULL, *nl = NULL;
  size_t n = 0, body_len = 0;
  uint8_t prev[32], want[32];
  memset(rec, 0, sizeof *rec);
  if (!committed) {
    if (loc - j->durable_len >= j->pending.len)
      goto out;
    p = j->pending.data + (loc - j->durable_len);
    n = j->pending.len - (size_t)(loc - j->durable_len);
    nl = memchr(p, '\n', n);
  } else {
    /* A record is short; read 4 KiB at first, more only when needed. */
    size_t want_len = 4096;
    p = j->scratch;
    while (nl == NULL && n < want_len) {
      ssize_t got = pread(j->fd, j->scratch + n, want_len - n, (off_t)(loc + n));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0) {
        r = got < 0 ? ST_E_JOURNAL : ST_E_JOURNAL_CORRUPT;
        goto out;
      }
      nl = memchr(j->scratch + n, '\n', (size_t)got);
      n += (size_t)got;
      if (nl == NULL && n == want_len && want_len < JOURNAL_LINE_MAX)
        want_len = JOURNAL_LINE_MAX;
    }
  }
  if (nl == NULL)
    goto out;
  r = jf_parse(p, (size_t)(nl - p), rec, &body_len, &why);
  if (r < 0 || chain == NULL || !committed)
    goto out;
  r = journal_prev_chain(j, loc, prev);
  if (r == 0)
    r = jf_chain(want, prev, p, body_len);
  if (r == 0 && (memcmp(want, rec->chain, 32) != 0 || memcmp(rec->chain, chain, 16) != 0))
    r = ST_E_JOURNAL_CORRUPT;
  if (r == ST_E_JOURNAL_CORRUPT)
    st_warn("journal %s: the line at byte %llu is not the record the index names there: the journal was "
            "changed (`station journal verify` says where)", j->log_path, (unsigned long long)loc);
out:
  if (r < 0)
    journal_record_cleanup(rec);
  return r;
}

/* Indexes a record found by a full read of the file, and keeps the last
 * checkpoint and the records after it. */
static int journal_index_record(void *arg, uint64_t off, const struct journal_record *rec)
{
  struct journal *j = arg;
  int r = rec->event == JOURNAL_EVENT_ISSUED ? jindex_add(j->index, off, rec) : 0;
  if (r < 0)
    return r;
  if (rec->seq == 1)
    memcpy(j->tail_base, j->scanning->chain, 32);
  if (rec->event == JOURNAL_EVENT_CHECKPOINT) {
    j->seal_seq = rec->seq;
    j->seal_off = off;
    memcpy(j->seal_prev, j->scanning->chain, 32);
    memcpy(j->tail_base, rec->chain, 32);
    j->tail_n = 0;
    return 0;
  }
  if (j->tail_n == j->tail_cap) {
    size_t cap = j->tail_cap ? j->tail_cap * 2 : 64;
    struct journal_tail *grown = realloc(j->tail, cap * sizeof *grown);
    if (grown == NULL)
      return ST_E_NO_MEMORY;
    j->tail = grown;
    j->tail_cap = cap;
  }
  j->tail[j->tail_n].seq = rec->seq;
  j->tail[j->tail_n].off = off;
  memcpy(j->tail[j->tail_n].chain, rec->chain, 32);
  j->tail_n++;
  return 0;
}

/* Forgets what a full read found about the seal (before another one). */
static void journal_seal_reset(struct journal *j)
{
  j->seal_seq = j->seal_off = 0;
  j->tail_n = 0;
}

/* Opens (creating when missing) the log, checks it is a regular file, and
 * locks it. *CREATED says the log file was made now. */
static int journal_open_log(struct journal *j, int is_dir, int *created, struct st_detail *detail)
{
  int flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOCTTY;
  struct stat st;
  *created = 0;
  if (is_dir) {
    j->fd = open(j->log_path, flags | O_NOFOLLOW | O_CREAT | O_EXCL, 0600);
    *created = j->fd >= 0;
    if (j->fd < 0 && errno == EEXIST)
      j->fd = open(j->log_path, flags | O_NOFOLLOW);
  } else {
    j->fd = open(j->log_path, flags);
  }
  if (j->fd < 0 && errno == ELOOP) {
    st_detail_set(detail, "cannot open journal %s: it is a symbolic link; the journal is kept only in a regular "
                  "file in the journal directory", j->log_path);
    return ST_E_JOURNAL;
  }
  if (j->fd < 0 || fstat(j->fd, &st) < 0) {
    st_detail_set(detail, "cannot open journal %s: %s", j->log_path, strerror(errno));
    return ST_E_JOURNAL;
  }
  if (!S_ISREG(st.st_mode)) {
    st_detail_set(detail, "cannot open journal %s: it is not a regular file", j->log_path);
    return ST_E_JOURNAL;
  }
  if (flock(j->fd, LOCK_EX | LOCK_NB) < 0) {
    if (errno == EWOULDBLOCK) {
      st_detail_set(detail, "journal %s is in use by another station process", j->log_path);
      return ST_E_JOURNAL_LOCKED;
    }
    st_detail_set(detail, "cannot lock journal %s: %s", j->log_path, strerror(errno));
    return ST_E_JOURNAL;
  }
  return 0;
}

/* Starts an empty (or torn-header) log: a new header with a random genesis,
 * written and fsync'd, and the directory fsync'd. */
static int journal_init(struct journal *j, struct jscan *s, struct st_detail *detail)
{
  int r;
  uint8_t genesis[32];
  char header[JOURNAL_HEADER_LEN + 2];
  if (RAND_bytes(genesis, sizeof genesis) != 1) {
    st_detail_set(detail, "cannot draw the journal's genesis value");
    st_detail_add_openssl(detail);
    return ST_E_CRYPTO;
  }
  jf_header_format(header, genesis);
  memcpy(j->genesis, genesis, 32);
  if ((s->header_torn && st_sys.ftruncate(j->fd, 0) < 0) ||
      st_write_all(j->fd, header, JOURNAL_HEADER_LEN + 1) < 0 || st_sys.fsync(j->fd) < 0) {
    st_detail_set(detail, "cannot write the header of journal %s: %s", j->log_path,
                  strerror(errno));
    return ST_E_JOURNAL;
  }
  r = journal_sync_dir_of(j->log_path, detail);
  if (r < 0)
    return r;
  r = EVP_Digest(header, JOURNAL_HEADER_LEN, j->chain, NULL, EVP_sha256(), NULL) ? 0 : ST_E_CRYPTO;
  j->durable_len = JOURNAL_HEADER_LEN + 1;
  return r;
}

/* Cuts a torn tail found by the scan back to the last whole record. */
static int journal_cut_torn(struct journal *j, const struct jscan *s, struct st_detail *detail)
{
  if (st_sys.ftruncate(j->fd, (off_t)s->good_end) < 0 || st_sys.fsync(j->fd) < 0) {
    st_detail_set(detail, "cannot cut the torn last record of journal %s: %s", j->log_path,
                  strerror(errno));
    return ST_E_JOURNAL;
  }
  st_warn("journal %s: cut %llu bytes of a torn last record (a write a crash interrupted, "
          "never committed) after record %llu", j->log_path, (unsigned long long)s->torn_bytes,
          (unsigned long long)s->last_seq);
  return 0;
}

/* Takes the state a whole scan S found (after any cut) into J, and into
 * REPORT when not NULL. */
static void journal_take_scan(struct journal *j, const struct jscan *s, struct journal_open_report *report)
{
  j->next_seq = s->last_seq + 1;
  j->durable_seq = s->last_seq;
  j->durable_records = s->records;
  j->durable_issued = s->issued;
  j->durable_refused = s->refused;
  memcpy(j->durable_chain, j->chain, 32);
  j->records = s->records;
  j->issued = s->issued;
  j->refused = s->refused;
  j->checkpoints = s->checkpoints;
  j->handed_back = j->durable_handed_back = s->handed_back;
  j->last_checkpoint = s->last_checkpoint;
  j->opened_seq = s->last_seq;
  if (s->last_seq == 0)
    memcpy(j->tail_base, j->chain, 32);
  j->cp_off = j->seal_off;
  memcpy(j->cp_prev, j->seal_prev, 32);
  memcpy(j->cp_chain, j->tail_base, 32);
  if (report != NULL) {
    memset(report, 0, sizeof *report);
    report->records = s->records;
    report->issued = s->issued;
    report->refused = s->refused;
    report->checkpoints = s->checkpoints;
    report->handed_back = s->handed_back;
    report->torn_bytes_dropped = s->torn_bytes;
  }
}

/* Makes the journal directory PATH when nothing is there; *MADE says so. */
static int journal_make_dir(const char *path, int *made, struct st_detail *detail)
{
  struct stat st;
  *made = 0;
  if (stat(path, &st) == 0 || errno != ENOENT)
    return 0;
  if (mkdir(path, 0700) < 0 && errno != EEXIST) {
    st_detail_set(detail, "cannot create journal directory %s: %s", path, strerror(errno));
    return ST_E_JOURNAL;
  }
  *made = 1;
  return 0;
}

/* Reads the log into J and builds the index anew, into scan S: through the
 * index file when WANT is 1 and the file is usable (and, with MUST, is the
 * file whose digest is MUST), the scan then covering only the records after
 * it and its counts made those of the whole log; else from the first byte.
 * The index read from the file is claimed (not used before its signature
 * is checked) unless MUST vouches for it. */
static int journal_read(struct journal *j, int want, const uint8_t *must, struct jscan *s,
                        struct st_detail *detail)
{
  int r, loaded = 0;
  struct jindex_loader loader = {journal_load, j};
  struct jif_header h;
  struct stat st;
  const char *why = NULL;
  uint8_t digest[32];

  memset(s, 0, sizeof *s);
  memset(&h, 0, sizeof h);
  jindex_free(j->index);
  if ((j->index = jindex_new(&loader)) == NULL)
    return ST_E_NO_MEMORY;
  journal_seal_reset(j);
  j->ix_state = JOURNAL_IX_BUILT;
  j->ix_seq = 0;
  s->fd = j->fd;
  s->path = j->log_path;
  s->on_record = journal_index_record;
  s->arg = j;
  if (want && fstat(j->fd, &st) == 0 && st.st_size > 0) {
    int got = jif_load(j->ix_path, j->fd, (uint64_t)st.st_size, j->index, &h, digest, j->ix_sig, &j->ix_sig_len,
                       &why);
    if (got == 0 && must != NULL && memcmp(digest, must, 32) != 0) {
      got = -1;
      why = "it is no longer the index whose signature was checked";
    }
    loaded = got == 0;
    if (got < 0)
      st_warn("journal %s: its index %s is not used: %s; the whole journal is read instead, and the index is "
              "written anew when the station next seals", j->log_path, j->ix_path, why);
    if (got != 0) {
      jindex_free(j->index);
      if ((j->index = jindex_new(&loader)) == NULL)
        return ST_E_NO_MEMORY;
    }
  }
  if (loaded) {
    s->resume = 1;
    s->start_off = h.end;
    s->last_seq = h.seq;
    memcpy(s->chain, h.chain, 32);
    memcpy(s->genesis, h.genesis, 32);
    memcpy(j->genesis, h.genesis, 32);
    j->seal_seq = h.seq;
    j->seal_off = h.off;
    memcpy(j->seal_prev, h.prev, 32);
    memcpy(j->tail_base, h.chain, 32);
    j->ix_seq = h.seq;
    j->ix_state = must != NULL ? JOURNAL_IX_TRUSTED : JOURNAL_IX_CLAIMED;
    memcpy(j->ix_digest, digest, 32);
    j->ix_msg_len = jif_message(j->ix_msg, h.genesis, h.seq, h.chain, digest);
  } else if (lseek(j->fd, 0, SEEK_SET) != 0) { /* appends (O_APPEND) do not depend on the offset */
    st_detail_set(detail, "cannot read journal %s: %s", j->log_path, strerror(errno));
    return ST_E_JOURNAL;
  }
  j->scanning = s;
  r = jscan_run(s, detail);
  j->scanning = NULL;
  if (r < 0 || !loaded)
    return r;
  s->records += h.records;
  s->issued += h.issued;
  s->refused += h.refused;
  s->checkpoints += h.checkpoints;
  s->handed_back += h.handed_back;
  if (s->last_checkpoint == 0)
    s->last_checkpoint = h.seq;
  return r;
}

int journal_open(const char *path, struct journal **out, struct journal_open_report *report,
                 struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY, made_dir = 0, is_dir = 0, created = 0;
  struct journal *j = calloc(1, sizeof *j);
  struct jscan s;
  memset(&s, 0, sizeof s);
  *out = NULL;
  if (report != NULL)
    memset(report, 0, sizeof *report);
  if (j == NULL)
    goto out;
  j->fd = -1;
  j->trust_limit = UINT64_MAX;
  j->durable_len = UINT64_MAX; /* during the scan every record is in the file */
  if ((r = journal_make_dir(path, &made_dir, detail)) < 0 ||
      (r = journal_resolve(path, &j->log_path, &is_dir, detail)) < 0 ||
      (r = journal_open_log(j, is_dir, &created, detail)) < 0)
    goto out;
  r = ST_E_NO_MEMORY;
  if ((j->scratch = malloc(JOURNAL_LINE_MAX)) == NULL || asprintf(&j->ix_path, "%s.index", j->log_path) < 0) {
    j->ix_path = NULL;
    goto out;
  }
  r = journal_read(j, 1, NULL, &s, detail);
  if (r < 0)
    goto out;
  if (s.empty || s.header_torn) {
    if (!created)
      st_warn("journal %s %s; starting a new journal in it", j->log_path,
              s.empty ? "is empty" : "holds only a header cut short by a crash");
    unlink(j->ix_path); /* an index of an earlier journal here describes nothing of the new one */
    r = journal_init(j, &s, detail);
    created = 1;
  } else {
    r = s.torn_tail ? journal_cut_torn(j, &s, detail) : 0;
    memcpy(j->chain, s.chain, 32);
    memcpy(j->genesis, s.genesis, 32);
    j->durable_len = s.good_end;
  }
  if (r == 0 && made_dir)
    r = journal_sync_dir_of(path, detail);
  if (r < 0)
    goto out;
  journal_take_scan(j, &s, report);
  if (report != NULL)
    report->created = created;
  *out = j;
  j = NULL;
  r = 0;
out:
  journal_close(j);
  return r;
}

int journal_append(struct journal *j, struct journal_record *rec)
{
  int r;
  size_t start = j->pending.len;
  uint8_t prev[32];
  if (j->failed)
    return ST_E_JOURNAL;
  memcpy(prev, j->chain, 32);
  rec->seq = j->next_seq;
  if (rec->time_ms == 0)
    rec->time_ms = st_wall_ms();
  r = jf_format(&j->pending, rec, j->chain);
  if (r == ST_E_INTERNAL)
    st_error("journal: record %llu cannot be written: a field is out of range",
             (unsigned long long)rec->seq);
  if (r < 0)
    return r;
  if (rec->event == JOURNAL_EVENT_ISSUED && (r = jindex_add(j->index, j->durable_len + start, rec)) < 0) {
    j->pending.len = start;
    return r;
  }
  memcpy(j->chain, rec->chain, 32);
  j->next_seq++;
  j->pending_records++;
  j->records++;
  if (rec->event == JOURNAL_EVENT_ISSUED)
    j->issued++;
  else if (rec->event == JOURNAL_EVENT_REFUSED)
    j->refused++;
  else if (rec->event == JOURNAL_EVENT_HANDED_BACK)
    j->handed_back++;
  else if (rec->event == JOURNAL_EVENT_CHECKPOINT)
    j->checkpoints++;
  if (rec->event == JOURNAL_EVENT_CHECKPOINT) {
    j->last_checkpoint = rec->seq;
    j->cp_off = j->durable_len + start;
    memcpy(j->cp_prev, prev, 32);
    memcpy(j->cp_chain, rec->chain, 32);
  }
  return 0;
}

size_t journal_pending(const struct journal *j)
{
  return j->pending_records;
}

int journal_commit(struct journal *j, struct st_detail *detail)
{
  int r, err;
  if (j->failed) {
    st_detail_set(detail, "journal %s failed earlier; close it and open it again", j->log_path);
    return ST_E_JOURNAL;
  }
  if (j->pending.len == 0)
    return 0;
  if (st_write_all(j->fd, j->pending.data, j->pending.len) == 0 && st_sys.fdatasync(j->fd) == 0) {
    j->durable_len += j->pending.len;
    j->durable_seq = j->next_seq - 1;
    j->durable_records = j->records;
    j->durable_issued = j->issued;
    j->durable_refused = j->refused;
    j->durable_handed_back = j->handed_back;
    memcpy(j->durable_chain, j->chain, 32);
    j->pending.len = 0;
    j->pending_records = 0;
    return 0;
  }
  err = errno;
  r = err == ENOSPC ? ST_E_NO_SPACE : ST_E_JOURNAL;
  j->failed = r;
  if (st_sys.ftruncate(j->fd, (off_t)j->durable_len) == 0 && st_sys.fsync(j->fd) == 0)
    st_detail_set(detail, "cannot write journal %s: %s; it was cut back to its last durable "
                  "length (%llu bytes): %zu records were not committed", j->log_path,
                  strerror(err), (unsigned long long)j->durable_len, j->pending_records);
  else
    st_detail_set(detail, "cannot write journal %s: %s; cutting it back to %llu bytes also "
                  "failed: %s", j->log_path, strerror(err), (unsigned long long)j->durable_len,
                  strerror(errno));
  return r;
}

int journal_failed(const struct journal *j)
{
  return j->failed;
}

/* 0 when the log's path still names the file J holds open; else
 * ST_E_JOURNAL_REPLACED (deleted, moved, or another file put in its place),
 * or ST_E_JOURNAL when that cannot be told now. */
static int journal_same_file(const struct journal *j, struct st_detail *detail)
{
  int gone = 0;
  struct stat held, named;
  memset(&named, 0, sizeof named);
  if (fstat(j->fd, &held) < 0) {
    st_detail_set(detail, "cannot stat journal %s: %s", j->log_path, strerror(errno));
    return ST_E_JOURNAL;
  }
  if (held.st_nlink == 0) {
    gone = 1;
  } else if (stat(j->log_path, &named) < 0) {
    gone = errno == ENOENT;
    if (!gone) {
      st_detail_set(detail, "cannot stat journal %s: %s", j->log_path, strerror(errno));
      return ST_E_JOURNAL;
    }
  }
  if (gone || named.st_dev != held.st_dev || named.st_ino != held.st_ino) {
    st_detail_set(detail, "journal %s was deleted, moved or replaced by another file while it could not be "
                  "written: the station does not sign on without it; put the journal back as it was and "
                  "restart the station", j->log_path);
    return ST_E_JOURNAL_REPLACED;
  }
  return 0;
}

/* Reads the log again from its first byte, as journal_open does, and builds
 * the index anew. The log must end exactly at byte DURABLE, on record
 * j->durable_seq with the chain value j->durable_chain; else
 * ST_E_JOURNAL_CORRUPT, the sentence ending in WHEN ("while it could not be
 * written"). Pending records are dropped. */
static int journal_reread(struct journal *j, uint64_t durable, struct journal_open_report *report,
                          const char *when, struct st_detail *detail)
{
  int r;
  struct jscan s;
  uint8_t must[32];
  int trusted = j->ix_state == JOURNAL_IX_TRUSTED;

  memcpy(must, j->ix_digest, 32);
  j->pending.len = 0;
  j->pending_records = 0;
  j->durable_len = UINT64_MAX; /* during the scan every record is in the file */
  /* the index file only when it is the one whose signature was checked */
  r = journal_read(j, trusted, trusted ? must : NULL, &s, detail);
  j->durable_len = durable;
  if (r < 0)
    return r;
  if (s.empty || s.header_torn || s.torn_tail || s.good_end != durable || s.last_seq != j->durable_seq ||
      memcmp(s.chain, j->durable_chain, 32) != 0) {
    st_detail_set(detail, "journal %s does not end where the station last committed it (record %llu, byte %llu): "
                  "it now ends at record %llu, byte %llu: it was changed %s",
                  j->log_path, (unsigned long long)j->durable_seq, (unsigned long long)durable,
                  (unsigned long long)s.last_seq, (unsigned long long)(s.good_end + s.torn_bytes), when);
    return ST_E_JOURNAL_CORRUPT;
  }
  memcpy(j->chain, s.chain, 32);
  journal_take_scan(j, &s, report);
  return 0;
}

int journal_recover(struct journal *j, struct journal_open_report *report, struct st_detail *detail)
{
  int r;
  uint64_t durable = j->durable_len;
  struct stat st;

  if (report != NULL)
    memset(report, 0, sizeof *report);
  if (!j->failed)
    return 0;
  if ((r = journal_same_file(j, detail)) < 0)
    return r;
  if (fstat(j->fd, &st) < 0) {
    st_detail_set(detail, "cannot stat journal %s: %s", j->log_path, strerror(errno));
    return ST_E_JOURNAL;
  }
  if ((uint64_t)st.st_size < durable) { /* never extend it: it stays as it was found */
    st_detail_set(detail, "journal %s does not end where the station last committed it (record %llu, byte %llu): "
                  "it is only %llu bytes long: it was cut while it could not be written", j->log_path,
                  (unsigned long long)j->durable_seq, (unsigned long long)durable, (unsigned long long)st.st_size);
    return ST_E_JOURNAL_CORRUPT;
  }
  if (st_sys.ftruncate(j->fd, (off_t)durable) < 0 || st_sys.fsync(j->fd) < 0) {
    st_detail_set(detail, "cannot cut journal %s back to its last durable length (%llu bytes): %s", j->log_path,
                  (unsigned long long)durable, strerror(errno));
    return ST_E_JOURNAL;
  }
  if ((uint64_t)st.st_size > durable)
    st_warn("journal %s: cut %llu bytes a failed write had left after record %llu (never committed, never "
            "released)", j->log_path, (unsigned long long)((uint64_t)st.st_size - durable),
            (unsigned long long)j->durable_seq);
  {
    uint64_t trusted = j->trust_limit, opened = j->opened_seq;
    r = journal_reread(j, durable, report, "while it could not be written", detail);
    /* what this handle appended and committed stays its own */
    j->trust_limit = trusted;
    j->opened_seq = opened;
  }
  if (r < 0)
    return r;
  if (report != NULL)
    report->torn_bytes_dropped = (uint64_t)st.st_size - durable;
  j->failed = 0;
  return 0;
}

void journal_abandon(struct journal *j, int code)
{
  if (!j->failed)
    j->failed = code;
}

uint64_t journal_sealed(const struct journal *j)
{
  return j->last_checkpoint;
}

void journal_trust_upto(struct journal *j, uint64_t last)
{
  j->trust_limit = last;
}

int journal_last_seal(struct journal *j, struct journal_record *rec, uint8_t prev_chain[32])
{
  int r;
  memset(rec, 0, sizeof *rec);
  if (j->seal_seq == 0)
    return 0;
  r = journal_load(j, j->seal_off, NULL, rec);
  if (r == 0 && rec->seq != j->seal_seq)
    r = ST_E_JOURNAL_CORRUPT;
  if (r < 0) {
    journal_record_cleanup(rec);
    return r;
  }
  memcpy(prev_chain, j->seal_prev, 32);
  return 1;
}

int journal_chain_at(const struct journal *j, uint64_t seq, uint8_t chain[32])
{
  if (seq == j->seal_seq) {
    memcpy(chain, j->tail_base, 32);
    return 1;
  }
  for (size_t i = 0; i < j->tail_n; i++) {
    if (j->tail[i].seq == seq) {
      memcpy(chain, j->tail[i].chain, 32);
      return 1;
    }
  }
  return 0;
}

/* "<log>.unsealed-<UTC time>" into OUT. */
static void journal_unsealed_name(const struct journal *j, char *out, size_t cap)
{
  char stamp[ST_TIME_LEN + 1];
  int64_t now = st_wall_ms();
  st_time_format(stamp, now);
  for (char *c = stamp; *c != '\0'; c++)
    *c = *c == ':' ? '-' : *c;
  snprintf(out, cap, "%s.unsealed-%s", j->log_path, stamp);
}

/* Copies bytes FROM..TO of the log into a new file PATH, made durable. */
static int journal_copy_out(struct journal *j, uint64_t from, uint64_t to, const char *path,
                            struct st_detail *detail)
{
  int r = ST_E_JOURNAL, fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  char *buf = j->scratch;
  if (fd < 0) {
    st_detail_set(detail, "cannot create %s: %s", path, strerror(errno));
    goto out;
  }
  while (from < to) {
    size_t want = to - from > JOURNAL_LINE_MAX ? JOURNAL_LINE_MAX : (size_t)(to - from);
    ssize_t got = pread(j->fd, buf, want, (off_t)from);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0 || st_write_all(fd, buf, (size_t)got) < 0) {
      st_detail_set(detail, "cannot copy the unsealed records of journal %s to %s: %s", j->log_path, path,
                    got == 0 ? "the log is shorter than it was" : strerror(errno));
      goto out;
    }
    from += (uint64_t)got;
  }
  if (st_sys.fsync(fd) < 0) {
    st_detail_set(detail, "cannot sync %s: %s", path, strerror(errno));
    goto out;
  }
  r = journal_sync_dir_of(path, detail);
out:
  if (fd >= 0)
    close(fd);
  return r;
}

int journal_cut_after(struct journal *j, uint64_t keep, char *saved, size_t saved_cap, uint64_t *cut,
                      struct st_detail *detail)
{
  int r;
  size_t first = 0;
  uint64_t from, durable = j->durable_len, last = j->durable_seq;
  uint8_t keep_chain[32];

  *cut = 0;
  while (first < j->tail_n && j->tail[first].seq <= keep)
    first++;
  if (j->failed || j->pending_records > 0 || keep < j->seal_seq || first == j->tail_n ||
      j->tail[j->tail_n - 1].seq != last || !journal_chain_at(j, keep, keep_chain)) {
    st_detail_set(detail, "journal %s: cannot cut after record %llu", j->log_path, (unsigned long long)keep);
    return ST_E_INTERNAL;
  }
  from = j->tail[first].off;
  journal_unsealed_name(j, saved, saved_cap);
  if ((r = journal_copy_out(j, from, durable, saved, detail)) < 0)
    return r;
  if (st_sys.ftruncate(j->fd, (off_t)from) < 0 || st_sys.fsync(j->fd) < 0) {
    j->failed = ST_E_JOURNAL; /* what is on disk is no longer certain */
    st_detail_set(detail, "cannot cut journal %s after record %llu: %s", j->log_path, (unsigned long long)keep,
                  strerror(errno));
    return ST_E_JOURNAL;
  }
  j->durable_seq = keep;
  memcpy(j->durable_chain, keep_chain, 32);
  r = journal_reread(j, from, NULL, "while its unsealed records were cut", detail);
  if (r < 0) {
    j->failed = ST_E_JOURNAL;
    return r;
  }
  *cut = last - keep;
  return r;
}

/* Finds KEY in TABLE and reads its record into OUT. 1, 0 or a negative code. */
static int journal_find(struct journal *j, enum jindex_table table, const void *key, size_t len,
                        struct journal_record *out)
{
  int r;
  uint64_t loc = 0;
  uint8_t chain[16];
  memset(out, 0, sizeof *out);
  if (j->failed)
    return ST_E_JOURNAL;
  if (j->ix_state == JOURNAL_IX_CLAIMED) /* an index whose signature is not checked answers nothing */
    return ST_E_JOURNAL_UNSEALED;
  r = jindex_find(j->index, table, key, len, &loc, chain);
  if (r == 1 && (r = journal_load(j, loc, chain, out)) == 0)
    r = 1;
  if (r == 1 && out->seq > j->trust_limit && out->seq <= j->opened_seq) {
    journal_record_cleanup(out);
    r = ST_E_JOURNAL_UNSEALED; /* never handed out, never used by a rule */
  }
  return r;
}

int journal_find_csr(struct journal *j, const uint8_t csr_sha256[32], struct journal_record *out)
{
  return journal_find(j, JINDEX_CSR, csr_sha256, 32, out);
}

int journal_find_device(struct journal *j, const char *device, struct journal_record *out)
{
  return journal_find(j, JINDEX_DEVICE, device, device != NULL ? strlen(device) : 0, out);
}

int journal_find_key(struct journal *j, const uint8_t key_sha256[32], struct journal_record *out)
{
  return journal_find(j, JINDEX_KEY, key_sha256, 32, out);
}

int journal_serial_used(struct journal *j, const uint8_t *serial, size_t len)
{
  int r = ST_E_JOURNAL;
  uint64_t loc = 0;
  uint8_t chain[16];
  if (!j->failed)
    r = j->ix_state == JOURNAL_IX_CLAIMED ? ST_E_JOURNAL_UNSEALED
        : len > 0 && len <= 20           ? jindex_find(j->index, JINDEX_SERIAL, serial, len, &loc, chain)
                                         : 0;
  return r;
}

void journal_counts(const struct journal *j, uint64_t *records, uint64_t *issued, uint64_t *refused)
{
  /* after a failed commit, what was appended since the last one never counts */
  if (records != NULL)
    *records = j->failed ? j->durable_records : j->records;
  if (issued != NULL)
    *issued = j->failed ? j->durable_issued : j->issued;
  if (refused != NULL)
    *refused = j->failed ? j->durable_refused : j->refused;
}

void journal_genesis(const struct journal *j, uint8_t genesis[32])
{
  memcpy(genesis, j->genesis, 32);
}

void journal_last(const struct journal *j, uint64_t *seq, uint8_t chain[32])
{
  *seq = j->next_seq - 1;
  memcpy(chain, j->chain, 32);
}

uint64_t journal_last_checkpoint(const struct journal *j)
{
  return j->last_checkpoint;
}

const char *journal_log_path(const struct journal *j)
{
  return j->log_path;
}

/* ---- the index file ---- */

int journal_index_claim(const struct journal *j, char *msg, size_t *msg_len, const uint8_t **sig,
                        size_t *sig_len)
{
  if (j->ix_state != JOURNAL_IX_CLAIMED)
    return 0;
  memcpy(msg, j->ix_msg, j->ix_msg_len);
  *msg_len = j->ix_msg_len;
  *sig = j->ix_sig;
  *sig_len = j->ix_sig_len;
  return 1;
}

int journal_index_settle(struct journal *j, int verified, const char *why, struct st_detail *detail)
{
  int r;
  uint64_t trusted = j->trust_limit, opened = j->opened_seq;
  if (j->ix_state != JOURNAL_IX_CLAIMED)
    return 0;
  if (verified) {
    j->ix_state = JOURNAL_IX_TRUSTED;
    return 0;
  }
  if (j->failed || j->pending_records > 0)
    return ST_E_INTERNAL;
  st_warn("journal %s: its index %s is not used: %s; the whole journal is read instead", j->log_path, j->ix_path,
          why);
  j->ix_state = JOURNAL_IX_BUILT;
  r = journal_reread(j, j->durable_len, NULL, "while its index was checked", detail);
  j->trust_limit = trusted;
  j->opened_seq = opened;
  if (r < 0)
    j->failed = ST_E_JOURNAL;
  return r;
}

/* 1 when J may write its index file now: see journal_index_due. */
static int journal_index_allowed(const struct journal *j)
{
  return !j->failed && j->pending_records == 0 && j->ix_state != JOURNAL_IX_CLAIMED && j->durable_seq > 0 &&
         j->last_checkpoint == j->durable_seq && j->records == j->durable_seq;
}

int journal_index_due(const struct journal *j)
{
  uint64_t after = j->durable_seq - j->ix_seq, least = j->durable_seq / 64;
  return journal_index_allowed(j) && j->durable_seq > j->ix_seq && after >= (least > 1024 ? least : 1024);
}

int journal_index_write(struct journal *j, const struct journal_index_signer *signer, struct st_detail *detail)
{
  int r;
  struct jif_header h;
  uint8_t digest[32];
  if (!journal_index_allowed(j)) {
    st_detail_set(detail, "journal %s: its index cannot be written now", j->log_path);
    return ST_E_INTERNAL;
  }
  memset(&h, 0, sizeof h);
  memcpy(h.genesis, j->genesis, 32);
  h.seq = j->durable_seq;
  h.off = j->cp_off;
  h.end = j->durable_len;
  memcpy(h.prev, j->cp_prev, 32);
  memcpy(h.chain, j->cp_chain, 32);
  h.records = j->records;
  h.issued = j->issued;
  h.refused = j->refused;
  h.checkpoints = j->checkpoints;
  h.handed_back = j->handed_back;
  r = jif_write(j->ix_path, &h, j->index, signer, digest, detail);
  if (r == 0)
    r = journal_sync_dir_of(j->ix_path, detail);
  if (r < 0)
    return r;
  j->ix_seq = h.seq;
  j->ix_state = JOURNAL_IX_TRUSTED; /* the index in memory is the one in the file, written by this station */
  memcpy(j->ix_digest, digest, 32);
  return r;
}

uint64_t journal_index_seq(const struct journal *j)
{
  return j->ix_seq;
}

void journal_close(struct journal *j)
{
  if (j != NULL) {
    if (j->fd >= 0)
      close(j->fd); /* releases the flock */
    jindex_free(j->index);
    free(j->tail);
    xb_free(&j->pending);
    free(j->scratch);
    free(j->ix_path);
    free(j->log_path);
    free(j);
  }
}

void journal_record_cleanup(struct journal_record *rec)
{
  if (rec != NULL) {
    free(rec->source);
    free(rec->device);
    free(rec->reason);
    free(rec->detail);
    free(rec->cert_der);
    memset(rec, 0, sizeof *rec);
  }
}
