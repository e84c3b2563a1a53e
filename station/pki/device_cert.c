/* device_cert.c - the device certificate written as DER (see device_cert.h). */
#include "device_cert.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "csr.h"
#include "error.h"

/* Clock-skew allowance: device certificates start this many seconds in the past. */
#define DEVICE_BACKDATE_SECONDS 300

/* Fixed encodings (tag, length, value) of the profile's constant parts. */
static const uint8_t der_version3[] = {0xa0, 0x03, 0x02, 0x01, 0x02};
static const uint8_t der_ecdsa_sha256[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
static const uint8_t der_p256_algorithm[] = {0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
                                             0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
/* keyUsage, critical, BIT STRING with bit 0 (digitalSignature) set. */
static const uint8_t der_ext_key_usage[] = {0x30, 0x0e, 0x06, 0x03, 0x55, 0x1d, 0x0f, 0x01, 0x01, 0xff,
                                            0x04, 0x04, 0x03, 0x02, 0x07, 0x80};
/* extendedKeyUsage, critical, SEQUENCE { id-kp-clientAuth }. */
static const uint8_t der_ext_client_auth[] = {0x30, 0x16, 0x06, 0x03, 0x55, 0x1d, 0x25, 0x01, 0x01, 0xff,
                                              0x04, 0x0c, 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05,
                                              0x05, 0x07, 0x03, 0x02};
static const uint8_t der_oid_ski[] = {0x06, 0x03, 0x55, 0x1d, 0x0e};
static const uint8_t der_oid_aki[] = {0x06, 0x03, 0x55, 0x1d, 0x23};

#define DER_SEQUENCE 0x30
#define DER_INTEGER 0x02
#define DER_BIT_STRING 0x03
#define DER_OCTET_STRING 0x04
#define DER_UTC_TIME 0x17
#define DER_GENERALIZED_TIME 0x18
#define DER_EXPLICIT_3 0xa3
#define DER_KEY_ID 0x80 /* [0] IMPLICIT KeyIdentifier in AuthorityKeyIdentifier */

struct device_issuer {
  uint8_t *subject;          /* the CA certificate's subject DER */
  size_t subject_len;
  uint8_t key_id[64];        /* its SKI octets */
  size_t key_id_len;
  time_t not_before, not_after;
  EVP_MD *sha256, *sha1;     /* fetched once: an implicit fetch per digest takes a lock */
};

/* ---- DER writing: sizes are known before anything is written ---- */

/* Octets of a header (tag and length) for CONTENT octets of content. */
static size_t der_header_size(size_t content)
{
  return content < 0x80 ? 2 : content <= 0xff ? 3 : content <= 0xffff ? 4 : 5;
}

static size_t der_size(size_t content)
{
  return der_header_size(content) + content;
}

static uint8_t *der_put_header(uint8_t *p, uint8_t tag, size_t content)
{
  *p++ = tag;
  if (content < 0x80) {
    *p++ = (uint8_t)content;
  } else if (content <= 0xff) {
    *p++ = 0x81;
    *p++ = (uint8_t)content;
  } else if (content <= 0xffff) {
    *p++ = 0x82;
    *p++ = (uint8_t)(content >> 8);
    *p++ = (uint8_t)content;
  } else {
    *p++ = 0x83;
    *p++ = (uint8_t)(content >> 16);
    *p++ = (uint8_t)(content >> 8);
    *p++ = (uint8_t)content;
  }
  return p;
}

static uint8_t *der_put(uint8_t *p, const void *bytes, size_t len)
{
  memcpy(p, bytes, len);
  return p + len;
}

/* A Time (RFC 5280 4.1.2.5): UTCTime YYMMDDHHMMSSZ for 1950..2049,
 * GeneralizedTime YYYYMMDDHHMMSSZ otherwise. 17 octets at most. */
static size_t der_time(uint8_t out[17], time_t t)
{
  struct tm tm;
  char text[32];
  int year;
  size_t len = 0;

  if (gmtime_r(&t, &tm) == NULL)
    return len;
  year = tm.tm_year + 1900;
  if (year < 1000 || year > 9999)
    return len;
  if (strftime(text, sizeof text, "%Y%m%d%H%M%SZ", &tm) != 15)
    return len;
  if (year >= 1950 && year <= 2049) /* UTCTime: the same without the century */
    der_put(der_put_header(out, DER_UTC_TIME, 13), text + 2, 13);
  else
    der_put(der_put_header(out, DER_GENERALIZED_TIME, 15), text, 15);
  len = year >= 1950 && year <= 2049 ? 13 : 15;
  len += 2;
  return len;
}

/* ---- the issuer ---- */

static int device_time_of(const ASN1_TIME *at, time_t *out)
{
  struct tm tm;
  int r = ST_E_CA_CERT;
  if (at == NULL || ASN1_TIME_to_tm(at, &tm) != 1)
    return r;
  *out = timegm(&tm);
  return ST_OK;
}

int device_issuer_new(X509 *ca_cert, struct device_issuer **out, struct st_detail *detail)
{
  int r = ST_E_NO_MEMORY;
  struct device_issuer *ca = calloc(1, sizeof *ca);
  const unsigned char *subject = NULL;
  size_t subject_len = 0;
  const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(ca_cert);

  if (ca == NULL)
    goto out;
  ca->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  ca->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
  if (ca->sha256 == NULL || ca->sha1 == NULL) {
    r = ST_E_CRYPTO;
    st_detail_set(detail, "OpenSSL offers no SHA-256 or SHA-1 digest");
    goto out;
  }
  r = ST_E_CA_CERT;
  if (ski == NULL || ASN1_STRING_length(ski) <= 0 || (size_t)ASN1_STRING_length(ski) > sizeof ca->key_id) {
    st_detail_set(detail, "the local CA certificate has no usable subjectKeyIdentifier (device certificates copy it)");
    goto out;
  }
  ca->key_id_len = (size_t)ASN1_STRING_length(ski);
  memcpy(ca->key_id, ASN1_STRING_get0_data(ski), ca->key_id_len);
  if (device_time_of(X509_get0_notBefore(ca_cert), &ca->not_before) != ST_OK ||
      device_time_of(X509_get0_notAfter(ca_cert), &ca->not_after) != ST_OK) {
    st_detail_set(detail, "the local CA certificate's validity cannot be read");
    goto out;
  }
  if (X509_NAME_get0_der(X509_get_subject_name(ca_cert), &subject, &subject_len) != 1 || subject_len == 0) {
    st_detail_set(detail, "the local CA certificate's subject cannot be encoded");
    goto out;
  }
  r = ST_E_NO_MEMORY;
  if ((ca->subject = malloc(subject_len)) == NULL)
    goto out;
  memcpy(ca->subject, subject, subject_len);
  ca->subject_len = subject_len;
  *out = ca;
  ca = NULL;
  r = ST_OK;
out:
  ERR_clear_error();
  device_issuer_free(ca);
  return r;
}

void device_issuer_free(struct device_issuer *ca)
{
  if (ca == NULL)
    return;
  free(ca->subject);
  EVP_MD_free(ca->sha256);
  EVP_MD_free(ca->sha1);
  free(ca);
}

/* ---- the certificate ---- */

/* notBefore/notAfter: [NOW - backdate, NOW + DAYS] inside the CA's validity. */
static int device_validity(const struct device_issuer *ca, time_t now, unsigned days, time_t *not_before,
                           time_t *not_after, struct st_detail *detail)
{
  int r = ST_E_CA_CERT;
  if (ca->not_after <= now) {
    st_detail_set(detail, "the issuing CA certificate expired; no certificate can be issued");
    return r;
  }
  if (ca->not_before > now) {
    st_detail_set(detail, "the issuing CA certificate is not valid yet; check the station's clock");
    return r;
  }
  *not_before = now - DEVICE_BACKDATE_SECONDS < ca->not_before ? ca->not_before : now - DEVICE_BACKDATE_SECONDS;
  *not_after = now + (time_t)days * 86400;
  if (*not_after > ca->not_after)
    *not_after = ca->not_after;
  return ST_OK;
}

int device_cert_tbs(const struct device_issuer *ca, const struct csr *req,
                    const uint8_t serial[CERT_SERIAL_BYTES], unsigned days, time_t now,
                    struct device_tbs *out, struct st_detail *detail)
{
  int r;
  time_t not_before, not_after;
  uint8_t before[17], after[17], ski[20];
  size_t before_len, after_len, subject_len, point_len;
  const uint8_t *subject = csr_subject_der(req, &subject_len);
  const uint8_t *point = csr_public_point(req, &point_len);
  size_t validity, key_bits, spki, ski_ext, aki_inner, aki_ext, exts, body;
  uint8_t *der = NULL, *p;

  r = device_validity(ca, now, days, &not_before, &not_after, detail);
  if (r != ST_OK)
    goto out;
  r = ST_E_KEY_TYPE;
  if (subject == NULL || point == NULL || point_len == 0) {
    st_detail_set(detail, "the CSR's subject or key cannot be copied into a certificate");
    goto out;
  }
  r = ST_E_CRYPTO;
  before_len = der_time(before, not_before);
  after_len = der_time(after, not_after);
  if (before_len == 0 || after_len == 0 || EVP_Digest(point, point_len, ski, NULL, ca->sha1, NULL) != 1)
    goto out;

  validity = before_len + after_len;
  key_bits = 1 + point_len;
  spki = sizeof der_p256_algorithm + der_size(key_bits);
  ski_ext = sizeof der_oid_ski + der_size(der_size(sizeof ski));
  aki_inner = der_size(ca->key_id_len);
  aki_ext = sizeof der_oid_aki + der_size(der_size(aki_inner));
  exts = sizeof der_ext_key_usage + sizeof der_ext_client_auth + der_size(ski_ext) + der_size(aki_ext);
  body = sizeof der_version3 + der_size(CERT_SERIAL_BYTES) + sizeof der_ecdsa_sha256 + ca->subject_len +
         der_size(validity) + subject_len + der_size(spki) + der_size(der_size(exts));

  r = ST_E_NO_MEMORY;
  if ((der = malloc(der_size(body))) == NULL)
    goto out;
  p = der_put_header(der, DER_SEQUENCE, body);
  p = der_put(p, der_version3, sizeof der_version3);
  p = der_put(der_put_header(p, DER_INTEGER, CERT_SERIAL_BYTES), serial, CERT_SERIAL_BYTES);
  p = der_put(p, der_ecdsa_sha256, sizeof der_ecdsa_sha256);
  p = der_put(p, ca->subject, ca->subject_len);
  p = der_put_header(p, DER_SEQUENCE, validity);
  p = der_put(der_put(p, before, before_len), after, after_len);
  p = der_put(p, subject, subject_len);
  p = der_put(der_put_header(p, DER_SEQUENCE, spki), der_p256_algorithm, sizeof der_p256_algorithm);
  p = der_put_header(p, DER_BIT_STRING, key_bits);
  *p++ = 0x00; /* no unused bits */
  p = der_put(p, point, point_len);
  p = der_put_header(der_put_header(p, DER_EXPLICIT_3, der_size(exts)), DER_SEQUENCE, exts);
  p = der_put(p, der_ext_key_usage, sizeof der_ext_key_usage);
  p = der_put(p, der_ext_client_auth, sizeof der_ext_client_auth);
  p = der_put(der_put_header(p, DER_SEQUENCE, ski_ext), der_oid_ski, sizeof der_oid_ski);
  p = der_put_header(der_put_header(p, DER_OCTET_STRING, der_size(sizeof ski)), DER_OCTET_STRING, sizeof ski);
  p = der_put(p, ski, sizeof ski);
  p = der_put(der_put_header(p, DER_SEQUENCE, aki_ext), der_oid_aki, sizeof der_oid_aki);
  p = der_put_header(der_put_header(p, DER_OCTET_STRING, der_size(aki_inner)), DER_SEQUENCE, aki_inner);
  p = der_put(der_put_header(p, DER_KEY_ID, ca->key_id_len), ca->key_id, ca->key_id_len);

  r = ST_E_CRYPTO;
  if ((size_t)(p - der) != der_size(body) || EVP_Digest(der, der_size(body), out->digest, NULL, ca->sha256, NULL) != 1)
    goto out;
  out->der = der;
  out->len = der_size(body);
  der = NULL;
  r = ST_OK;
out:
  if (r == ST_E_CRYPTO)
    st_detail_set(detail, "writing the certificate failed");
  free(der);
  return r;
}

int device_cert_sign(EVP_PKEY *signer, const uint8_t digest[32], uint8_t sig[DEVICE_SIG_MAX],
                     size_t *sig_len, struct st_detail *detail)
{
  int r = ST_E_HSM;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(signer, NULL);
  *sig_len = DEVICE_SIG_MAX;
  if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 || EVP_PKEY_sign(ctx, sig, sig_len, digest, 32) != 1) {
    st_detail_set(detail, "signing the certificate failed");
    st_detail_add_openssl(detail);
    goto out;
  }
  r = ST_OK;
out:
  EVP_PKEY_CTX_free(ctx);
  ERR_clear_error();
  return r;
}

int device_cert_signature_ok(EVP_PKEY *ca_public, const uint8_t digest[32], const uint8_t *sig,
                             size_t sig_len)
{
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(ca_public, NULL);
  int ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_verify(ctx, sig, sig_len, digest, 32) == 1;
  EVP_PKEY_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

int device_cert_assemble(const struct device_tbs *tbs, const uint8_t *sig, size_t sig_len,
                         uint8_t **der, size_t *der_len)
{
  int r = ST_E_NO_MEMORY;
  size_t body = tbs->len + sizeof der_ecdsa_sha256 + der_size(1 + sig_len);
  uint8_t *cert = malloc(der_size(body)), *p;
  if (cert == NULL)
    return r;
  p = der_put(der_put_header(cert, DER_SEQUENCE, body), tbs->der, tbs->len);
  p = der_put(p, der_ecdsa_sha256, sizeof der_ecdsa_sha256);
  p = der_put_header(p, DER_BIT_STRING, 1 + sig_len);
  *p++ = 0x00;
  der_put(p, sig, sig_len);
  *der = cert;
  *der_len = der_size(body);
  return ST_OK;
}
