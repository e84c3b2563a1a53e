/*
 * journal_verify.c - the streaming check of a journal log, and journal_verify.
 *
 * jscan_run reads the log once from the start in blocks of a few lines' worth
 * (memory stays constant whatever the file's size) and checks, line by line:
 * the header; that each record parses; that seq goes 1, 2, 3, ...; and that
 * each record's chain value is SHA-256(previous chain || the record before its
 * chain field). It stops at the first bad line and says, in a sentence an
 * auditor can act on, which record it is and what the evidence means:
 *
 *   line 1: the header is not valid: ...
 *   record 7 (line 8) cannot be read: its time is not ...: the record was
 *       changed or damaged
 *   record 9 (line 8) follows record 7: record 8 is missing, so a record was
 *       removed
 *   record 9 (line 8) follows record 7, and record 8 comes after it: records
 *       were reordered
 *   record 7 (line 9) follows record 7: the record appears twice, so a record
 *       was copied in
 *   record 4 (line 9) follows record 7: records are out of order, so a record
 *       was moved or an old record was inserted
 *   record 7 (line 8): chain hash mismatch: the record was changed, or a
 *       record before it was removed or inserted
 *
 * To tell "removed" from "reordered" the scanner reads one line past a gap in
 * seq: if that line holds the missing record, records were swapped.
 *
 * Bytes after the last '\n' are a torn tail (a write cut short by a crash,
 * possibly NUL bytes the file system had allocated); the scanner reports them
 * and does not count them as damage. journal_open cuts them; journal_verify
 * only reports them.
 */
#include "journal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "encoding.h"
#include "error.h"

#define JSCAN_BUF (4 * JOURNAL_LINE_MAX)

/* Where the scan is, beyond what struct jscan reports. */
struct jscan_pos {
  uint64_t off;      /* file offset of the current line */
  uint64_t line;     /* its line number, 1-based */
  int gap;           /* a seq gap was met on the previous line */
  uint64_t gap_seq;  /* the seq that line claimed */
  uint64_t gap_line;
};

/* Sets the first bad record and returns ST_E_JOURNAL_CORRUPT. */
static int jscan_bad(struct jscan *s, uint64_t seq, uint64_t line)
{
  s->bad_seq = seq;
  s->bad_line = line;
  return ST_E_JOURNAL_CORRUPT;
}

/* The line after a seq gap decides between "removed" and "reordered"; at the
 * end of the file, NEXT_SEQ is 0. Always returns ST_E_JOURNAL_CORRUPT. */
static int jscan_gap(struct jscan *s, const struct jscan_pos *p, uint64_t next_seq,
                     struct st_detail *detail)
{
  unsigned long long want = s->last_seq + 1, got = p->gap_seq;
  char prev[48];
  if (s->last_seq == 0)
    snprintf(prev, sizeof prev, "the header");
  else
    snprintf(prev, sizeof prev, "record %llu", (unsigned long long)s->last_seq);
  if (next_seq == want)
    st_detail_set(detail, "record %llu (line %llu) follows %s, and record %llu comes after it: "
                  "records were reordered", got, (unsigned long long)p->gap_line, prev, want);
  else if (got - want == 1)
    st_detail_set(detail, "record %llu (line %llu) follows %s: record %llu is missing, so a "
                  "record was removed", got, (unsigned long long)p->gap_line, prev, want);
  else
    st_detail_set(detail, "record %llu (line %llu) follows %s: records %llu to %llu are missing, "
                  "so records were removed", got, (unsigned long long)p->gap_line, prev, want,
                  got - 1);
  return jscan_bad(s, got, p->gap_line);
}

/* Checks the header line. */
static int jscan_header(struct jscan *s, const char *line, size_t len, struct st_detail *detail)
{
  const char *why = NULL;
  if (!jf_header_check(line, len, &why)) {
    st_detail_set(detail, "line 1: the header is not valid: %s", why);
    return jscan_bad(s, 0, 1);
  }
  if (!EVP_Digest(line, len, s->chain, NULL, EVP_sha256(), NULL) ||
      !st_hex_decode(s->genesis, line + sizeof JOURNAL_HEADER_PREFIX - 1, 64))
    return ST_E_CRYPTO;
  return 0;
}

/* Checks one record line (LEN bytes, no '\n') at P. */
static int jscan_record(struct jscan *s, struct jscan_pos *p, const char *line, size_t len,
                        struct st_detail *detail)
{
  struct journal_record rec;
  const char *why = NULL;
  size_t body_len = 0;
  uint8_t chain[32];
  unsigned long long want = s->last_seq + 1, l = p->line;
  int r = jf_parse(line, len, &rec, &body_len, &why);
  if (p->gap) {
    r = jscan_gap(s, p, r == 0 ? rec.seq : 0, detail);
    goto out;
  }
  if (r == ST_E_JOURNAL_CORRUPT) {
    st_detail_set(detail, "record %llu (line %llu) cannot be read: %s: the record was changed or "
                  "damaged", want, l, why);
    r = jscan_bad(s, want, l);
  }
  if (r < 0)
    goto out;
  if (rec.seq > want) {
    p->gap = 1;
    p->gap_seq = rec.seq;
    p->gap_line = l;
    goto out;
  }
  if (rec.seq < want) {
    if (rec.seq == s->last_seq)
      st_detail_set(detail, "record %llu (line %llu) follows record %llu: the record appears "
                    "twice, so a record was copied in", (unsigned long long)rec.seq, l,
                    (unsigned long long)s->last_seq);
    else
      st_detail_set(detail, "record %llu (line %llu) follows record %llu: records are out of "
                    "order, so a record was moved or an old record was inserted",
                    (unsigned long long)rec.seq, l, (unsigned long long)s->last_seq);
    r = jscan_bad(s, rec.seq, l);
    goto out;
  }
  r = jf_chain(chain, s->chain, line, body_len);
  if (r < 0)
    goto out;
  if (memcmp(chain, rec.chain, 32) != 0) {
    st_detail_set(detail, "record %llu (line %llu): chain hash mismatch: %s", want, l,
                  want == 1 ? "the header or the record was changed"
                            : "the record was changed, or a record before it was removed or "
                              "inserted");
    r = jscan_bad(s, want, l);
    goto out;
  }
  if (s->on_record != NULL && (r = s->on_record(s->arg, p->off, &rec)) < 0)
    goto out;
  memcpy(s->chain, rec.chain, 32);
  s->last_seq = rec.seq;
  s->records++;
  s->last_event = rec.event;
  if (rec.event == JOURNAL_EVENT_ISSUED)
    s->issued++;
  else if (rec.event == JOURNAL_EVENT_REFUSED)
    s->refused++;
  else if (rec.event == JOURNAL_EVENT_HANDED_BACK)
    s->handed_back++;
  else if (rec.event == JOURNAL_EVENT_CHECKPOINT)
    s->checkpoints++;
  if (rec.event == JOURNAL_EVENT_CHECKPOINT)
    s->last_checkpoint = rec.seq;
  s->good_end = p->off + len + 1;
  r = 0;
out:
  journal_record_cleanup(&rec);
  return r;
}

/* Reads more of the file into BUF[*END..JSCAN_BUF). Sets *EOF at the end. */
static int jscan_read(struct jscan *s, char *buf, size_t *end, int *eof, struct st_detail *detail)
{
  ssize_t n;
  do
    n = read(s->fd, buf + *end, JSCAN_BUF - *end);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    st_detail_set(detail, "cannot read %s: %s", s->path, strerror(errno));
    return ST_E_JOURNAL;
  }
  *end += (size_t)n;
  *eof = n == 0;
  return 0;
}

/* After the last '\n': classifies the TAIL bytes (the first TAIL_SEEN of them
 * at P; more when OVERLONG) as nothing, a torn record or a torn header. */
static int jscan_tail(struct jscan *s, struct jscan_pos *pos, const char *p, size_t tail_seen,
                      uint64_t overlong, struct st_detail *detail)
{
  int r = 0;
  uint64_t tail = overlong + tail_seen;
  if (pos->gap) {
    r = jscan_gap(s, pos, 0, detail);
  } else if (pos->line == 1 && tail == 0) {
    s->empty = 1;
  } else if (pos->line == 1 && (overlong > 0 || !jf_header_torn(p, tail_seen))) {
    st_detail_set(detail, "line 1: the header is not valid: the file does not begin with a "
                  "station journal header line");
    r = jscan_bad(s, 0, 1);
  } else if (tail > 0) {
    s->header_torn = pos->line == 1;
    s->torn_tail = 1;
    s->torn_bytes = tail;
  }
  return r;
}

int jscan_run(struct jscan *s, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  char *buf = malloc(JSCAN_BUF);
  size_t start = 0, end = 0;
  uint64_t overlong = 0; /* bytes of an over-long line already dropped */
  int eof = 0;
  struct jscan_pos pos = {.off = 0, .line = 1};
  s->records = s->issued = s->refused = s->checkpoints = s->handed_back = s->last_checkpoint = 0;
  s->last_event = 0;
  s->good_end = s->torn_bytes = s->bad_seq = s->bad_line = 0;
  s->torn_tail = s->header_torn = s->empty = 0;
  if (s->resume) {
    pos.off = s->good_end = s->start_off;
    pos.line = s->last_seq + 2; /* the header is line 1, record n line n + 1 */
  } else {
    s->last_seq = 0;
  }
  if (buf == NULL)
    goto out;
  if (s->resume && lseek(s->fd, (off_t)s->start_off, SEEK_SET) < 0) {
    r = ST_E_JOURNAL;
    st_detail_set(detail, "cannot read %s: %s", s->path, strerror(errno));
    goto out;
  }
  for (;;) {
    char *nl = memchr(buf + start, '\n', end - start);
    if (nl != NULL) {
      size_t len = (size_t)(nl - (buf + start));
      if (overlong > 0 && pos.line == 1) {
        st_detail_set(detail, "line 1: the header is not valid: it is longer than %d bytes",
                      JOURNAL_LINE_MAX);
        r = jscan_bad(s, 0, 1);
        goto out;
      }
      if (overlong > 0 && pos.gap) {
        r = jscan_gap(s, &pos, 0, detail);
        goto out;
      }
      if (overlong > 0) {
        st_detail_set(detail, "record %llu (line %llu) cannot be read: it is longer than %d "
                      "bytes: the record was changed or damaged",
                      (unsigned long long)s->last_seq + 1, (unsigned long long)pos.line,
                      JOURNAL_LINE_MAX);
        r = jscan_bad(s, s->last_seq + 1, pos.line);
        goto out;
      }
      if (pos.line == 1)
        r = jscan_header(s, buf + start, len, detail);
      else
        r = jscan_record(s, &pos, buf + start, len, detail);
      if (r < 0)
        goto out;
      if (pos.line == 1)
        s->good_end = len + 1;
      start += len + 1;
      pos.off += len + 1;
      pos.line++;
      continue;
    }
    if (eof)
      break;
    if (end - start >= JOURNAL_LINE_MAX) {
      overlong += end - start; /* keep looking for its end, without keeping it */
      start = end = 0;
    } else {
      memmove(buf, buf + start, end - start);
      end -= start;
      start = 0;
    }
    r = jscan_read(s, buf, &end, &eof, detail);
    if (r < 0)
      goto out;
  }
  r = jscan_tail(s, &pos, buf + start, end - start, overlong, detail);
out:
  free(buf);
  return r;
}

/* What journal_verify_with's scan callback needs to call the checker. */
struct jverify_hook {
  struct jscan *scan;
  const struct journal_checker *checker;
  struct st_detail *detail;
  uint64_t failed_seq;      /* the record the checker refused (0: none) */
};

/* jscan's on_record: hands a record whose chain checked out to the checker,
 * with the genesis and the chain value before it. */
static int jverify_on_record(void *arg, uint64_t off, const struct journal_record *rec)
{
  struct jverify_hook *h = arg;
  int r;
  (void)off;
  r = h->checker->check(h->checker->arg, rec, h->scan->genesis, h->scan->chain, h->detail);
  if (r < 0)
    h->failed_seq = rec->seq;
  return r;
}

int journal_verify(const char *path, struct journal_verify_report *report, struct st_detail *detail)
{
  return journal_verify_with(path, NULL, report, detail);
}

int journal_verify_with(const char *path, const struct journal_checker *checker,
                        struct journal_verify_report *report, struct st_detail *detail)
{
  int r;
  char *log_path = NULL;
  int is_dir = 0, fd = -1;
  struct stat st;
  struct jscan s;
  struct jverify_hook hook = {&s, checker, detail, 0};
  memset(&s, 0, sizeof s);
  if (report != NULL)
    memset(report, 0, sizeof *report);
  r = journal_resolve(path, &log_path, &is_dir, detail);
  if (r < 0)
    goto out;
  r = ST_E_JOURNAL;
  /* in a journal directory the log is the file itself, never a link to elsewhere (as journal_open) */
  fd = open(log_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | (is_dir ? O_NOFOLLOW : 0));
  if (fd < 0 && errno == ELOOP) {
    st_detail_set(detail, "cannot read %s: it is a symbolic link; the journal is read only from a regular file "
                  "in the journal directory", log_path);
    goto out;
  }
  if (fd < 0 || fstat(fd, &st) < 0) {
    st_detail_set(detail, "cannot read %s: %s", log_path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    st_detail_set(detail, "cannot read %s: it is not a regular file", log_path);
    goto out;
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  s.fd = fd;
  s.path = log_path;
  if (checker != NULL) {
    s.on_record = jverify_on_record;
    s.arg = &hook;
  }
  r = jscan_run(&s, detail);
  if (r < 0 && hook.failed_seq != 0) {
    s.bad_seq = hook.failed_seq;
    s.bad_line = hook.failed_seq + 1;
  }
  if (r == 0 && s.empty) {
    st_detail_set(detail, "line 1: the file is empty: it has no journal header");
    r = jscan_bad(&s, 0, 1);
  }
  if (report != NULL) {
    report->records = s.records;
    report->issued = s.issued;
    report->refused = s.refused;
    report->checkpoints = s.checkpoints;
    report->handed_back = s.handed_back;
    report->last_seq = s.last_seq;
    report->last_checkpoint = s.last_checkpoint;
    report->last_event = s.last_event;
    memcpy(report->last_chain, s.chain, 32);
    memcpy(report->genesis, s.genesis, 32);
    report->bad_seq = s.bad_seq;
    report->bad_line = s.bad_line;
    report->torn_tail = s.torn_tail;
  }
out:
  if (fd >= 0)
    close(fd);
  free(log_path);
  return r;
}
