/* fuzz_csr.c - libFuzzer target: the CSR intake and the device policy, on any bytes.
 * Whatever passes the policy is also copied into a certificate, as the engine would. */
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "csr.h"
#include "error.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
  struct policy p = {"acme-factory", POLICY_PRODUCTION_ALLOW};
  struct policy_identity id;
  struct st_detail why;
  struct csr *c = NULL;
  uint8_t hash[32];

  if (csr_parse(data, len, &c, &why) == ST_OK) {
    csr_sha256(c, hash);
    if (policy_check(&p, c, &id, &why) == ST_OK) {
      X509 *x = X509_new();
      csr_key_sha256(c, hash);
      if (x != NULL)
        csr_copy_key_to(c, x);
      X509_free(x);
    }
  }
  csr_free(c);
  return 0;
}
