/* fuzz_csr.c - libFuzzer target: the CSR intake and the device policy, on any bytes.
 * Every parsed request with an EC P-256 key (whether or not the policy passes
 * it: a mutated subject breaks the CSR's signature, and the certificate writer
 * should still see every shape of subject) is also written into a device
 * certificate as the engine would (station/pki/device_cert.c), signed with a
 * software key standing in for the token; the result must read back as exactly
 * one certificate that verifies. The seeds are CSRs of "demo-factory". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "csr.h"
#include "device_cert.h"
#include "error.h"
#include "policy.h"

static EVP_PKEY *ca_key;
static X509 *ca_cert;
static struct device_issuer *issuer;

/* A CA certificate for the device certificates: self-signed, with an SKI. */
static void fuzz_make_issuer(void)
{
  X509_NAME *name = X509_NAME_new();
  X509V3_CTX v3;
  X509_EXTENSION *ski;
  ca_key = EVP_EC_gen("P-256");
  ca_cert = X509_new();
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"fio-fuzz", -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, (const unsigned char *)"demo-factory", -1, -1, 0);
  X509_set_version(ca_cert, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(ca_cert), 1);
  X509_set_subject_name(ca_cert, name);
  X509_set_issuer_name(ca_cert, name);
  X509_gmtime_adj(X509_getm_notBefore(ca_cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(ca_cert), 3650L * 86400);
  X509_set_pubkey(ca_cert, ca_key);
  X509V3_set_ctx(&v3, ca_cert, ca_cert, NULL, NULL, 0);
  ski = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_key_identifier, "hash");
  X509_add_ext(ca_cert, ski, -1);
  X509_EXTENSION_free(ski);
  X509_sign(ca_cert, ca_key, EVP_sha256());
  X509_NAME_free(name);
  if (device_issuer_new(ca_cert, &issuer, NULL) != ST_OK)
    abort();
}

static void fuzz_issue(const struct csr *c)
{
  static const uint8_t serial[CERT_SERIAL_BYTES] = {0x11, 0x22, 0x33};
  struct device_tbs tbs = {0};
  uint8_t sig[DEVICE_SIG_MAX], *der = NULL;
  size_t sig_len = 0, der_len = 0;
  const unsigned char *p;
  X509 *x;

  if (device_cert_tbs(issuer, c, serial, 365, time(NULL), &tbs, NULL) != ST_OK)
    abort(); /* a request with a P-256 key must make a certificate */
  if (device_cert_sign(ca_key, tbs.digest, sig, &sig_len, NULL) != ST_OK ||
      !device_cert_signature_ok(X509_get0_pubkey(ca_cert), tbs.digest, sig, sig_len) ||
      device_cert_assemble(&tbs, sig, sig_len, &der, &der_len) != ST_OK)
    abort();
  p = der;
  x = d2i_X509(NULL, &p, (long)der_len);
  if (x == NULL || p != der + der_len || X509_verify(x, X509_get0_pubkey(ca_cert)) != 1)
    abort();
  X509_free(x);
  free(der);
  free(tbs.der);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  struct policy p = {"demo-factory", POLICY_PRODUCTION_ALLOW};
  struct policy_identity id;
  struct st_detail why;
  struct csr *c = NULL;
  uint8_t hash[32];

  if (issuer == NULL)
    fuzz_make_issuer();
  if (csr_parse(data, len, &c, &why) == ST_OK) {
    int key_nid, param_type, curve_nid;
    size_t point_len = 0;
    csr_sha256(c, hash);
    csr_key_sha256(c, hash);
    policy_check(&p, c, &id, &why);
    csr_key_algorithm(c, &key_nid, &param_type, &curve_nid);
    if (key_nid == NID_X9_62_id_ecPublicKey && curve_nid == NID_X9_62_prime256v1 &&
        csr_public_point(c, &point_len) != NULL && point_len > 0)
      fuzz_issue(c);
  }
  csr_free(c);
  return 0;
}
