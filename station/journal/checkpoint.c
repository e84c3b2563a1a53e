/*
 * checkpoint.c - signed checkpoint records and the head text (checkpoint.h
 * has the formats; docs/journal-format.md the auditor's view).
 *
 * A checkpoint signs "station-journal checkpoint 1 <genesis> <N> <chain(N)>\n"
 * with the journal key: the genesis ties it to one journal, N and chain(N) to
 * one exact run of records 1..N. Changing, removing, inserting or reordering
 * any of those records, even with every chain value recomputed, changes
 * chain(N), and no one without the token can sign the new value.
 */
#include "checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "encoding.h"
#include "error.h"
#include "journal.h"

#define CHECKPOINT_SOURCE "station"

size_t checkpoint_message(char *out, const uint8_t genesis[32], uint64_t n, const uint8_t chain[32])
{
  char g[65], c[65];
  st_hex_encode(g, genesis, 32);
  st_hex_encode(c, chain, 32);
  return (size_t)snprintf(out, CHECKPOINT_TEXT_MAX, "station-journal checkpoint 1 %s %llu %s\n", g,
                          (unsigned long long)n, c);
}

int checkpoint_key_id(EVP_PKEY *pub, uint8_t id[32])
{
  int r = ST_E_CRYPTO;
  unsigned char *der = NULL;
  int len = i2d_PUBKEY(pub, &der);
  if (len > 0 && EVP_Digest(der, (size_t)len, id, NULL, EVP_sha256(), NULL))
    r = 0;
  OPENSSL_free(der);
  return r;
}

/* 1 when SIG (LEN bytes) is PUB's ECDSA-SHA256 signature over MSG. */
static int checkpoint_sig_ok(EVP_PKEY *pub, const char *msg, size_t msg_len, const uint8_t *sig,
                             size_t len)
{
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md != NULL && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
           EVP_DigestVerify(md, sig, len, (const unsigned char *)msg, msg_len) == 1;
  EVP_MD_CTX_free(md);
  ERR_clear_error();
  return ok;
}

size_t checkpoint_next_message(struct journal *j, char *out)
{
  uint8_t genesis[32], chain[32];
  uint64_t n = 0;
  journal_genesis(j, genesis);
  journal_last(j, &n, chain);
  return checkpoint_message(out, genesis, n, chain);
}

int checkpoint_sign(EVP_PKEY *signer, EVP_PKEY *pub, const char *msg, size_t msg_len, uint8_t *sig,
                    size_t *sig_len, struct st_detail *detail)
{
  int r = ST_E_CRYPTO;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  *sig_len = CHECKPOINT_SIG_MAX;
  if (md == NULL)
    goto out;
  r = ST_E_JOURNAL_KEY;
  if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, signer) != 1 ||
      EVP_DigestSign(md, sig, sig_len, (const unsigned char *)msg, msg_len) != 1) {
    st_detail_set(detail, "the token did not sign a checkpoint with the journal key");
    st_detail_add_openssl(detail);
    goto out;
  }
  if (!checkpoint_sig_ok(pub, msg, msg_len, sig, *sig_len)) {
    st_detail_set(detail, "the journal key's signature on a checkpoint does not verify with its public key");
    goto out;
  }
  r = 0;
out:
  EVP_MD_CTX_free(md);
  return r;
}

int checkpoint_append_signed(struct journal *j, EVP_PKEY *pub, const uint8_t *sig, size_t sig_len,
                             struct st_detail *detail)
{
  int r = ST_E_CRYPTO;
  struct journal_record rec;
  uint8_t chain[32];
  char covers[64];
  uint64_t n = 0;

  memset(&rec, 0, sizeof rec);
  journal_last(j, &n, chain);
  if (checkpoint_key_id(pub, rec.key_sha256) != 0)
    return r;
  snprintf(covers, sizeof covers, "covers records 1 to %llu", (unsigned long long)n);
  rec.event = JOURNAL_EVENT_CHECKPOINT;
  rec.source = CHECKPOINT_SOURCE;
  rec.has_key_sha256 = 1;
  rec.detail = covers;
  rec.cert_der = (uint8_t *)sig;
  rec.cert_len = sig_len;
  r = journal_append(j, &rec);
  if (r != 0)
    st_detail_set(detail, "cannot append checkpoint %llu to the journal", (unsigned long long)n + 1);
  return r;
}

int checkpoint_append(struct journal *j, EVP_PKEY *signer, EVP_PKEY *pub, struct st_detail *detail)
{
  char msg[CHECKPOINT_TEXT_MAX];
  uint8_t sig[CHECKPOINT_SIG_MAX];
  size_t sig_len = 0, msg_len = checkpoint_next_message(j, msg);
  int r = checkpoint_sign(signer, pub, msg, msg_len, sig, &sig_len, detail);
  if (r == 0)
    r = checkpoint_append_signed(j, pub, sig, sig_len, detail);
  return r;
}

int checkpoint_check(const struct journal_record *rec, const uint8_t genesis[32],
                     const uint8_t prev_chain[32], EVP_PKEY *pub, struct st_detail *detail)
{
  int r = ST_E_CRYPTO;
  uint8_t id[32];
  char msg[CHECKPOINT_TEXT_MAX], covers[64];
  size_t msg_len = checkpoint_message(msg, genesis, rec->seq - 1, prev_chain);
  unsigned long long seq = rec->seq, line = rec->seq + 1;

  snprintf(covers, sizeof covers, "covers records 1 to %llu", seq - 1);
  if (checkpoint_key_id(pub, id) != 0)
    return r;
  r = ST_E_CHECKPOINT;
  if (rec->source == NULL || strcmp(rec->source, CHECKPOINT_SOURCE) != 0 || rec->device != NULL ||
      rec->has_csr_sha256 || rec->serial_len != 0 || rec->reason != NULL || rec->detail == NULL ||
      strcmp(rec->detail, covers) != 0 || !rec->has_key_sha256 || rec->cert_len == 0) {
    st_detail_set(detail, "record %llu (line %llu) is a checkpoint whose fields are not those of "
                  "a checkpoint: the record was forged", seq, line);
    return r;
  }
  if (memcmp(rec->key_sha256, id, 32) != 0) {
    st_detail_set(detail, "record %llu (line %llu): the checkpoint names another signing key than "
                  "this journal key: it was signed elsewhere or forged", seq, line);
    return r;
  }
  if (!checkpoint_sig_ok(pub, msg, msg_len, rec->cert_der, rec->cert_len)) {
    st_detail_set(detail, "record %llu (line %llu): the checkpoint's signature does not verify with "
                  "the journal key: records 1 to %llu were rewritten (chain values recomputed) or "
                  "the checkpoint was forged", seq, line, seq - 1);
    return r;
  }
  return 0;
}

size_t checkpoint_head_format(char *out, const struct journal_head *head)
{
  char g[65], c[65];
  st_hex_encode(g, head->genesis, 32);
  st_hex_encode(c, head->chain, 32);
  return (size_t)snprintf(out, CHECKPOINT_TEXT_MAX, "station-journal-head 1 %s %llu %s\n", g,
                          (unsigned long long)head->seq, c);
}

bool checkpoint_head_parse(struct journal_head *head, const char *text, size_t len)
{
  static const char prefix[] = "station-journal-head 1 ";
  size_t plen = sizeof prefix - 1, i = plen + 65, start;
  char again[CHECKPOINT_TEXT_MAX];
  uint64_t seq = 0;
  bool ok = len > plen + 65 && len < CHECKPOINT_TEXT_MAX && memcmp(text, prefix, plen) == 0 &&
            st_hex_decode(head->genesis, text + plen, 64) && text[plen + 64] == ' ';
  start = i;
  while (ok && i < len && text[i] >= '0' && text[i] <= '9' && i - start < 20)
    seq = seq * 10 + (uint64_t)(text[i++] - '0');
  ok = ok && i > start && i + 66 == len && text[i] == ' ' && text[len - 1] == '\n' &&
       st_hex_decode(head->chain, text + i + 1, 64);
  head->seq = seq;
  /* exactly one spelling: what the formatter writes */
  ok = ok && checkpoint_head_format(again, head) == len && memcmp(again, text, len) == 0;
  return ok;
}
