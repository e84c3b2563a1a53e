/*
 * journal_format.c - one journal line to and from a struct journal_record.
 *
 * The journal is a text file of lines, each ended by '\n' (journal.h and
 * docs/journal-format.md have the whole description). The first line is the
 * header "station-journal 1 <genesis>", the genesis being 64 lower-case hex
 * digits drawn at random when the journal was made. Every later line is one
 * record of exactly twelve fields, separated by single spaces:
 *
 *   seq time event source device csr-sha256 key-sha256 serial reason detail
 *   certificate chain
 *
 * seq is decimal without leading zeros (1, 2, ...); time is UTC
 * YYYY-MM-DDTHH:MM:SS.mmmZ; event is "issued", "refused", "checkpoint" (a
 * signed checkpoint: see checkpoint.h), "journal-init" or "handed-back";
 * source, device and
 * detail are percent-encoded (bytes outside 0x21-0x7e and '%' as %XX, a lone
 * "-" as %2D); the two hashes and chain are 64 lower-case hex digits; serial
 * is lower-case hex of even length (at most 20 bytes); reason is an error name
 * ([a-z0-9-]); certificate is base64 DER. A field with no value is "-".
 *
 * chain = SHA-256(previous chain || the line's bytes before " <chain>"), the
 * previous chain of record 1 being SHA-256(header line without '\n'). So a
 * record changed, removed, inserted or moved breaks the chain from there on.
 *
 * Every field has exactly one spelling (the decoders in encoding.c are
 * strict), so a line read back and written again is the same bytes. The
 * parser reads hostile input: it works on (pointer, length), never past LEN,
 * and refuses lines over JOURNAL_LINE_MAX.
 */
#include "journal_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "encoding.h"
#include "error.h"

#define JF_FIELDS 12

void jf_header_format(char *out, const uint8_t genesis[32])
{
  memcpy(out, JOURNAL_HEADER_PREFIX, sizeof JOURNAL_HEADER_PREFIX - 1);
  st_hex_encode(out + sizeof JOURNAL_HEADER_PREFIX - 1, genesis, 32);
  out[JOURNAL_HEADER_LEN] = '\n';
  out[JOURNAL_HEADER_LEN + 1] = '\0';
}

bool jf_header_check(const char *line, size_t len, const char **why)
{
  static const char magic[] = "station-journal ";
  size_t plen = sizeof JOURNAL_HEADER_PREFIX - 1;
  uint8_t genesis[32];
  bool ok = false;
  if (len < sizeof magic - 1 || memcmp(line, magic, sizeof magic - 1) != 0)
    *why = "it does not begin with \"station-journal \": this is not a station journal";
  else if (len < plen || memcmp(line, JOURNAL_HEADER_PREFIX, plen) != 0)
    *why = "it names a format version other than 1, which this station does not read";
  else if (len != JOURNAL_HEADER_LEN || !st_hex_decode(genesis, line + plen, len - plen))
    *why = "its genesis value is not 64 lower-case hex digits";
  else
    ok = true;
  return ok;
}

bool jf_header_torn(const char *p, size_t len)
{
  size_t plen = sizeof JOURNAL_HEADER_PREFIX - 1;
  size_t n = 0;
  while (n < len && p[n] != '\0')
    n++;
  bool ok = n <= JOURNAL_HEADER_LEN;
  for (size_t i = 0; ok && i < n; i++) {
    if (i < plen)
      ok = p[i] == JOURNAL_HEADER_PREFIX[i];
    else
      ok = (p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f');
  }
  for (size_t i = n; ok && i < len; i++)
    ok = p[i] == '\0';
  return ok;
}

int jf_chain(uint8_t chain_out[32], const uint8_t prev[32], const void *body, size_t len)
{
  int r = ST_E_CRYPTO;
  unsigned int n = 0;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
      !EVP_DigestUpdate(ctx, prev, 32) || !EVP_DigestUpdate(ctx, body, len) ||
      !EVP_DigestFinal_ex(ctx, chain_out, &n) || n != 32)
    goto out;
  r = 0;
out:
  EVP_MD_CTX_free(ctx);
  return r;
}

/* Appends " " and VALUE percent-encoded. B has room (see jf_line_len). */
static void jf_put_pct(struct xbuf *b, const char *value)
{
  b->data[b->len++] = ' ';
  st_pct_encode(b->data + b->len, value);
  b->len += strlen(b->data + b->len);
}

/* Appends " " and LEN bytes as hex, or " -" when HAS is 0. */
static void jf_put_hex(struct xbuf *b, const uint8_t *bytes, size_t len, int has)
{
  b->data[b->len++] = ' ';
  if (has) {
    st_hex_encode(b->data + b->len, bytes, len);
    b->len += 2 * len;
  } else {
    b->data[b->len++] = '-';
  }
}

/* True when REASON is NULL/"" or a plain error name: [a-z0-9-]+, not "-". */
static bool jf_reason_ok(const char *reason, size_t len)
{
  bool ok = len != 1 || reason[0] != '-';
  for (size_t i = 0; ok && i < len; i++)
    ok = (reason[i] >= 'a' && reason[i] <= 'z') || (reason[i] >= '0' && reason[i] <= '9') ||
         reason[i] == '-';
  return ok;
}

/* An upper bound of REC's line length with its '\n'; SIZE_MAX when absurd. */
static size_t jf_line_len(const struct journal_record *rec)
{
  size_t n = 20 + ST_TIME_LEN + 10 + 64 + 64 + 40 + 64 + JF_FIELDS + 1;
  size_t parts[5] = {st_pct_len(rec->source), st_pct_len(rec->device), st_pct_len(rec->detail),
                     rec->reason != NULL ? strlen(rec->reason) + 1 : 1,
                     st_base64_len(rec->cert_len)};
  for (int i = 0; i < 5; i++)
    n = (parts[i] > JOURNAL_LINE_MAX || n > JOURNAL_LINE_MAX) ? SIZE_MAX : n + parts[i];
  return n;
}

const char *journal_event_name(enum journal_event event)
{
  switch (event) {
  case JOURNAL_EVENT_ISSUED: return "issued";
  case JOURNAL_EVENT_REFUSED: return "refused";
  case JOURNAL_EVENT_CHECKPOINT: return "checkpoint";
  case JOURNAL_EVENT_INIT: return "journal-init";
  case JOURNAL_EVENT_HANDED_BACK: return "handed-back";
  }
  return "unknown";
}

int jf_format(struct xbuf *out, struct journal_record *rec, const uint8_t prev[32])
{
  int r = ST_E_INTERNAL;
  size_t start = out->len, cap = jf_line_len(rec);
  size_t reason_len = rec->reason != NULL ? strlen(rec->reason) : 0;
  char time[ST_TIME_LEN + 1];
  const char *event = journal_event_name(rec->event);
  if (strcmp(event, "unknown") == 0 || rec->seq == 0 || !st_time_format(time, rec->time_ms) ||
      rec->serial_len > sizeof rec->serial || !jf_reason_ok(rec->reason, reason_len) ||
      (rec->cert_len > 0 && rec->cert_der == NULL) || cap == SIZE_MAX)
    goto out;
  r = xb_reserve(out, cap);
  if (r < 0)
    goto out;
  out->len += (size_t)snprintf(out->data + out->len, out->cap - out->len, "%llu %s %s",
                               (unsigned long long)rec->seq, time, event);
  jf_put_pct(out, rec->source);
  jf_put_pct(out, rec->device);
  jf_put_hex(out, rec->csr_sha256, 32, rec->has_csr_sha256);
  jf_put_hex(out, rec->key_sha256, 32, rec->has_key_sha256);
  jf_put_hex(out, rec->serial, rec->serial_len, rec->serial_len > 0);
  out->data[out->len++] = ' ';
  if (reason_len > 0)
    memcpy(out->data + out->len, rec->reason, reason_len);
  else
    out->data[out->len] = '-';
  out->len += reason_len > 0 ? reason_len : 1;
  jf_put_pct(out, rec->detail);
  out->data[out->len++] = ' ';
  if (rec->cert_len > 0) {
    st_base64_encode(out->data + out->len, rec->cert_der, rec->cert_len);
    out->len += st_base64_len(rec->cert_len);
  } else {
    out->data[out->len++] = '-';
  }
  r = jf_chain(rec->chain, prev, out->data + start, out->len - start);
  if (r < 0)
    goto out;
  jf_put_hex(out, rec->chain, 32, 1);
  out->data[out->len++] = '\n';
  r = out->len - start <= JOURNAL_LINE_MAX ? 0 : ST_E_INTERNAL;
out:
  if (r < 0 && out->data != NULL)
    out->len = start;
  return r;
}

/* The fields of a line: start and length of each. */
struct jf_fields {
  const char *p[JF_FIELDS];
  size_t n[JF_FIELDS];
};

/* Splits LINE at single spaces into exactly JF_FIELDS non-empty fields of
 * printable ASCII (0x21-0x7e). False, with *WHY, otherwise. */
static bool jf_split(const char *line, size_t len, struct jf_fields *f, const char **why)
{
  bool ok = true;
  size_t k = 0, start = 0;
  for (size_t i = 0; ok && i <= len; i++) {
    unsigned char c = i < len ? (unsigned char)line[i] : ' ';
    if (c == ' ') {
      if (i == start || k == JF_FIELDS) {
        ok = false;
        *why = i == start ? "it has an empty field (two spaces, or a space at an end)"
                          : "it has more than 12 fields";
      } else {
        f->p[k] = line + start;
        f->n[k++] = i - start;
        start = i + 1;
      }
    } else if (c < 0x21 || c > 0x7e) {
      ok = false;
      *why = "it holds a byte that is not printable ASCII";
    }
  }
  if (ok && k != JF_FIELDS) {
    ok = false;
    *why = "it has fewer than 12 fields";
  }
  return ok;
}

/* Parses a seq: 1 to 20 digits, no leading zero, at most UINT64_MAX. */
static bool jf_parse_seq(const char *p, size_t n, uint64_t *seq)
{
  bool ok = n >= 1 && n <= 20 && p[0] != '0';
  uint64_t v = 0;
  for (size_t i = 0; ok && i < n; i++) {
    unsigned d = (unsigned)(p[i] - '0');
    if (p[i] < '0' || p[i] > '9' || v > (UINT64_MAX - d) / 10)
      ok = false;
    else
      v = v * 10 + d;
  }
  *seq = v;
  return ok;
}

/* Parses a hash field: "-" (*HAS = 0) or 64 hex digits into OUT. */
static bool jf_parse_hash(const char *p, size_t n, uint8_t out[32], int *has)
{
  *has = !(n == 1 && p[0] == '-');
  return !*has || (n == 64 && st_hex_decode(out, p, n));
}

/* Decodes a percent-encoded field into a malloc'd string, NULL for "-".
 * Returns 0, ST_E_NO_MEMORY, or ST_E_JOURNAL_CORRUPT. */
static int jf_parse_pct(const char *p, size_t n, char **out)
{
  int r = ST_E_NO_MEMORY;
  char *s = malloc(n + 1);
  if (s == NULL)
    goto out;
  r = ST_E_JOURNAL_CORRUPT;
  if (!st_pct_decode(s, p, n))
    goto out;
  if (s[0] != '\0') {
    *out = s;
    s = NULL;
  }
  r = 0;
out:
  free(s);
  return r;
}

/* Parses the reason field: "-" (none) or [a-z0-9-]+ into a malloc'd string. */
static int jf_parse_reason(const char *p, size_t n, char **out)
{
  if (n == 1 && p[0] == '-')
    return 0;
  if (!jf_reason_ok(p, n))
    return ST_E_JOURNAL_CORRUPT;
  *out = strndup(p, n);
  if (*out == NULL)
    return ST_E_NO_MEMORY;
  return 0;
}

/* Parses the certificate field: "-" or canonical base64 of at least one byte. */
static int jf_parse_cert(const char *p, size_t n, struct journal_record *rec)
{
  if (n == 1 && p[0] == '-')
    return 0;
  rec->cert_der = malloc(n / 4 * 3 + 1);
  if (rec->cert_der == NULL)
    return ST_E_NO_MEMORY;
  if (!st_base64_decode(rec->cert_der, &rec->cert_len, p, n) || rec->cert_len == 0)
    return ST_E_JOURNAL_CORRUPT;
  return 0;
}

int jf_parse(const char *line, size_t len, struct journal_record *rec, size_t *body_len,
             const char **why)
{
  int r = ST_E_JOURNAL_CORRUPT;
  struct jf_fields f;
  int has_serial = 0, has_chain = 0;
  memset(rec, 0, sizeof *rec);
  *why = "it is longer than 65536 bytes";
  if (len >= JOURNAL_LINE_MAX || !jf_split(line, len, &f, why))
    goto out;
  *why = "its seq is not a decimal number from 1 without leading zeros";
  if (!jf_parse_seq(f.p[0], f.n[0], &rec->seq))
    goto out;
  *why = "its time is not a UTC time YYYY-MM-DDTHH:MM:SS.mmmZ";
  if (!st_time_parse(&rec->time_ms, f.p[1], f.n[1]))
    goto out;
  *why = "its event is not \"issued\", \"refused\", \"checkpoint\", \"journal-init\" or \"handed-back\"";
  if (f.n[2] == 6 && memcmp(f.p[2], "issued", 6) == 0)
    rec->event = JOURNAL_EVENT_ISSUED;
  else if (f.n[2] == 7 && memcmp(f.p[2], "refused", 7) == 0)
    rec->event = JOURNAL_EVENT_REFUSED;
  else if (f.n[2] == 10 && memcmp(f.p[2], "checkpoint", 10) == 0)
    rec->event = JOURNAL_EVENT_CHECKPOINT;
  else if (f.n[2] == 12 && memcmp(f.p[2], "journal-init", 12) == 0)
    rec->event = JOURNAL_EVENT_INIT;
  else if (f.n[2] == 11 && memcmp(f.p[2], "handed-back", 11) == 0)
    rec->event = JOURNAL_EVENT_HANDED_BACK;
  else
    goto out;
  *why = "its source is not percent-encoded text";
  if ((r = jf_parse_pct(f.p[3], f.n[3], &rec->source)) < 0)
    goto out;
  *why = "its device is not percent-encoded text";
  if ((r = jf_parse_pct(f.p[4], f.n[4], &rec->device)) < 0)
    goto out;
  r = ST_E_JOURNAL_CORRUPT;
  *why = "its CSR hash is not 64 lower-case hex digits";
  if (!jf_parse_hash(f.p[5], f.n[5], rec->csr_sha256, &rec->has_csr_sha256))
    goto out;
  *why = "its key hash is not 64 lower-case hex digits";
  if (!jf_parse_hash(f.p[6], f.n[6], rec->key_sha256, &rec->has_key_sha256))
    goto out;
  *why = "its serial is not lower-case hex of 1 to 20 bytes";
  has_serial = !(f.n[7] == 1 && f.p[7][0] == '-');
  if (has_serial && (f.n[7] % 2 != 0 || f.n[7] > 40 ||
                     !st_hex_decode(rec->serial, f.p[7], f.n[7])))
    goto out;
  rec->serial_len = has_serial ? f.n[7] / 2 : 0;
  *why = "its reason is not an error name";
  if ((r = jf_parse_reason(f.p[8], f.n[8], &rec->reason)) < 0)
    goto out;
  *why = "its detail is not percent-encoded text";
  if ((r = jf_parse_pct(f.p[9], f.n[9], &rec->detail)) < 0)
    goto out;
  *why = "its certificate is not base64";
  if ((r = jf_parse_cert(f.p[10], f.n[10], rec)) < 0)
    goto out;
  r = ST_E_JOURNAL_CORRUPT;
  *why = "its chain is not 64 lower-case hex digits";
  if (!jf_parse_hash(f.p[11], f.n[11], rec->chain, &has_chain) || !has_chain)
    goto out;
  *body_len = (size_t)(f.p[11] - line) - 1;
  *why = NULL;
  r = 0;
out:
  if (r == ST_E_NO_MEMORY)
    *why = "out of memory";
  return r;
}
