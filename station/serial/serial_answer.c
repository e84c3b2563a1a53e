/* serial_answer.c - the bytes the station sends a board (see serial_answer.h). */
#include "serial_answer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "error.h"

/* Moves the contents of BIO into a new NUL-terminated string. */
static int answer_take_bio(BIO *bio, char **out, size_t *out_len)
{
  int r = ST_E_NO_MEMORY;
  char *data = NULL;
  long len = BIO_get_mem_data(bio, &data);
  char *copy = len >= 0 ? malloc((size_t)len + 1) : NULL;
  if (copy == NULL)
    return r;
  memcpy(copy, data, (size_t)len);
  copy[len] = '\0';
  *out = copy;
  if (out_len != NULL)
    *out_len = (size_t)len;
  return ST_OK;
}

int serial_answer_chain(X509 *ca, X509 *root, char **out)
{
  int r = ST_E_CRYPTO;
  BIO *bio = BIO_new(BIO_s_mem());
  if (bio == NULL || PEM_write_bio_X509(bio, ca) != 1 || PEM_write_bio_X509(bio, root) != 1)
    goto out;
  r = answer_take_bio(bio, out, NULL);
out:
  ERR_clear_error();
  BIO_free(bio);
  return r;
}

/* Writes the header lines of META into BIO (the gateway only when ISSUED).
 * Returns 1, or 0 when BIO fails. */
static int answer_put_meta(BIO *bio, const struct serial_answer_meta *meta, int issued)
{
  struct tm tm;
  char when[32];
  int ok = 1;
  if (meta == NULL)
    return 1;
  if (meta->request_sha256_hex != NULL)
    ok = BIO_printf(bio, "Request-SHA256: %s\n", meta->request_sha256_hex) > 0;
  if (ok && meta->time != (time_t)-1 && gmtime_r(&meta->time, &tm) != NULL &&
      strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
    ok = BIO_printf(bio, "Time: %lld %s\n", (long long)meta->time, when) > 0;
  if (ok && issued && meta->gateway_url != NULL)
    ok = BIO_printf(bio, "Gateway: %s\n", meta->gateway_url) > 0;
  return ok;
}

int serial_answer_issued(const uint8_t *cert_der, size_t cert_len, const char *chain_pem, const char *serial_hex,
                         const struct serial_answer_meta *meta, char **out, size_t *out_len)
{
  int r = ST_E_CRYPTO;
  BIO *bio = BIO_new(BIO_s_mem());
  /* PEM straight from the DER the engine made or checked: decoding it again would cost more than signing it */
  if (bio == NULL || cert_len == 0 || cert_len > LONG_MAX ||
      PEM_write_bio(bio, PEM_STRING_X509, "", cert_der, (long)cert_len) <= 0 || BIO_puts(bio, chain_pem) < 0 ||
      !answer_put_meta(bio, meta, 1) || BIO_printf(bio, "STATION OK %s\n", serial_hex) <= 0)
    goto out;
  r = answer_take_bio(bio, out, out_len);
out:
  ERR_clear_error();
  BIO_free(bio);
  return r;
}

int serial_answer_refused(int code, const char *detail, const struct serial_answer_meta *meta, char **out,
                          size_t *out_len)
{
  int r = ST_E_NO_MEMORY;
  const char *sentence = detail != NULL && detail[0] != '\0' ? detail : st_error_sentence(code);
  char line[SERIAL_ANSWER_SENTENCE_MAX + 1];
  size_t n = 0;
  BIO *bio = BIO_new(BIO_s_mem());

  for (const unsigned char *s = (const unsigned char *)sentence; *s != '\0' && n < SERIAL_ANSWER_SENTENCE_MAX; s++)
    line[n++] = *s < 0x20 || *s == 0x7f ? ' ' : *s > 0x7f ? '?' : (char)*s;
  line[n] = '\0';
  if (bio == NULL || !answer_put_meta(bio, meta, 0) ||
      BIO_printf(bio, "STATION ERR %s %s\n", st_error_name(code), line) <= 0)
    goto out;
  r = answer_take_bio(bio, out, out_len);
out:
  ERR_clear_error();
  BIO_free(bio);
  return r;
}
