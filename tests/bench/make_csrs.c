/*
 * make_csrs.c - N device CSRs for benchmarks: a fresh P-256 key each,
 * CN=<random UUID>, OU=FACTORY, ecdsa-with-SHA256, PEM, as DIR/NNNNNN.csr.
 * usage: make_csrs DIR N FACTORY
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

static void make_uuid(char out[37])
{
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
           b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

int main(int argc, char **argv)
{
  long n;
  if (argc != 4 || (n = atol(argv[2])) < 1) {
    fprintf(stderr, "usage: make_csrs DIR N FACTORY\n");
    return 2;
  }
  for (long i = 0; i < n; i++) {
    char uuid[37], path[4096];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    FILE *f;
    make_uuid(uuid);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (unsigned char *)uuid, -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, (unsigned char *)argv[3], -1, -1, 0);
    X509_REQ_set_version(req, X509_REQ_VERSION_1);
    X509_REQ_set_subject_name(req, name);
    X509_REQ_set_pubkey(req, key);
    snprintf(path, sizeof path, "%s/%06ld.csr", argv[1], i);
    if (key == NULL || X509_REQ_sign(req, key, EVP_sha256()) <= 0 || (f = fopen(path, "w")) == NULL) {
      fprintf(stderr, "make_csrs: cannot make %s\n", path);
      return 1;
    }
    PEM_write_X509_REQ(f, req);
    fclose(f);
    X509_NAME_free(name);
    X509_REQ_free(req);
    EVP_PKEY_free(key);
  }
  return 0;
}
