/* certificate.c - the device and local-CA certificate profiles (see certificate.h). */
#include "certificate.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "csr.h"
#include "device_cert.h"
#include "error.h"

int cert_random_serial(uint8_t serial[CERT_SERIAL_BYTES])
{
  int r = ST_E_CRYPTO;
  if (RAND_bytes(serial, CERT_SERIAL_BYTES) != 1)
    return r;
  serial[0] &= 0x7f;
  if (serial[0] == 0)
    serial[0] = 0x01;
  return ST_OK;
}

static int cert_set_serial(X509 *x, const uint8_t *serial, size_t len)
{
  int r = ST_E_CRYPTO;
  BIGNUM *bn = BN_bin2bn(serial, (int)len, NULL);
  ASN1_INTEGER *ai = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
  if (ai != NULL && X509_set_serialNumber(x, ai) == 1)
    r = ST_OK;
  ASN1_INTEGER_free(ai);
  BN_free(bn);
  return r;
}

/* Adds the extension NID from its textual form (e.g. "critical,clientAuth"). */
static int cert_add_text_ext(X509 *x, int nid, const char *value)
{
  int r = ST_E_CRYPTO;
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, NULL, nid, value);
  if (ext != NULL && X509_add_ext(x, ext, -1) == 1)
    r = ST_OK;
  X509_EXTENSION_free(ext);
  return r;
}

/* subjectKeyIdentifier: SHA-1 over the subjectPublicKey bits (RFC 5280 method 1). */
static int cert_add_ski(X509 *x)
{
  int r = ST_E_CRYPTO;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
  if (ski == NULL || X509_pubkey_digest(x, EVP_sha1(), md, &md_len) != 1 ||
      ASN1_OCTET_STRING_set(ski, md, (int)md_len) != 1 ||
      X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT) != 1)
    goto out;
  r = ST_OK;
out:
  ASN1_OCTET_STRING_free(ski);
  return r;
}

/* authorityKeyIdentifier holding exactly the octets KEYID (the issuer's SKI). */
static int cert_add_aki(X509 *x, const ASN1_OCTET_STRING *keyid)
{
  int r = ST_E_CRYPTO;
  AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
  if (akid == NULL || (akid->keyid = ASN1_OCTET_STRING_dup(keyid)) == NULL ||
      X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) != 1)
    goto out;
  r = ST_OK;
out:
  AUTHORITY_KEYID_free(akid);
  return r;
}

/* Sets notBefore/notAfter: [NOW, NOW + DAYS], inside the issuer's validity. */
static int cert_set_validity(X509 *x, X509 *issuer, time_t now, unsigned days,
                             struct st_detail *detail)
{
  int r = ST_E_CA_CERT;
  time_t not_after = now + (time_t)days * 86400;
  const ASN1_TIME *issuer_before = X509_get0_notBefore(issuer);
  const ASN1_TIME *issuer_after = X509_get0_notAfter(issuer);

  if (X509_cmp_time(issuer_after, &now) <= 0) {
    st_detail_set(detail, "the issuing CA certificate expired; no certificate can be issued");
    return r;
  }
  if (X509_cmp_time(issuer_before, &now) > 0) {
    st_detail_set(detail, "the issuing CA certificate is not valid yet; check the station's clock");
    return r;
  }
  r = ST_E_CRYPTO;
  if (X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &now) == NULL)
    return r;
  if (ASN1_TIME_compare(X509_get0_notBefore(x), issuer_before) < 0 &&
      X509_set1_notBefore(x, issuer_before) != 1)
    return r;
  if (X509_cmp_time(issuer_after, &not_after) < 0) {
    if (X509_set1_notAfter(x, issuer_after) != 1)
      return r;
  } else if (X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &not_after) == NULL) {
    return r;
  }
  return ST_OK;
}

/* Signs X with SIGNER (ecdsa-with-SHA256) and checks the result with VERIFY_KEY. */
static int cert_sign_and_check(X509 *x, EVP_PKEY *signer, EVP_PKEY *verify_key, struct st_detail *detail)
{
  int r = ST_E_HSM;
  if (X509_sign(x, signer, EVP_sha256()) <= 0) {
    st_detail_set(detail, "signing the certificate failed");
    st_detail_add_openssl(detail);
    goto out;
  }
  r = ST_E_SIGN_VERIFY;
  if (X509_get_signature_nid(x) != NID_ecdsa_with_SHA256) {
    st_detail_set(detail, "the signature algorithm came out as %s, not ecdsa-with-SHA256",
                  OBJ_nid2sn(X509_get_signature_nid(x)));
    goto out;
  }
  if (verify_key != NULL && X509_verify(x, verify_key) != 1) {
    st_detail_set(detail, "the new certificate's signature does not verify with the CA certificate's key");
    st_detail_add_openssl(detail);
    goto out;
  }
  r = ST_OK;
out:
  ERR_clear_error();
  return r;
}

/* Starts a v3 certificate for REQ's subject and key, issued by ISSUER with
 * SERIAL, valid [NOW, NOW + DAYS] within the issuer's validity. */
static int cert_start(X509 **out, const struct csr *req, X509 *issuer, const uint8_t *serial, time_t now,
                      unsigned days, struct st_detail *detail)
{
  int r = ST_E_CRYPTO;
  X509 *x = X509_new();
  if (x == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
      cert_set_serial(x, serial, CERT_SERIAL_BYTES) != ST_OK ||
      X509_set_issuer_name(x, X509_get_subject_name(issuer)) != 1 ||
      X509_set_subject_name(x, csr_subject(req)) != 1 || csr_copy_key_to(req, x) != ST_OK)
    goto out;
  r = cert_set_validity(x, issuer, now, days, detail);
  if (r != ST_OK)
    goto out;
  *out = x;
  x = NULL;
out:
  X509_free(x);
  return r;
}

/* Signs X, checks it, and hands it to *OUT (X is consumed either way). */
static int cert_finish(X509 *x, EVP_PKEY *signer, EVP_PKEY *verify_key, X509 **out, struct st_detail *detail)
{
  int r = cert_sign_and_check(x, signer, verify_key, detail);
  if (r == ST_OK) {
    *out = x;
    x = NULL;
  }
  X509_free(x);
  return r;
}

int cert_issue_device(const struct csr *req, X509 *ca_cert, EVP_PKEY *signer, EVP_PKEY *ca_public,
                      const uint8_t serial[CERT_SERIAL_BYTES], unsigned days, time_t now,
                      X509 **out, struct st_detail *detail)
{
  struct device_issuer *ca = NULL;
  struct device_tbs tbs = {0};
  uint8_t sig[DEVICE_SIG_MAX], *der = NULL;
  size_t sig_len = 0, der_len = 0;
  const unsigned char *p;
  int r = device_issuer_new(ca_cert, &ca, detail);

  if (r == ST_OK)
    r = device_cert_tbs(ca, req, serial, days, now, &tbs, detail);
  if (r == ST_OK)
    r = device_cert_sign(signer, tbs.digest, sig, &sig_len, detail);
  if (r == ST_OK && ca_public != NULL && !device_cert_signature_ok(ca_public, tbs.digest, sig, sig_len)) {
    st_detail_set(detail, "the new certificate's signature does not verify with the CA certificate's key");
    r = ST_E_SIGN_VERIFY;
  }
  if (r == ST_OK)
    r = device_cert_assemble(&tbs, sig, sig_len, &der, &der_len);
  if (r != ST_OK)
    goto out;
  p = der;
  r = ST_E_CRYPTO;
  if ((*out = d2i_X509(NULL, &p, (long)der_len)) == NULL || p != der + der_len) {
    X509_free(*out);
    *out = NULL;
    st_detail_set(detail, "the certificate written does not read back");
    st_detail_add_openssl(detail);
    goto out;
  }
  r = ST_OK;
out:
  free(der);
  free(tbs.der);
  device_issuer_free(ca);
  return r;
}

int cert_issue_local_ca(const struct csr *req, X509 *root_cert, EVP_PKEY *root_key, unsigned days,
                        time_t now, X509 **out, struct st_detail *detail)
{
  int r = ST_E_CRYPTO;
  uint8_t serial[CERT_SERIAL_BYTES];
  X509 *x = NULL;
  const ASN1_OCTET_STRING *root_ski = X509_get0_subject_key_id(root_cert);

  if (X509_get0_pubkey(root_cert) == NULL || cert_random_serial(serial) != ST_OK)
    goto out;
  r = cert_start(&x, req, root_cert, serial, now, days, detail);
  if (r != ST_OK)
    goto out;
  r = ST_E_CRYPTO;
  if (cert_add_text_ext(x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") != ST_OK ||
      cert_add_text_ext(x, NID_key_usage, "critical,keyCertSign") != ST_OK || cert_add_ski(x) != ST_OK ||
      (root_ski != NULL && cert_add_aki(x, root_ski) != ST_OK))
    goto out;
  r = cert_finish(x, root_key, X509_get0_pubkey(root_cert), out, detail);
  x = NULL;
out:
  if (r == ST_E_CRYPTO)
    st_detail_add_openssl(detail);
  X509_free(x);
  return r;
}

/* 1 when the certificate's key is EC with the named curve P-256. */
static int cert_key_is_p256(X509 *x)
{
  ASN1_OBJECT *algorithm = NULL;
  X509_ALGOR *alg = NULL;
  int param_type = 0;
  const void *param = NULL;
  X509_PUBKEY *pub = X509_get_X509_PUBKEY(x);
  if (pub == NULL || X509_PUBKEY_get0_param(&algorithm, NULL, NULL, &alg, pub) != 1)
    return 0;
  X509_ALGOR_get0(NULL, &param_type, &param, alg);
  return OBJ_obj2nid(algorithm) == NID_X9_62_id_ecPublicKey && param_type == V_ASN1_OBJECT &&
         OBJ_obj2nid(param) == NID_X9_62_prime256v1;
}

int cert_check_local_ca(X509 *ca, time_t now, struct st_detail *detail)
{
  int r = ST_E_CA_CERT;
  int bc = X509_get_ext_by_NID(ca, NID_basic_constraints, -1);
  uint32_t flags = X509_get_extension_flags(ca);

  if (X509_get_version(ca) != X509_VERSION_3) {
    st_detail_set(detail, "the local CA certificate is not X.509 version 3");
    return r;
  }
  if (bc < 0 || !(flags & EXFLAG_CA) || !X509_EXTENSION_get_critical(X509_get_ext(ca, bc))) {
    st_detail_set(detail, "the local CA certificate lacks a critical basicConstraints CA:TRUE");
    return r;
  }
  if (!(flags & EXFLAG_KUSAGE) || !(X509_get_key_usage(ca) & KU_KEY_CERT_SIGN)) {
    st_detail_set(detail, "the local CA certificate's keyUsage does not allow keyCertSign");
    return r;
  }
  if (X509_get0_subject_key_id(ca) == NULL) {
    st_detail_set(detail, "the local CA certificate has no subjectKeyIdentifier (device certificates copy it)");
    return r;
  }
  if (!cert_key_is_p256(ca)) {
    st_detail_set(detail, "the local CA certificate's key is not EC P-256 with a named curve");
    return r;
  }
  if (X509_cmp_time(X509_get0_notAfter(ca), &now) <= 0) {
    st_detail_set(detail, "the local CA certificate has expired");
    return r;
  }
  if (X509_cmp_time(X509_get0_notBefore(ca), &now) > 0) {
    st_detail_set(detail, "the local CA certificate is not valid yet (check the station's clock)");
    return r;
  }
  return ST_OK;
}

int cert_verify_to_root(X509 *cert, X509 *root, time_t now, unsigned long flags, const char **why)
{
  int r = ST_E_NO_MEMORY;
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();

  if (store == NULL || ctx == NULL || X509_STORE_add_cert(store, root) != 1 ||
      X509_STORE_CTX_init(ctx, store, cert, NULL) != 1)
    goto out;
  X509_STORE_CTX_set_time(ctx, 0, now);
  if (flags != 0)
    X509_STORE_CTX_set_flags(ctx, flags);
  r = 0;
  if (X509_verify_cert(ctx) != 1) {
    *why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
    r = 1;
  }
out:
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  ERR_clear_error();
  return r;
}

int cert_check_chain(X509 *ca, X509 *root, time_t now, struct st_detail *detail)
{
  const char *why = "";
  int r = cert_verify_to_root(ca, root, now, X509_V_FLAG_X509_STRICT, &why);
  if (r == 1) {
    st_detail_set(detail, "the local CA certificate does not chain to the factory root: %s", why);
    r = ST_E_CA_CERT;
  }
  return r;
}

int cert_load_pem(const char *path, X509 **out, struct st_detail *detail)
{
  int r = ST_E_CA_CERT;
  BIO *in = BIO_new_file(path, "r");
  X509 *x = NULL, *extra = NULL;

  if (in == NULL) {
    st_detail_set(detail, "cannot read certificate file %s", path);
    goto out;
  }
  x = PEM_read_bio_X509(in, NULL, NULL, NULL);
  if (x == NULL) {
    st_detail_set(detail, "%s holds no PEM certificate", path);
    goto out;
  }
  extra = PEM_read_bio_X509(in, NULL, NULL, NULL);
  if (extra != NULL) {
    st_detail_set(detail, "%s holds more than one certificate; give exactly one", path);
    goto out;
  }
  *out = x;
  x = NULL;
  r = ST_OK;
out:
  X509_free(extra);
  X509_free(x);
  BIO_free(in);
  ERR_clear_error();
  return r;
}

void cert_subject_line(X509 *cert, char *buf, size_t cap)
{
  BIO *mem = BIO_new(BIO_s_mem());
  int n = 0;
  buf[0] = '\0';
  if (mem != NULL && X509_NAME_print_ex(mem, X509_get_subject_name(cert), 0,
                                        XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
    n = BIO_read(mem, buf, (int)cap - 1);
    buf[n > 0 ? n : 0] = '\0';
  }
  BIO_free(mem);
}
