/* test_policy.c - CSR parsing and every policy refusal, on CSRs made in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "csr.h"
#include "csr_factory.h"
#include "error.h"
#include "policy.h"

#define UUID "0f8e7d6c-5b4a-4392-8170-6e5d4c3b2a19"
#define FACTORY "acme-factory"

static EVP_PKEY *p256;

static int setup(void **state)
{
  (void)state;
  p256 = EVP_EC_gen("P-256");
  return p256 == NULL;
}

static int teardown(void **state)
{
  (void)state;
  EVP_PKEY_free(p256);
  return 0;
}

/* Parses DER and runs the policy with PRODUCTION; returns the code. */
static int decide(const uint8_t *der, size_t len, enum policy_production production, struct policy_identity *id,
                  struct st_detail *why)
{
  struct policy p = {FACTORY, production};
  struct csr *c = NULL;
  int r = csr_parse(der, len, &c, why);
  if (r == ST_OK)
    r = policy_check(&p, c, id, why);
  csr_free(c);
  return r;
}

static int decide_subject(EVP_PKEY *key, const struct test_rdn *subject, size_t n, const EVP_MD *md,
                          enum policy_production production, struct st_detail *why)
{
  struct policy_identity id;
  size_t len = 0;
  uint8_t *der = test_csr_der(key, subject, n, md, &len);
  int r = decide(der, len, production, &id, why);
  OPENSSL_free(der);
  return r;
}

static void test_good_csr_accepted_device_id_lowered(void **state)
{
  struct policy_identity id;
  struct st_detail why = {""};
  size_t len;
  uint8_t *der = test_device_csr(p256, "0F8E7D6C-5B4A-4392-8170-6E5D4C3B2A19", FACTORY, &len);
  (void)state;
  assert_int_equal(decide(der, len, POLICY_PRODUCTION_FORBID, &id, &why), ST_OK);
  assert_string_equal(id.device_id, UUID);
  assert_int_equal(id.production, 0);
  OPENSSL_free(der);
}

static void test_pem_and_der_give_same_hash(void **state)
{
  size_t len;
  uint8_t *der = test_device_csr(p256, UUID, FACTORY, &len);
  const unsigned char *p = der;
  X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
  BIO *mem = BIO_new(BIO_s_mem());
  char *pem;
  long pem_len;
  struct csr *a = NULL, *b = NULL;
  uint8_t ha[32], hb[32];
  (void)state;
  PEM_write_bio_X509_REQ(mem, req);
  pem_len = BIO_get_mem_data(mem, &pem);
  assert_int_equal(csr_parse(der, len, &a, NULL), ST_OK);
  assert_int_equal(csr_parse((uint8_t *)pem, (size_t)pem_len, &b, NULL), ST_OK);
  csr_sha256(a, ha);
  csr_sha256(b, hb);
  assert_memory_equal(ha, hb, 32);
  csr_free(a);
  csr_free(b);
  BIO_free(mem);
  X509_REQ_free(req);
  OPENSSL_free(der);
}

static void test_parse_refusals(void **state)
{
  static uint8_t big[CSR_MAX_BYTES + 1];
  static const char junk[] = "hello, not a csr\n";
  static const char key_pem[] = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
  struct st_detail why = {""};
  struct csr *c = NULL;
  size_t len;
  uint8_t *der = test_device_csr(p256, UUID, FACTORY, &len);
  uint8_t *doubled = malloc(2 * len), *trailing = malloc(len + 3);
  BIO *mem = BIO_new(BIO_s_mem());
  const unsigned char *p = der;
  X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)len);
  char *pem;
  long pem_len;
  (void)state;

  assert_int_equal(csr_parse(big, sizeof big, &c, &why), ST_E_TOO_LARGE);
  assert_int_equal(csr_parse(big, 0, &c, &why), ST_E_NOT_A_CSR);
  assert_int_equal(csr_parse((const uint8_t *)junk, strlen(junk), &c, &why), ST_E_NOT_A_CSR);
  assert_int_equal(csr_parse((const uint8_t *)key_pem, strlen(key_pem), &c, &why), ST_E_NOT_A_CSR);
  assert_non_null(strstr(why.text, "PRIVATE KEY"));
  memcpy(doubled, der, len);
  memcpy(doubled + len, der, len);
  assert_int_equal(csr_parse(doubled, 2 * len, &c, &why), ST_E_MULTIPLE_CSRS);
  memcpy(trailing, der, len);
  memcpy(trailing + len, "abc", 3);
  assert_int_equal(csr_parse(trailing, len + 3, &c, &why), ST_E_NOT_A_CSR);
  PEM_write_bio_X509_REQ(mem, req);
  PEM_write_bio_X509_REQ(mem, req);
  pem_len = BIO_get_mem_data(mem, &pem);
  assert_int_equal(csr_parse((uint8_t *)pem, (size_t)pem_len, &c, &why), ST_E_MULTIPLE_CSRS);
  assert_null(c);
  BIO_free(mem);
  X509_REQ_free(req);
  free(doubled);
  free(trailing);
  OPENSSL_free(der);
}

static void test_bad_signature_refused(void **state)
{
  struct policy_identity id;
  struct st_detail why = {""};
  size_t len;
  uint8_t *der = test_device_csr(p256, UUID, FACTORY, &len);
  uint8_t *cn = memmem(der, len, UUID, 8);
  (void)state;
  assert_non_null(cn);
  cn[0] = cn[0] == 'a' ? 'b' : 'a';   /* the subject changed after signing */
  assert_int_equal(decide(der, len, POLICY_PRODUCTION_FORBID, &id, &why), ST_E_CSR_SIGNATURE);
  OPENSSL_free(der);
}

static void test_key_types_refused(void **state)
{
  const struct test_rdn subject[] = {{"CN", UUID}, {"OU", FACTORY}};
  struct st_detail why = {""};
  EVP_PKEY *p384 = EVP_EC_gen("P-384");
  EVP_PKEY *rsa = EVP_RSA_gen(2048);
  (void)state;
  assert_int_equal(decide_subject(p384, subject, 2, NULL, POLICY_PRODUCTION_FORBID, &why), ST_E_KEY_TYPE);
  assert_non_null(strstr(why.text, "secp384r1"));
  assert_int_equal(decide_subject(rsa, subject, 2, NULL, POLICY_PRODUCTION_FORBID, &why), ST_E_KEY_TYPE);
  assert_non_null(strstr(why.text, "rsa"));
  EVP_PKEY_free(p384);
  EVP_PKEY_free(rsa);
}

static void test_digest_refused(void **state)
{
  const struct test_rdn subject[] = {{"CN", UUID}, {"OU", FACTORY}};
  struct st_detail why = {""};
  (void)state;
  assert_int_equal(decide_subject(p256, subject, 2, EVP_sha384(), POLICY_PRODUCTION_FORBID, &why),
                   ST_E_SIGNATURE_ALGORITHM);
  assert_non_null(strstr(why.text, "ecdsa-with-SHA384"));
  assert_int_equal(decide_subject(p256, subject, 2, EVP_sha1(), POLICY_PRODUCTION_FORBID, &why),
                   ST_E_SIGNATURE_ALGORITHM);
}

static void test_subject_refusals(void **state)
{
  const struct test_rdn no_cn[] = {{"OU", FACTORY}};
  const struct test_rdn two_cn[] = {{"CN", UUID}, {"CN", UUID}, {"OU", FACTORY}};
  const struct test_rdn not_uuid[] = {{"CN", "board-17"}, {"OU", FACTORY}};
  const struct test_rdn uuid_short[] = {{"CN", "0f8e7d6c-5b4a-4392-8170-6e5d4c3b2a1"}, {"OU", FACTORY}};
  const struct test_rdn no_ou[] = {{"CN", UUID}};
  const struct test_rdn wrong_ou[] = {{"CN", UUID}, {"OU", "other-factory"}};
  const struct test_rdn two_ou[] = {{"CN", UUID}, {"OU", FACTORY}, {"OU", FACTORY}};
  const struct test_rdn extra_o[] = {{"CN", UUID}, {"OU", FACTORY}, {"O", "Acme"}};
  const struct test_rdn other_category[] = {{"CN", UUID}, {"OU", FACTORY}, {"businessCategory", "test"}};
  struct st_detail why = {""};
  (void)state;
  assert_int_equal(decide_subject(p256, no_cn, 1, NULL, POLICY_PRODUCTION_FORBID, &why), ST_E_COMMON_NAME);
  assert_int_equal(decide_subject(p256, two_cn, 3, NULL, POLICY_PRODUCTION_FORBID, &why), ST_E_COMMON_NAME);
  assert_int_equal(decide_subject(p256, not_uuid, 2, NULL, POLICY_PRODUCTION_FORBID, &why), ST_E_COMMON_NAME);
  assert_non_null(strstr(why.text, "board-17"));
  assert_int_equal(decide_subject(p256, uuid_short, 2, NULL, POLICY_PRODUCTION_FORBID, &why), ST_E_COMMON_NAME);
  assert_int_equal(decide_subject(p256, no_ou, 1, NULL, POLICY_PRODUCTION_FORBID, &why), ST_E_FACTORY);
  assert_int_equal(decide_subject(p256, wrong_ou, 2, NULL, POLICY_PRODUCTION_FORBID, &why), ST_E_FACTORY);
  assert_non_null(strstr(why.text, "other-factory"));
  assert_int_equal(decide_subject(p256, two_ou, 3, NULL, POLICY_PRODUCTION_FORBID, &why), ST_E_FACTORY);
  assert_int_equal(decide_subject(p256, extra_o, 3, NULL, POLICY_PRODUCTION_FORBID, &why), ST_E_SUBJECT_ATTRIBUTE);
  assert_int_equal(decide_subject(p256, other_category, 3, NULL, POLICY_PRODUCTION_ALLOW, &why),
                   ST_E_SUBJECT_ATTRIBUTE);
}

static void test_production_marker(void **state)
{
  const struct test_rdn prod[] = {{"CN", UUID}, {"OU", FACTORY}, {"businessCategory", "production"}};
  const struct test_rdn plain[] = {{"CN", UUID}, {"OU", FACTORY}};
  struct st_detail why = {""};
  (void)state;
  assert_int_equal(decide_subject(p256, prod, 3, NULL, POLICY_PRODUCTION_FORBID, &why), ST_E_PRODUCTION_FORBIDDEN);
  assert_int_equal(decide_subject(p256, prod, 3, NULL, POLICY_PRODUCTION_ALLOW, &why), ST_OK);
  assert_int_equal(decide_subject(p256, prod, 3, NULL, POLICY_PRODUCTION_REQUIRE, &why), ST_OK);
  assert_int_equal(decide_subject(p256, plain, 2, NULL, POLICY_PRODUCTION_REQUIRE, &why), ST_E_PRODUCTION_REQUIRED);
  assert_int_equal(decide_subject(p256, plain, 2, NULL, POLICY_PRODUCTION_ALLOW, &why), ST_OK);
}

static void test_uuid_shapes(void **state)
{
  (void)state;
  assert_true(policy_is_uuid(UUID, 36));
  assert_true(policy_is_uuid("0F8E7D6C-5B4A-4392-8170-6E5D4C3B2A19", 36));
  assert_false(policy_is_uuid("0f8e7d6c5b4a-4392-8170-6e5d4c3b2a19-", 36));
  assert_false(policy_is_uuid("0f8e7d6c-5b4a-4392-8170-6e5d4c3b2a1g", 36));
  assert_false(policy_is_uuid(UUID, 35));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_good_csr_accepted_device_id_lowered),
    cmocka_unit_test(test_pem_and_der_give_same_hash),
    cmocka_unit_test(test_parse_refusals),
    cmocka_unit_test(test_bad_signature_refused),
    cmocka_unit_test(test_key_types_refused),
    cmocka_unit_test(test_digest_refused),
    cmocka_unit_test(test_subject_refusals),
    cmocka_unit_test(test_production_marker),
    cmocka_unit_test(test_uuid_shapes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
