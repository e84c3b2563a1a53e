/*
 * floor.c - the least work a certificate needs besides its cryptography, on
 * this machine and file system: a lower bound for the station's CPU per
 * certificate, so that a ratio to the CPU limit can be read against what is
 * reachable at all. One thread, the CSR files of a batch, three parts timed
 * apart (CPU time of the thread, user + system):
 *
 *   files   per certificate: the CSR file read (open, one read into a
 *           buffer of the cap's size, close), a certificate-sized file
 *           written atomically (a new temporary file, write, close, rename
 *           over the final name); per group of 256: the group's journal
 *           lines appended to one log file in one write, and an fdatasync.
 *           Seven system calls a certificate, the fewest these rules allow
 *   parse   per certificate: the CSR's PEM decoded to DER and its public
 *           key made an EVP_PKEY (what a verification needs), the cheapest
 *           way OpenSSL 3 offers; no other field of the CSR is read (stock
 *           PEM_read_bio_X509_REQ costs 90-150 us here, through OpenSSL 3's
 *           decoders)
 *   verify  for reference: one ECDSA P-256 verification with a key and
 *           context made beforehand (what `openssl speed` counts)
 *
 * Nothing of the station runs here: no policy, no serial numbers, no
 * certificate building, no token, no seal. The station's real CPU per
 * certificate is therefore above cryptography + files + parse, and
 *   crypto / (crypto + files + parse)
 * bounds the ratio to the CPU limit that any signer of files can reach
 * here, before the work that makes it a station.
 *
 * usage: floor CSR_DIR WORK_DIR
 * Prints "floor_files_us F", "floor_parse_us P" and "floor_verify_us V",
 * microseconds per certificate (per verification for V).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#define FLOOR_CERT_BYTES 704   /* a PEM certificate the station writes */
#define FLOOR_LINE_BYTES 480   /* an issued record in the journal */
#define FLOOR_GROUP 256
#define FLOOR_CSR_CAP 16384     /* the station's cap on a CSR file */
#define FLOOR_VERIFY_ROUNDS 2000

struct floor_csr {
  const char *name;
  char *pem;
  size_t len;
};

static double floor_cpu_us(void)
{
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static void floor_die(const char *what)
{
  perror(what);
  exit(1);
}

/* scandir filter: the *.csr files. */
static int floor_is_csr(const struct dirent *ent)
{
  size_t len = strlen(ent->d_name);
  return len > 4 && strcmp(ent->d_name + len - 4, ".csr") == 0;
}

/* Part "files": reads every CSR (kept for the parse part), writes a
 * certificate-sized file for each by rename, appends a line to a log. */
static double floor_files(int csr_fd, int out_fd, struct floor_csr *csrs, size_t n)
{
  static const char cert[FLOOR_CERT_BYTES] = {'C'};
  static const char lines[FLOOR_LINE_BYTES * FLOOR_GROUP] = {'J'};
  static char buf[FLOOR_CSR_CAP];
  int log_fd = openat(out_fd, "journal.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  double start = floor_cpu_us();
  if (log_fd < 0)
    floor_die("journal.log");
  for (size_t i = 0; i < n; i++) {
    char tmp[64], final[300];
    ssize_t got;
    int fd = openat(csr_fd, csrs[i].name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || (got = read(fd, buf, sizeof buf)) <= 0 || (size_t)got == sizeof buf ||
        (csrs[i].pem = malloc((size_t)got + 1)) == NULL)
      floor_die(csrs[i].name);
    memcpy(csrs[i].pem, buf, (size_t)got);
    csrs[i].len = (size_t)got;
    csrs[i].pem[csrs[i].len] = '\0';
    close(fd);

    snprintf(tmp, sizeof tmp, ".tmp-%zu", i);
    snprintf(final, sizeof final, "%.*s.pem", (int)strlen(csrs[i].name) - 4, csrs[i].name);
    fd = openat(out_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, cert, sizeof cert) != (ssize_t)sizeof cert || close(fd) != 0 ||
        renameat(out_fd, tmp, out_fd, final) != 0)
      floor_die(final);

    if ((i + 1) % FLOOR_GROUP == 0 || i + 1 == n) {
      size_t bytes = FLOOR_LINE_BYTES * (i % FLOOR_GROUP + 1);
      if (write(log_fd, lines, bytes) != (ssize_t)bytes || fdatasync(log_fd) != 0)
        floor_die("journal.log");
    }
  }
  close(log_fd);
  return (floor_cpu_us() - start) / (double)n;
}

/* The uncompressed P-256 point in a CSR's DER: the BIT STRING of 66 bytes
 * (03 42 00 04 ...) of its SubjectPublicKeyInfo. Enough for the bench's
 * CSRs; the station's own parser reads the whole structure. */
static const unsigned char *floor_point(const unsigned char *der, size_t len)
{
  for (size_t i = 0; i + 68 <= len; i++)
    if (der[i] == 0x03 && der[i + 1] == 0x42 && der[i + 2] == 0x00 && der[i + 3] == 0x04)
      return der + i + 3;
  return NULL;
}

/* Part "parse": the PEM's base64 decoded to DER, and the public key an
 * EVP_PKEY (what a verification needs), made the cheapest way OpenSSL 3
 * offers: the curve's parameters copied from a key made once, the point set
 * (which checks it is on the curve). */
static double floor_parse(const struct floor_csr *csrs, size_t n)
{
  EVP_PKEY *params = EVP_EC_gen("P-256");
  unsigned char der[4096];
  double start, per_cert;
  if (params == NULL) {
    fprintf(stderr, "floor: cannot make a P-256 key\n");
    exit(1);
  }
  start = floor_cpu_us();
  for (size_t i = 0; i < n; i++) {
    const char *body = strstr(csrs[i].pem, "-----\n"), *end = strstr(csrs[i].pem, "\n-----END");
    char b64[4096];
    size_t b64_len = 0;
    int der_len = -1;
    const unsigned char *point = NULL;
    EVP_PKEY *key = NULL;
    if (body != NULL && end != NULL && end > body) {
      for (const char *c = body + 6; c < end && b64_len < sizeof b64; c++)
        if (*c != '\n')
          b64[b64_len++] = *c;
      if (b64_len * 3 / 4 <= sizeof der)
        der_len = EVP_DecodeBlock(der, (const unsigned char *)b64, (int)b64_len);
    }
    if (der_len > 0)
      point = floor_point(der, (size_t)der_len);
    if (point == NULL || (key = EVP_PKEY_new()) == NULL || EVP_PKEY_copy_parameters(key, params) != 1 ||
        EVP_PKEY_set1_encoded_public_key(key, point, 65) != 1) {
      fprintf(stderr, "floor: %s does not parse\n", csrs[i].name);
      exit(1);
    }
    EVP_PKEY_free(key);
  }
  per_cert = (floor_cpu_us() - start) / (double)n;
  EVP_PKEY_free(params);
  return per_cert;
}

/* Part "verify": one P-256 verification, key and context made beforehand. */
static double floor_verify(void)
{
  EVP_PKEY *key = EVP_EC_gen("P-256");
  EVP_PKEY_CTX *sctx = key != NULL ? EVP_PKEY_CTX_new(key, NULL) : NULL;
  EVP_PKEY_CTX *vctx = key != NULL ? EVP_PKEY_CTX_new(key, NULL) : NULL;
  unsigned char digest[32] = {1}, sig[80];
  size_t sig_len = sizeof sig;
  double start, per_verify;
  if (sctx == NULL || vctx == NULL || EVP_PKEY_sign_init(sctx) != 1 ||
      EVP_PKEY_sign(sctx, sig, &sig_len, digest, sizeof digest) != 1 || EVP_PKEY_verify_init(vctx) != 1) {
    fprintf(stderr, "floor: cannot make a P-256 key\n");
    exit(1);
  }
  start = floor_cpu_us();
  for (int i = 0; i < FLOOR_VERIFY_ROUNDS; i++)
    if (EVP_PKEY_verify(vctx, sig, sig_len, digest, sizeof digest) != 1) {
      fprintf(stderr, "floor: the verification failed\n");
      exit(1);
    }
  per_verify = (floor_cpu_us() - start) / FLOOR_VERIFY_ROUNDS;
  EVP_PKEY_CTX_free(sctx);
  EVP_PKEY_CTX_free(vctx);
  EVP_PKEY_free(key);
  return per_verify;
}

int main(int argc, char **argv)
{
  struct dirent **names = NULL;
  struct floor_csr *csrs;
  int n, csr_fd, out_fd;
  double files, parse;

  if (argc != 3) {
    fprintf(stderr, "usage: floor CSR_DIR WORK_DIR\n");
    return 2;
  }
  if ((n = scandir(argv[1], &names, floor_is_csr, NULL)) < 0)
    floor_die(argv[1]);
  if (n == 0) {
    fprintf(stderr, "floor: no *.csr in %s\n", argv[1]);
    return 1;
  }
  if ((csrs = calloc((size_t)n, sizeof *csrs)) == NULL)
    floor_die("calloc");
  for (int i = 0; i < n; i++)
    csrs[i].name = names[i]->d_name;
  if ((csr_fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    floor_die(argv[1]);
  if (mkdir(argv[2], 0700) != 0 || (out_fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
    floor_die(argv[2]);
  files = floor_files(csr_fd, out_fd, csrs, (size_t)n);
  parse = floor_parse(csrs, (size_t)n);
  printf("floor_files_us %.1f\nfloor_parse_us %.1f\nfloor_verify_us %.1f\n", files, parse, floor_verify());
  for (int i = 0; i < n; i++) {
    free(csrs[i].pem);
    free(names[i]);
  }
  free(names);
  free(csrs);
  close(csr_fd);
  close(out_fd);
  return 0;
}
