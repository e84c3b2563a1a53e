/*
 * make_journal.c - appends N synthetic but valid records to a station journal,
 * fast, for the journal benchmarks (tests/bench/journal-open-bench.sh).
 *
 * The journal must end on a checkpoint (`station journal init` leaves it so).
 * Every appended record is an "issued" record with its own CSR hash, key hash,
 * device id and serial, and CERT_DER (one certificate file, DER) as its
 * certificate; after every K of them comes a checkpoint signed by the journal
 * key in the token (C_Sign, CKM_ECDSA over the SHA-256 of the checkpoint
 * message, turned into DER), exactly as the station writes it
 * (docs/journal-format.md): so `station journal verify` accepts the result,
 * and a station opens it as its own. The journal ends on a checkpoint.
 *
 * usage: make_journal LOG N K CERT_DER MODULE TOKEN KEY_LABEL PIN_ENV
 * (PIN_ENV names the environment variable holding the PIN.)
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

static const char hexd[] = "0123456789abcdef";

static void hex(char *out, const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hexd[p[i] >> 4];
    out[2 * i + 1] = hexd[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static int unhex(uint8_t *out, const char *p, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    int v = 0;
    for (int k = 0; k < 2; k++) {
      char c = p[2 * i + k];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0)
        return -1;
      v = v * 16 + d;
    }
    out[i] = (uint8_t)v;
  }
  return 0;
}

static void sha256(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen)
{
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  EVP_DigestInit_ex(c, EVP_sha256(), NULL);
  EVP_DigestUpdate(c, a, alen);
  if (blen > 0)
    EVP_DigestUpdate(c, b, blen);
  EVP_DigestFinal_ex(c, out, NULL);
  EVP_MD_CTX_free(c);
}

struct p11 {
  CK_FUNCTION_LIST_PTR f;
  CK_SESSION_HANDLE s;
  CK_OBJECT_HANDLE key;
};

static int p11_open(struct p11 *p, const char *module, const char *token, const char *label, const char *pin)
{
  void *m = dlopen(module, RTLD_NOW);
  CK_RV (*get_list)(CK_FUNCTION_LIST_PTR_PTR) = m != NULL ? (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(m, "C_GetFunctionList") : NULL;
  CK_SLOT_ID slots[64];
  CK_ULONG nslots = 64, found = 0;
  CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE find[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_LABEL, (void *)label, strlen(label)}};
  if (get_list == NULL || get_list(&p->f) != CKR_OK || p->f->C_Initialize(NULL) != CKR_OK ||
      p->f->C_GetSlotList(CK_TRUE, slots, &nslots) != CKR_OK)
    return -1;
  for (CK_ULONG i = 0; i < nslots; i++) {
    CK_TOKEN_INFO info;
    char l[33];
    if (p->f->C_GetTokenInfo(slots[i], &info) != CKR_OK)
      continue;
    memcpy(l, info.label, 32);
    l[32] = '\0';
    for (int k = 31; k >= 0 && l[k] == ' '; k--)
      l[k] = '\0';
    if (strcmp(l, token) == 0 && p->f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &p->s) == CKR_OK &&
        p->f->C_Login(p->s, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin)) == CKR_OK &&
        p->f->C_FindObjectsInit(p->s, find, 2) == CKR_OK && p->f->C_FindObjects(p->s, &p->key, 1, &found) == CKR_OK &&
        p->f->C_FindObjectsFinal(p->s) == CKR_OK && found == 1)
      return 0;
  }
  return -1;
}

/* ECDSA over DIGEST with the token key, as DER into DER (*DER_LEN). */
static int p11_sign(struct p11 *p, const uint8_t digest[32], uint8_t *der, size_t *der_len)
{
  CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
  uint8_t raw[132];
  CK_ULONG raw_len = sizeof raw;
  ECDSA_SIG *sig;
  unsigned char *out = der;
  int n;
  if (p->f->C_SignInit(p->s, &mech, p->key) != CKR_OK ||
      p->f->C_Sign(p->s, (CK_BYTE_PTR)digest, 32, raw, &raw_len) != CKR_OK || raw_len != 64)
    return -1;
  sig = ECDSA_SIG_new();
  ECDSA_SIG_set0(sig, BN_bin2bn(raw, 32, NULL), BN_bin2bn(raw + 32, 32, NULL));
  n = i2d_ECDSA_SIG(sig, &out);
  ECDSA_SIG_free(sig);
  if (n <= 0)
    return -1;
  *der_len = (size_t)n;
  return 0;
}

/* Writes BODY (no chain) with its chain after PREV to F; PREV becomes it. */
static void put_line(FILE *f, char *body, size_t len, uint8_t prev[32])
{
  char h[65];
  sha256(prev, prev, 32, body, len);
  hex(h, prev, 32);
  fwrite(body, 1, len, f);
  fputc(' ', f);
  fwrite(h, 1, 64, f);
  fputc('\n', f);
}

int main(int argc, char **argv)
{
  FILE *f, *cf;
  char *line = NULL, *last = NULL, *body, *cert_b64;
  size_t cap = 0, cert_len, n_fields;
  ssize_t got;
  uint8_t prev[32], genesis[32], keyid[32], cert[4096];
  char genesis_hex[65] = "", keyid_hex[65] = "", tstamp[32];
  uint64_t seq = 0, n, k;
  struct p11 p;
  const char *pin;
  struct timespec ts;
  struct tm tm;

  if (argc != 9 || (pin = getenv(argv[8])) == NULL || (n = strtoull(argv[2], NULL, 10)) == 0 ||
      (k = strtoull(argv[3], NULL, 10)) == 0) {
    fprintf(stderr, "usage: make_journal LOG N K CERT_DER MODULE TOKEN KEY_LABEL PIN_ENV\n");
    return 2;
  }
  if ((cf = fopen(argv[4], "rb")) == NULL || (cert_len = fread(cert, 1, sizeof cert, cf)) == 0)
    return fprintf(stderr, "make_journal: cannot read %s\n", argv[4]), 1;
  fclose(cf);
  cert_b64 = malloc(4 * ((cert_len + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *)cert_b64, cert, (int)cert_len);
  /* the header's genesis, and the last line: its seq, chain, and a checkpoint's key id */
  if ((f = fopen(argv[1], "r")) == NULL)
    return fprintf(stderr, "make_journal: cannot read %s\n", argv[1]), 1;
  while ((got = getline(&line, &cap, f)) > 0) {
    if (genesis_hex[0] == '\0' && strncmp(line, "station-journal 1 ", 18) == 0 && got >= 82) {
      memcpy(genesis_hex, line + 18, 64);
      continue;
    }
    free(last);
    last = strdup(line);
    if (strstr(line, " checkpoint station - - ") != NULL) {
      char *kp = strstr(line, " checkpoint station - - ") + 24;
      memcpy(keyid_hex, kp, 64);
    }
  }
  fclose(f);
  if (genesis_hex[0] == '\0' || keyid_hex[0] == '\0' || last == NULL || strstr(last, " checkpoint ") == NULL ||
      unhex(genesis, genesis_hex, 32) < 0 || unhex(keyid, keyid_hex, 32) < 0 ||
      unhex(prev, last + strlen(last) - 65, 32) < 0)
    return fprintf(stderr, "make_journal: %s does not end on a checkpoint (run `station journal init` first)\n", argv[1]), 1;
  seq = strtoull(last, NULL, 10);
  if (p11_open(&p, argv[5], argv[6], argv[7], pin) < 0)
    return fprintf(stderr, "make_journal: cannot sign with key %s on token %s\n", argv[7], argv[6]), 1;
  if ((f = fopen(argv[1], "a")) == NULL)
    return 1;
  setvbuf(f, NULL, _IOFBF, 1 << 20);
  body = malloc(8192 + strlen(cert_b64));
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  n_fields = strftime(tstamp, sizeof tstamp, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(tstamp + n_fields, sizeof tstamp - n_fields, ".%03ldZ", ts.tv_nsec / 1000000);
  for (uint64_t i = 1; i <= n; i++) {
    uint8_t h[32], idx[16];
    char csr[65], key[65], serial[33], dev[37];
    size_t len;
    memcpy(idx, &i, sizeof i);
    memcpy(idx + 8, genesis, 8);
    sha256(h, "csr", 3, idx, sizeof idx);
    hex(csr, h, 32);
    sha256(h, "key", 3, idx, sizeof idx);
    hex(key, h, 32);
    sha256(h, "ser", 3, idx, sizeof idx);
    h[0] = (h[0] & 0x7f) | 0x40;
    hex(serial, h, 16);
    sha256(h, "dev", 3, idx, sizeof idx);
    h[6] = (h[6] & 0x0f) | 0x40;
    h[8] = (h[8] & 0x3f) | 0x80;
    snprintf(dev, sizeof dev, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1], h[2],
             h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
    len = (size_t)sprintf(body, "%llu %s issued batch:/bench/csr/%llu.csr %s %s %s %s - - %s",
                          (unsigned long long)++seq, tstamp, (unsigned long long)i, dev, csr, key, serial, cert_b64);
    put_line(f, body, len, prev);
    if (i % k == 0 || i == n) {
      char msg[256], chain_hex[65], *b64;
      uint8_t digest[32], der[80];
      size_t der_len = 0;
      hex(chain_hex, prev, 32);
      len = (size_t)snprintf(msg, sizeof msg, "station-journal checkpoint 1 %s %llu %s\n", genesis_hex,
                             (unsigned long long)seq, chain_hex);
      sha256(digest, msg, len, NULL, 0);
      if (p11_sign(&p, digest, der, &der_len) < 0)
        return fprintf(stderr, "make_journal: the token did not sign\n"), 1;
      b64 = malloc(4 * ((der_len + 2) / 3) + 1);
      EVP_EncodeBlock((unsigned char *)b64, der, (int)der_len);
      len = (size_t)sprintf(body, "%llu %s checkpoint station - - %s - - covers%%20records%%201%%20to%%20%llu %s",
                            (unsigned long long)seq + 1, tstamp, keyid_hex, (unsigned long long)seq, b64);
      seq++;
      free(b64);
      put_line(f, body, len, prev);
    }
  }
  if (fclose(f) != 0)
    return fprintf(stderr, "make_journal: cannot write %s\n", argv[1]), 1;
  printf("make_journal: %s ends at record %llu\n", argv[1], (unsigned long long)seq);
  return 0;
}
