/*
 * csr.c - parsing one CSR from untrusted bytes (see csr.h).
 *
 * PEM detection: the input is PEM when it holds the text "-----BEGIN ".
 * Every PEM block in it is read; exactly one must be a certificate request and
 * none may be anything else (a private key that reached a stick by mistake is
 * named in the refusal). DER input must be one structure with no trailing
 * bytes; a second DER CSR after the first counts as "more than one CSR".
 */
#include "csr.h"

#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "error.h"

struct csr {
  X509_REQ *request;
  uint8_t *der;
  size_t der_len;
};

static int csr_is_pem(const uint8_t *data, size_t len)
{
  static const char marker[] = "-----BEGIN ";
  return memmem(data, len, marker, sizeof marker - 1) != NULL;
}

static int csr_pem_name_is_request(const char *name)
{
  return strcmp(name, "CERTIFICATE REQUEST") == 0 || strcmp(name, "NEW CERTIFICATE REQUEST") == 0;
}

/* Reads every PEM block of DATA; keeps the DER of the one CSR block in
 * *DER_OUT (OPENSSL_malloc'd). */
static int csr_pem_extract(const uint8_t *data, size_t len, uint8_t **der_out, size_t *der_len,
                           struct st_detail *detail)
{
  int r = ST_E_NOT_A_CSR;
  BIO *in = BIO_new_mem_buf(data, (int)len);
  char *name = NULL, *header = NULL;
  unsigned char *block = NULL;
  long block_len = 0;
  int requests = 0;

  if (in == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  while (PEM_read_bio(in, &name, &header, &block, &block_len) == 1) {
    if (!csr_pem_name_is_request(name)) {
      st_detail_set(detail, "the file holds a PEM block of type %.64s, not a CERTIFICATE REQUEST", name);
      r = ST_E_NOT_A_CSR;
      goto out;
    }
    if (header != NULL && header[0] != '\0') {
      st_detail_set(detail, "the CSR's PEM block carries headers (an encrypted or unusual PEM)");
      r = ST_E_NOT_A_CSR;
      goto out;
    }
    requests++;
    if (requests > 1) {
      st_detail_set(detail, "the file holds more than one CERTIFICATE REQUEST block");
      r = ST_E_MULTIPLE_CSRS;
      goto out;
    }
    *der_out = block;
    *der_len = (size_t)block_len;
    block = NULL;
    OPENSSL_free(name);
    OPENSSL_free(header);
    name = header = NULL;
  }
  ERR_clear_error();
  if (requests == 0) {
    st_detail_set(detail, "no complete, well-formed CERTIFICATE REQUEST PEM block was found");
    r = ST_E_NOT_A_CSR;
    goto out;
  }
  r = ST_OK;
out:
  if (r != ST_OK && *der_out != NULL) {
    OPENSSL_free(*der_out);
    *der_out = NULL;
  }
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(block);
  BIO_free(in);
  ERR_clear_error();
  return r;
}

/* Decodes exactly one X509_REQ from DER; refuses trailing bytes. */
static int csr_decode_der(const uint8_t *der, size_t len, X509_REQ **out, struct st_detail *detail)
{
  int r = ST_E_NOT_A_CSR;
  const unsigned char *p = der;
  X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
  size_t used = (size_t)(p - der);

  if (req == NULL) {
    st_detail_set(detail, "the bytes are not a DER-encoded PKCS#10 request");
    st_detail_add_openssl(detail);
    goto out;
  }
  if (used != len) {
    const unsigned char *q = p;
    X509_REQ *second = d2i_X509_REQ(NULL, &q, (long)(len - used));
    if (second != NULL) {
      st_detail_set(detail, "the DER file holds more than one certificate request");
      r = ST_E_MULTIPLE_CSRS;
    } else {
      st_detail_set(detail, "%zu unexpected bytes follow the DER request", len - used);
    }
    X509_REQ_free(second);
    goto out;
  }
  if (X509_REQ_get_version(req) != X509_REQ_VERSION_1) {
    st_detail_set(detail, "the request has version %ld; only PKCS#10 version 1 (0) exists",
                  X509_REQ_get_version(req));
    goto out;
  }
  *out = req;
  req = NULL;
  r = ST_OK;
out:
  X509_REQ_free(req);
  ERR_clear_error();
  return r;
}

int csr_parse(const uint8_t *data, size_t len, struct csr **out, struct st_detail *detail)
{
  int r = ST_E_NOT_A_CSR;
  struct csr *c = NULL;
  uint8_t *der = NULL;
  size_t der_len = 0;

  if (len > CSR_MAX_BYTES) {
    st_detail_set(detail, "the input is %zu bytes; a CSR is at most %d", len, CSR_MAX_BYTES);
    r = ST_E_TOO_LARGE;
    goto out;
  }
  if (len == 0) {
    st_detail_set(detail, "the input is empty");
    goto out;
  }
  c = OPENSSL_zalloc(sizeof *c);
  if (c == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  if (csr_is_pem(data, len)) {
    r = csr_pem_extract(data, len, &der, &der_len, detail);
    if (r != ST_OK)
      goto out;
  } else {
    der = OPENSSL_memdup(data, len);
    der_len = len;
    if (der == NULL) {
      r = ST_E_NO_MEMORY;
      goto out;
    }
  }
  r = csr_decode_der(der, der_len, &c->request, detail);
  if (r != ST_OK)
    goto out;
  c->der = der;
  c->der_len = der_len;
  der = NULL;
  *out = c;
  c = NULL;
  r = ST_OK;
out:
  OPENSSL_free(der);
  csr_free(c);
  return r;
}

X509_REQ *csr_request(const struct csr *c)
{
  return c->request;
}

const uint8_t *csr_der(const struct csr *c, size_t *len)
{
  *len = c->der_len;
  return c->der;
}

void csr_sha256(const struct csr *c, uint8_t out[32])
{
  EVP_Digest(c->der, c->der_len, out, NULL, EVP_sha256(), NULL);
}

int csr_key_sha256(const struct csr *c, uint8_t out[32])
{
  int r = ST_E_NOT_A_CSR;
  unsigned char *spki = NULL;
  X509_PUBKEY *pub = X509_REQ_get_X509_PUBKEY(c->request);
  int n = pub != NULL ? i2d_X509_PUBKEY(pub, &spki) : -1;

  if (n <= 0)
    goto out;
  if (EVP_Digest(spki, (size_t)n, out, NULL, EVP_sha256(), NULL) != 1) {
    r = ST_E_CRYPTO;
    goto out;
  }
  r = ST_OK;
out:
  OPENSSL_free(spki);
  ERR_clear_error();
  return r;
}

void csr_free(struct csr *c)
{
  if (c == NULL)
    return;
  X509_REQ_free(c->request);
  OPENSSL_free(c->der);
  OPENSSL_free(c);
}
