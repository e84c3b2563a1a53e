/*
 * csr_factory.h - device CSRs made in memory for the unit tests: any key, any
 * subject, any digest, optionally damaged. Test code only.
 */
#ifndef STATION_TEST_CSR_FACTORY_H
#define STATION_TEST_CSR_FACTORY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* A subject attribute: short name ("CN", "OU", "businessCategory", "O") and value. */
struct test_rdn {
  const char *field;
  const char *value;
};

/* Builds a CSR for KEY with the N attributes of SUBJECT, signed with MD (NULL:
 * SHA-256). Returns its DER (caller frees with OPENSSL_free) and sets *LEN. */
uint8_t *test_csr_der(EVP_PKEY *key, const struct test_rdn *subject, size_t n, const EVP_MD *md, size_t *len);

/* The usual device subject: CN=UUID, OU=FACTORY. */
uint8_t *test_device_csr(EVP_PKEY *key, const char *uuid, const char *factory, size_t *len);

#endif
