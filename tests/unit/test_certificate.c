/* test_certificate.c - the device and local-CA profiles, field by field, with software keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "certificate.h"
#include "device_cert.h"
#include "csr.h"
#include "csr_factory.h"
#include "error.h"

#define FACTORY "acme-factory"

struct pki {
  EVP_PKEY *root_key, *ca_key, *device_key;
  X509 *root, *ca;
  struct csr *device_req;
};

static struct pki pki;

static struct csr *req_from_der(uint8_t *der, size_t len)
{
  struct csr *req = NULL;
  csr_parse(der, len, &req, NULL);
  OPENSSL_free(der);
  return req;
}

/* A self-signed root with an SKI, made with the OpenSSL API. */
static X509 *make_root(EVP_PKEY *key)
{
  X509 *x = X509_new();
  X509_NAME *name = X509_NAME_new();
  X509V3_CTX ctx;
  X509_EXTENSION *ext;
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"Factory-CA", -1, -1, 0);
  X509_set_version(x, X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_set_subject_name(x, name);
  X509_set_issuer_name(x, name);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 20L * 365 * 86400);
  X509_set_pubkey(x, key);
  X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign");
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  X509_sign(x, key, EVP_sha256());
  X509_NAME_free(name);
  return x;
}

/* A certificate as a reader gets it: encoded and decoded again (the station
 * builds certificates with the key as bytes, so their EVP_PKEY appears only
 * when read back). Consumes X. */
static X509 *reread(X509 *x)
{
  unsigned char *der = NULL;
  int len = x != NULL ? i2d_X509(x, &der) : -1;
  const unsigned char *p = der;
  X509 *copy = len > 0 ? d2i_X509(NULL, &p, len) : NULL;
  OPENSSL_free(der);
  X509_free(x);
  return copy;
}

static int setup(void **state)
{
  const struct test_rdn ca_subject[] = {{"CN", "fio-0123456789abcdef"}, {"OU", FACTORY}};
  size_t len = 0;
  uint8_t *der;
  struct csr *ca_req;
  struct st_detail why = {""};
  int r;
  (void)state;
  pki.root_key = EVP_EC_gen("P-256");
  pki.ca_key = EVP_EC_gen("P-256");
  pki.device_key = EVP_EC_gen("P-256");
  pki.root = make_root(pki.root_key);
  der = test_csr_der(pki.ca_key, ca_subject, 2, NULL, &len);
  ca_req = req_from_der(der, len);
  r = cert_issue_local_ca(ca_req, pki.root, pki.root_key, 3650, time(NULL), &pki.ca, &why);
  csr_free(ca_req);
  pki.ca = reread(pki.ca);
  if (r != ST_OK || pki.ca == NULL) {
    fprintf(stderr, "local CA: %s\n", why.text);
    return -1;
  }
  der = test_device_csr(pki.device_key, "0f8e7d6c-5b4a-4392-8170-6e5d4c3b2a19", FACTORY, &len);
  pki.device_req = req_from_der(der, len);
  return pki.device_req == NULL;
}

static int teardown(void **state)
{
  (void)state;
  csr_free(pki.device_req);
  X509_free(pki.ca);
  X509_free(pki.root);
  EVP_PKEY_free(pki.root_key);
  EVP_PKEY_free(pki.ca_key);
  EVP_PKEY_free(pki.device_key);
  return 0;
}

static int name_der_equal(const X509_NAME *a, const X509_NAME *b)
{
  unsigned char *da = NULL, *db = NULL;
  int la = i2d_X509_NAME(a, &da), lb = i2d_X509_NAME(b, &db);
  int same = la > 0 && la == lb && memcmp(da, db, (size_t)la) == 0;
  OPENSSL_free(da);
  OPENSSL_free(db);
  return same;
}

static X509 *issue(unsigned days, int *code)
{
  uint8_t serial[CERT_SERIAL_BYTES];
  X509 *cert = NULL;
  assert_int_equal(cert_random_serial(serial), ST_OK);
  *code = cert_issue_device(pki.device_req, pki.ca, pki.ca_key, X509_get0_pubkey(pki.ca), serial, days, time(NULL),
                            &cert, NULL);
  return reread(cert);
}

static void test_device_profile(void **state)
{
  int code;
  X509 *cert = issue(1000, &code);
  const ASN1_INTEGER *serial;
  BIGNUM *bn;
  int ku, eku, crit = -1;
  EXTENDED_KEY_USAGE *usage;
  AUTHORITY_KEYID *akid;
  time_t now = time(NULL);
  int day = 0, sec = 0;
  (void)state;

  assert_int_equal(code, ST_OK);
  assert_int_equal(X509_get_version(cert), X509_VERSION_3);
  assert_int_equal(X509_get_signature_nid(cert), NID_ecdsa_with_SHA256);
  assert_int_equal(X509_verify(cert, X509_get0_pubkey(pki.ca)), 1);
  /* serial: positive, 16 octets */
  serial = X509_get0_serialNumber(cert);
  bn = ASN1_INTEGER_to_BN(serial, NULL);
  assert_false(BN_is_negative(bn));
  assert_int_equal(BN_num_bytes(bn), 16);
  BN_free(bn);
  /* names and key, as bytes */
  assert_true(name_der_equal(X509_get_subject_name(cert), csr_subject(pki.device_req)));
  assert_true(name_der_equal(X509_get_issuer_name(cert), X509_get_subject_name(pki.ca)));
  assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), pki.device_key), 1);
  /* validity */
  assert_true(X509_cmp_time(X509_get0_notBefore(cert), &now) < 0);
  /* never before the CA's own notBefore, and ends 1000 days from now */
  assert_true(ASN1_TIME_compare(X509_get0_notBefore(cert), X509_get0_notBefore(pki.ca)) >= 0);
  ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notAfter(cert));
  assert_true((day == 1000 && sec <= 5) || (day == 999 && sec >= 86395));
  /* extensions: exactly KU, EKU, SKI, AKI */
  assert_int_equal(X509_get_ext_count(cert), 4);
  ku = X509_get_ext_by_NID(cert, NID_key_usage, -1);
  assert_true(ku >= 0);
  assert_true(X509_EXTENSION_get_critical(X509_get_ext(cert, ku)));
  assert_int_equal(X509_get_key_usage(cert), KU_DIGITAL_SIGNATURE);
  eku = X509_get_ext_by_NID(cert, NID_ext_key_usage, -1);
  assert_true(eku >= 0);
  assert_true(X509_EXTENSION_get_critical(X509_get_ext(cert, eku)));
  usage = X509_get_ext_d2i(cert, NID_ext_key_usage, &crit, NULL);
  assert_int_equal(sk_ASN1_OBJECT_num(usage), 1);
  assert_int_equal(OBJ_obj2nid(sk_ASN1_OBJECT_value(usage, 0)), NID_client_auth);
  sk_ASN1_OBJECT_pop_free(usage, ASN1_OBJECT_free);
  akid = X509_get_ext_d2i(cert, NID_authority_key_identifier, &crit, NULL);
  assert_non_null(akid);
  assert_int_equal(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(pki.ca)), 0);
  assert_null(akid->issuer);
  AUTHORITY_KEYID_free(akid);
  assert_non_null(X509_get0_subject_key_id(cert));
  assert_int_equal(X509_check_ca(cert), 0);
  X509_free(cert);
}

static void test_validity_capped_at_ca(void **state)
{
  int code;
  X509 *cert = issue(36500, &code);
  (void)state;
  assert_int_equal(code, ST_OK);
  assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(pki.ca)), 0);
  X509_free(cert);
}

static void test_signature_checked_before_release(void **state)
{
  uint8_t serial[CERT_SERIAL_BYTES] = {1};
  X509 *cert = NULL;
  struct st_detail why = {""};
  (void)state;
  /* signing with a key that is not the CA certificate's: caught, nothing handed out */
  assert_int_equal(cert_issue_device(pki.device_req, pki.ca, pki.root_key, X509_get0_pubkey(pki.ca), serial, 30,
                                     time(NULL), &cert, &why),
                   ST_E_SIGN_VERIFY);
  assert_null(cert);
}

static void test_expired_ca_refused(void **state)
{
  uint8_t serial[CERT_SERIAL_BYTES] = {1};
  X509 *cert = NULL;
  time_t later = time(NULL) + 40L * 365 * 86400;
  (void)state;
  assert_int_equal(cert_issue_device(pki.device_req, pki.ca, pki.ca_key, X509_get0_pubkey(pki.ca), serial, 30, later,
                                     &cert, NULL),
                   ST_E_CA_CERT);
  assert_null(cert);
}

static void test_local_ca_profile(void **state)
{
  BASIC_CONSTRAINTS *bc;
  int crit = -1;
  int day = 0, sec = 0;
  (void)state;
  assert_int_equal(cert_check_local_ca(pki.ca, time(NULL), NULL), ST_OK);
  assert_int_equal(cert_check_chain(pki.ca, pki.root, time(NULL), NULL), ST_OK);
  bc = X509_get_ext_d2i(pki.ca, NID_basic_constraints, &crit, NULL);
  assert_non_null(bc);
  assert_int_equal(crit, 1);
  assert_true(bc->ca);
  assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
  BASIC_CONSTRAINTS_free(bc);
  assert_int_equal(X509_get_key_usage(pki.ca), KU_KEY_CERT_SIGN);
  assert_int_equal(X509_get_ext_count(pki.ca), 4);
  ASN1_TIME_diff(&day, &sec, X509_get0_notBefore(pki.ca), X509_get0_notAfter(pki.ca));
  assert_int_equal(day, 3650);
  assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(pki.ca), X509_get0_subject_key_id(pki.root)), 0);
}

static void test_device_cert_is_no_ca(void **state)
{
  int code;
  X509 *cert = issue(30, &code);
  struct st_detail why = {""};
  (void)state;
  assert_int_equal(cert_check_local_ca(cert, time(NULL), &why), ST_E_CA_CERT);
  assert_non_null(strstr(why.text, "basicConstraints"));
  X509_free(cert);
}

static void test_serials_random_positive(void **state)
{
  uint8_t a[CERT_SERIAL_BYTES], b[CERT_SERIAL_BYTES];
  (void)state;
  for (int i = 0; i < 200; i++) {
    assert_int_equal(cert_random_serial(a), ST_OK);
    assert_true(a[0] >= 1 && a[0] <= 0x7f);
  }
  cert_random_serial(b);
  assert_memory_not_equal(a, b, sizeof a);
}

/* The station writes the device certificate's DER itself: OpenSSL, encoding
 * the decoded certificate again from its fields, must give the same bytes
 * (the station's encoding is canonical DER), and the SKI is SHA-1 of the key. */
static void test_device_der_is_canonical(void **state)
{
  int code;
  X509 *cert = issue(1000, &code);
  unsigned char *as_read = NULL, *reencoded = NULL, md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  int read_len, re_len;
  (void)state;
  assert_int_equal(code, ST_OK);
  const unsigned char *content;
  long content_len = 0;
  int tag = 0, xclass = 0;
  read_len = i2d_X509(cert, &as_read);       /* the bytes as the station wrote them */
  re_len = i2d_re_X509_tbs(cert, &reencoded); /* the TBS encoded again from its fields */
  assert_true(read_len > 0 && re_len > 0);
  content = as_read; /* the TBS is the first element inside the outer SEQUENCE */
  assert_int_equal(ASN1_get_object(&content, &content_len, &tag, &xclass, read_len), V_ASN1_CONSTRUCTED);
  assert_true(content_len > re_len);
  assert_memory_equal(content, reencoded, (size_t)re_len);
  assert_int_equal(X509_pubkey_digest(cert, EVP_sha1(), md, &md_len), 1);
  assert_int_equal(md_len, 20);
  assert_memory_equal(ASN1_STRING_get0_data(X509_get0_subject_key_id(cert)), md, 20);
  OPENSSL_free(as_read);
  OPENSSL_free(reencoded);
  X509_free(cert);
}

/* RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 on. A
 * long-lived issuer lets one certificate carry both. */
static void test_device_times_encoding(void **state)
{
  X509 *issuer = make_root(pki.ca_key), *cert;
  struct device_issuer *ca = NULL;
  struct device_tbs tbs = {0};
  uint8_t serial[CERT_SERIAL_BYTES] = {0x42, 1, 2, 3}, sig[DEVICE_SIG_MAX], *der = NULL;
  size_t sig_len = 0, der_len = 0;
  const unsigned char *p;
  time_t now = time(NULL);
  (void)state;
  X509_gmtime_adj(X509_getm_notAfter(issuer), 60L * 365 * 86400);
  X509_sign(issuer, pki.ca_key, EVP_sha256());
  issuer = reread(issuer);
  assert_int_equal(device_issuer_new(issuer, &ca, NULL), ST_OK);
  assert_int_equal(device_cert_tbs(ca, pki.device_req, serial, 40 * 366, now, &tbs, NULL), ST_OK);
  assert_int_equal(device_cert_sign(pki.ca_key, tbs.digest, sig, &sig_len, NULL), ST_OK);
  assert_true(device_cert_signature_ok(X509_get0_pubkey(issuer), tbs.digest, sig, sig_len));
  sig[sig_len - 1] ^= 1;
  assert_false(device_cert_signature_ok(X509_get0_pubkey(issuer), tbs.digest, sig, sig_len));
  sig[sig_len - 1] ^= 1;
  assert_int_equal(device_cert_assemble(&tbs, sig, sig_len, &der, &der_len), ST_OK);
  p = der;
  cert = d2i_X509(NULL, &p, (long)der_len);
  assert_non_null(cert);
  assert_ptr_equal(p, der + der_len);
  assert_int_equal(ASN1_STRING_type(X509_get0_notBefore(cert)), V_ASN1_UTCTIME);
  assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(cert)), V_ASN1_GENERALIZEDTIME);
  assert_int_equal(X509_verify(cert, X509_get0_pubkey(issuer)), 1);
  X509_free(cert);
  free(der);
  free(tbs.der);
  device_issuer_free(ca);
  X509_free(issuer);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_device_profile),
    cmocka_unit_test(test_device_der_is_canonical),
    cmocka_unit_test(test_device_times_encoding),
    cmocka_unit_test(test_validity_capped_at_ca),
    cmocka_unit_test(test_signature_checked_before_release),
    cmocka_unit_test(test_expired_ca_refused),
    cmocka_unit_test(test_local_ca_profile),
    cmocka_unit_test(test_device_cert_is_no_ca),
    cmocka_unit_test(test_serials_random_positive),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
