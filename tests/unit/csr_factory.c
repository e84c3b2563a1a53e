/* csr_factory.c - in-memory CSRs for the unit tests (see csr_factory.h). */
#include "csr_factory.h"

#include <openssl/x509.h>

uint8_t *test_csr_der(EVP_PKEY *key, const struct test_rdn *subject, size_t n, const EVP_MD *md, size_t *len)
{
  X509_REQ *req = X509_REQ_new();
  X509_NAME *name = X509_NAME_new();
  unsigned char *der = NULL;
  int der_len;

  X509_REQ_set_version(req, X509_REQ_VERSION_1);
  for (size_t i = 0; i < n; i++)
    X509_NAME_add_entry_by_txt(name, subject[i].field, MBSTRING_UTF8, (const unsigned char *)subject[i].value, -1,
                               -1, 0);
  X509_REQ_set_subject_name(req, name);
  X509_REQ_set_pubkey(req, key);
  X509_REQ_sign(req, key, md != NULL ? md : EVP_sha256());
  der_len = i2d_X509_REQ(req, &der);
  *len = der_len > 0 ? (size_t)der_len : 0;
  X509_NAME_free(name);
  X509_REQ_free(req);
  return der;
}

uint8_t *test_device_csr(EVP_PKEY *key, const char *uuid, const char *factory, size_t *len)
{
  const struct test_rdn subject[] = {{"CN", uuid}, {"OU", factory}};
  return test_csr_der(key, subject, 2, NULL, len);
}
