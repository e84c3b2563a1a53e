/*
 * journal_index_file.c - the journal index kept in a file beside the log, so
 * that opening a journal reads the index and the records after it instead
 * of the whole log (docs/journal-format.md, "The index file").
 *
 * The file is "<log>.index" (journal/journal.log.index), mode 0600, written
 * whole under "<log>.index.tmp", fsync'd, renamed into place and the
 * directory fsync'd. It describes records 1 to N of the log, N being a
 * checkpoint, and is laid out in the byte order of the machine that wrote it
 * (a station reads only an index written with its own byte order):
 *
 *   header, JIF_HEADER_LEN (320) bytes:
 *     0    "station-journal-index\n" and two NUL bytes (24 bytes)
 *     24   u32 format version, 1
 *     28   u32 0x01020304 (the byte order)
 *     32   genesis (32 bytes): the journal header's
 *     64   u64 N: the seq of the checkpoint the index ends on
 *     72   u64 the byte offset of that checkpoint's line in the log
 *     80   u64 the byte offset just past it (where the records after the
 *          index begin)
 *     88   chain(N - 1) (32 bytes)
 *     120  chain(N) (32 bytes)
 *     152  u64 records, issued, refused, checkpoints, handed-back among
 *          records 1 to N (5 x 8 bytes)
 *     192  u64 E, the number of entries
 *     200  u64 table size, 4 of them (CSR hash, key hash, device, serial)
 *     232  u64 slots used, 4 of them
 *     264  zero up to 320
 *   entries: E x 40 bytes, one per issued record in journal order
 *     (struct jindex_entry: u64 byte offset of its line, u32 hash of each of
 *     its four keys, the first 16 bytes of its chain value)
 *   tables: for each of the four, its size x u32 slots (entry number + 1,
 *     0 empty), open addressing with linear probing (journal_index.c)
 *   trailer: u32 L, then L bytes: the signature
 *
 * The signature is DER ECDSA-SHA256 by the journal key in the token over one
 * line of text, its '\n' included:
 *
 *   station-journal-index 1 <genesis> <N> <chain(N)> <sha256>\n
 *
 * <sha256> being the SHA-256 of every byte of the file before the trailer
 * (64 lower-case hex digits each, N decimal). So the index, like a
 * checkpoint, is something only the station with the token's PIN can have
 * written, and it names the exact run of records 1 to N it describes.
 *
 * Reading it (jif_load) checks its shape and that the log still holds that
 * run: the log's header has the same genesis, and the line at the given
 * offset is checkpoint N whose chain value is chain(N) computed from
 * chain(N - 1) and its bytes. The signature is checked later, when the
 * station has the journal key (audit_establish); until then nothing in the
 * index is used, and an index whose signature does not verify is discarded
 * and the whole log read instead.
 */
#include "journal_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "encoding.h"
#include "error.h"
#include "syscalls.h"

#define JIF_MAGIC "station-journal-index\n"
#define JIF_VERSION 1u
#define JIF_ORDER 0x01020304u

_Static_assert(sizeof(struct jindex_entry) == 40, "an index entry is 40 bytes");

/* The fields of the header, at their offsets. */
#define JIF_AT_VERSION 24
#define JIF_AT_ORDER 28
#define JIF_AT_GENESIS 32
#define JIF_AT_SEQ 64
#define JIF_AT_OFF 72
#define JIF_AT_END 80
#define JIF_AT_PREV 88
#define JIF_AT_CHAIN 120
#define JIF_AT_COUNTS 152
#define JIF_AT_N 192
#define JIF_AT_SIZE 200
#define JIF_AT_USED 232

static uint64_t jif_u64(const uint8_t *p)
{
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static uint32_t jif_u32(const uint8_t *p)
{
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

size_t jif_message(char *out, const uint8_t genesis[32], uint64_t seq, const uint8_t chain[32],
                   const uint8_t digest[32])
{
  char g[65], c[65], d[65];
  st_hex_encode(g, genesis, 32);
  st_hex_encode(c, chain, 32);
  st_hex_encode(d, digest, 32);
  return (size_t)snprintf(out, JOURNAL_INDEX_MSG_MAX, "station-journal-index 1 %s %llu %s %s\n", g,
                          (unsigned long long)seq, c, d);
}

/* Reads exactly LEN bytes at OFF. 0, or -1 (short or error). */
static int jif_pread(int fd, void *buf, size_t len, uint64_t off)
{
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return -1;
    done += (size_t)n;
  }
  return 0;
}

/* Checks that the log FD (SIZE bytes) holds what header H describes: its
 * header line has H's genesis, and its line from H's offset to its end is
 * checkpoint N whose chain value follows from chain(N - 1). */
static int jif_check_log(int fd, uint64_t size, const struct jif_header *h, const char **why)
{
  int r = -1;
  char head[JOURNAL_HEADER_LEN + 2], want[JOURNAL_HEADER_LEN + 2], *line = NULL;
  const char *w = NULL;
  size_t len = (size_t)(h->end - h->off), body_len = 0;
  struct journal_record rec;
  uint8_t chain[32];

  memset(&rec, 0, sizeof rec);
  *why = "the journal's header is not the one it was written for (another journal)";
  jf_header_format(want, h->genesis);
  if (jif_pread(fd, head, JOURNAL_HEADER_LEN + 1, 0) < 0 || memcmp(head, want, JOURNAL_HEADER_LEN + 1) != 0)
    goto out;
  *why = "the journal is shorter than the records it describes";
  if (h->end > size || h->off < JOURNAL_HEADER_LEN + 1 || h->end <= h->off || len > JOURNAL_LINE_MAX)
    goto out;
  *why = "the journal does not hold the checkpoint it ends on where it says";
  if ((line = malloc(len)) == NULL || jif_pread(fd, line, len, h->off) < 0 || line[len - 1] != '\n' ||
      jf_parse(line, len - 1, &rec, &body_len, &w) != 0 || rec.seq != h->seq ||
      rec.event != JOURNAL_EVENT_CHECKPOINT || memcmp(rec.chain, h->chain, 32) != 0 ||
      jf_chain(chain, h->prev, line, body_len) != 0 || memcmp(chain, h->chain, 32) != 0)
    goto out;
  r = 0;
out:
  journal_record_cleanup(&rec);
  free(line);
  return r;
}

/* Hashes the TOTAL bytes of the mapped file MAP into DIGEST and, in the same
 * pass (each part checked while it is in the cache), checks the tables of A
 * against its N entries: each a power of two of at least 64 slots (or
 * none), at most 3/4 used, exactly USED slots taken, each naming an entry.
 * An entry's location needs no check here: the record read there must have
 * the entry's chain value (journal.c). 0, or -1 with *WHY. */
static int jif_digest_check(const uint8_t *map, uint64_t total, const struct jindex_arrays *a, uint8_t digest[32],
                            const char **why)
{
  int r = -1;
  const uint8_t *tables = (const uint8_t *)(a->entry + a->n);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  *why = "its digest cannot be computed";
  if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
      EVP_DigestUpdate(md, map, (size_t)(tables - map)) != 1)
    goto out;
  for (int t = 0; t < JINDEX_TABLES; t++) {
    size_t size = a->size[t], taken = 0;
    *why = "its tables are not a valid index (it was changed)";
    if (size == 0 ? a->used[t] != 0 : (size < 64 || (size & (size - 1)) != 0 || a->used[t] * 4 > size * 3))
      goto out;
    for (size_t i = 0; i < size; i += 4096) {
      size_t end = i + 4096 < size ? i + 4096 : size;
      for (size_t k = i; k < end; k++) {
        uint32_t s = a->slot[t][k];
        if (s > a->n)
          goto out;
        taken += s != 0;
      }
      *why = "its digest cannot be computed";
      if (EVP_DigestUpdate(md, a->slot[t] + i, (end - i) * 4) != 1)
        goto out;
    }
    *why = "its tables are not a valid index (it was changed)";
    if (taken != a->used[t])
      goto out;
  }
  *why = "its digest cannot be computed";
  if ((uint64_t)(tables - map) + (a->size[0] + a->size[1] + a->size[2] + a->size[3]) * 4 != total ||
      EVP_DigestFinal_ex(md, digest, NULL) != 1)
    goto out;
  r = 0;
out:
  EVP_MD_CTX_free(md);
  return r;
}

int jif_load(const char *path, int log_fd, uint64_t log_size, struct jindex *ix, struct jif_header *h,
             uint8_t digest[32], uint8_t *sig, size_t *sig_len, const char **why)
{
  int r = -1, fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC); /* a FIFO does not block it */
  uint8_t *map = MAP_FAILED;
  const uint8_t *hd;
  struct jindex_arrays a;
  struct stat st;
  uint64_t total = JIF_HEADER_LEN, size = 0;

  memset(&a, 0, sizeof a);
  memset(h, 0, sizeof *h);
  *why = "it cannot be read";
  if (fd < 0) {
    r = errno == ENOENT ? 1 : -1;
    goto out;
  }
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    goto out;
  size = (uint64_t)st.st_size;
  *why = "it is not a journal index of this format, or not written on a machine of this byte order";
  if (size < JIF_HEADER_LEN + 5)
    goto out;
  /* private and writable: the index in memory is changed copy-on-write, never the file */
  map = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  *why = "it cannot be mapped into memory";
  if (map == MAP_FAILED)
    goto out;
  hd = map;
  *why = "it is not a journal index of this format, or not written on a machine of this byte order";
  if (memcmp(hd, JIF_MAGIC, sizeof JIF_MAGIC) != 0 || jif_u32(hd + JIF_AT_VERSION) != JIF_VERSION ||
      jif_u32(hd + JIF_AT_ORDER) != JIF_ORDER)
    goto out;
  memcpy(h->genesis, hd + JIF_AT_GENESIS, 32);
  h->seq = jif_u64(hd + JIF_AT_SEQ);
  h->off = jif_u64(hd + JIF_AT_OFF);
  h->end = jif_u64(hd + JIF_AT_END);
  memcpy(h->prev, hd + JIF_AT_PREV, 32);
  memcpy(h->chain, hd + JIF_AT_CHAIN, 32);
  h->records = jif_u64(hd + JIF_AT_COUNTS);
  h->issued = jif_u64(hd + JIF_AT_COUNTS + 8);
  h->refused = jif_u64(hd + JIF_AT_COUNTS + 16);
  h->checkpoints = jif_u64(hd + JIF_AT_COUNTS + 24);
  h->handed_back = jif_u64(hd + JIF_AT_COUNTS + 32);
  a.n = jif_u64(hd + JIF_AT_N);
  *why = "its sizes do not add up (it was cut or changed)";
  if (h->seq == 0 || a.n != h->issued || h->records != h->seq || a.n > UINT32_MAX - 2 ||
      a.n > size / sizeof(struct jindex_entry))
    goto out;
  a.entry = (const struct jindex_entry *)(map + total);
  total += a.n * sizeof(struct jindex_entry);
  for (int t = 0; t < JINDEX_TABLES; t++) {
    a.size[t] = jif_u64(hd + JIF_AT_SIZE + 8 * t);
    a.used[t] = jif_u64(hd + JIF_AT_USED + 8 * t);
    if (a.size[t] > size / 4 || total + a.size[t] * 4 > size)
      goto out;
    a.slot[t] = a.size[t] > 0 ? (const uint32_t *)(map + total) : NULL;
    total += a.size[t] * 4;
  }
  if (total + 4 > size || jif_u32(map + total) == 0 || jif_u32(map + total) > JOURNAL_INDEX_SIG_MAX ||
      total + 4 + jif_u32(map + total) != size)
    goto out;
  *sig_len = jif_u32(map + total);
  memcpy(sig, map + total + 4, *sig_len);
  if (jif_check_log(log_fd, log_size, h, why) < 0)
    goto out;
  if (jif_digest_check(map, total, &a, digest, why) < 0)
    goto out;
  *why = "internal error";
  if (jindex_adopt(ix, &a, map, (size_t)size) != 0)
    goto out;
  map = MAP_FAILED; /* the index owns the mapping now */
  r = 0;
out:
  if (map != MAP_FAILED)
    munmap(map, (size_t)size);
  if (fd >= 0)
    close(fd);
  return r;
}

/* Writes LEN bytes of P to FD and adds them to MD. 0 or -1 (errno set). */
static int jif_put(int fd, EVP_MD_CTX *md, const void *p, size_t len)
{
  if (md != NULL && EVP_DigestUpdate(md, p, len) != 1) {
    errno = EINVAL;
    return -1;
  }
  return len == 0 ? 0 : st_write_all(fd, p, len);
}

int jif_write(const char *path, const struct jif_header *h, const struct jindex *ix,
              const struct journal_index_signer *signer, uint8_t digest[32], struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY, fd = -1;
  char *tmp = NULL, msg[JOURNAL_INDEX_MSG_MAX];
  uint8_t hd[JIF_HEADER_LEN], sig[JOURNAL_INDEX_SIG_MAX];
  uint32_t v;
  size_t sig_len = 0, msg_len;
  unsigned int md_len = 0;
  uint64_t counts[5] = {h->records, h->issued, h->refused, h->checkpoints, h->handed_back};
  struct jindex_arrays a;
  EVP_MD_CTX *md = EVP_MD_CTX_new();

  jindex_arrays(ix, &a);
  memset(hd, 0, sizeof hd);
  memcpy(hd, JIF_MAGIC, sizeof JIF_MAGIC);
  v = JIF_VERSION;
  memcpy(hd + JIF_AT_VERSION, &v, 4);
  v = JIF_ORDER;
  memcpy(hd + JIF_AT_ORDER, &v, 4);
  memcpy(hd + JIF_AT_GENESIS, h->genesis, 32);
  memcpy(hd + JIF_AT_SEQ, &h->seq, 8);
  memcpy(hd + JIF_AT_OFF, &h->off, 8);
  memcpy(hd + JIF_AT_END, &h->end, 8);
  memcpy(hd + JIF_AT_PREV, h->prev, 32);
  memcpy(hd + JIF_AT_CHAIN, h->chain, 32);
  memcpy(hd + JIF_AT_COUNTS, counts, sizeof counts);
  {
    uint64_t n = a.n + a.n2;
    memcpy(hd + JIF_AT_N, &n, 8);
  }
  for (int t = 0; t < JINDEX_TABLES; t++) {
    uint64_t size = a.size[t], used = a.used[t];
    memcpy(hd + JIF_AT_SIZE + 8 * t, &size, 8);
    memcpy(hd + JIF_AT_USED + 8 * t, &used, 8);
  }
  if (md == NULL || asprintf(&tmp, "%s.tmp", path) < 0) {
    tmp = NULL;
    goto out;
  }
  r = ST_E_JOURNAL;
  unlink(tmp); /* a leftover of an interrupted write, or whatever else has the name */
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0 || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 || jif_put(fd, md, hd, sizeof hd) < 0 ||
      jif_put(fd, md, a.entry, a.n * sizeof *a.entry) < 0 || jif_put(fd, md, a.entry2, a.n2 * sizeof *a.entry2) < 0)
    goto io;
  for (int t = 0; t < JINDEX_TABLES; t++)
    if (jif_put(fd, md, a.slot[t], a.size[t] * 4) < 0)
      goto io;
  if (EVP_DigestFinal_ex(md, digest, &md_len) != 1 || md_len != 32) {
    r = ST_E_CRYPTO;
    goto out;
  }
  msg_len = jif_message(msg, h->genesis, h->seq, h->chain, digest);
  sig_len = sizeof sig;
  if ((r = signer->sign(signer->arg, msg, msg_len, sig, &sig_len, detail)) < 0)
    goto out;
  r = ST_E_JOURNAL;
  v = (uint32_t)sig_len;
  if (jif_put(fd, NULL, &v, 4) < 0 || jif_put(fd, NULL, sig, sig_len) < 0 || st_sys.fsync(fd) < 0)
    goto io;
  if (close(fd) < 0) {
    fd = -1;
    goto io;
  }
  fd = -1;
  if (rename(tmp, path) < 0)
    goto io;
  r = 0;
  goto out;
io:
  st_detail_set(detail, "cannot write the journal index %s: %s", path, strerror(errno));
out:
  if (fd >= 0)
    close(fd);
  if (r < 0 && tmp != NULL)
    unlink(tmp);
  EVP_MD_CTX_free(md);
  free(tmp);
  return r;
}
