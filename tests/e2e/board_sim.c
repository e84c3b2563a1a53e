/*
 * board_sim.c - simulated boards on pseudo-terminals, for the serial
 * end-to-end tests and the serial benchmark. Test code, not installed.
 *
 *   board_sim --factory F --root ROOT.pem --dir DIR [--board SCRIPT]... [--cable CMD]...
 *             [--bench N] [--wait S] [--stop-ms MS] -- STATION ARGS...
 *
 * Each --board gets a pty pair; the station is started (STATION ARGS, then
 * the port paths appended) on DIR/ttyBOARD<i>, a symlink to the pty's slave,
 * with its stderr in DIR/station.log. The board plays SCRIPT, a comma list of:
 *   noise          boot noise: text with CR/LF/CRLF, binary junk, NUL runs
 *   csr            new P-256 key, CSR CN=<uuid> OU=<factory>, sent in random
 *                  pieces; expects STATION OK, then checks the answer: three
 *                  PEMs, the certificate matches the key, chains to the local
 *                  CA and the root given with --root, serial on the OK line
 *   resend         the last CSR again: expects the very same certificate
 *   wrong-factory  a CSR with OU=other-factory: expects STATION ERR wrong-factory
 *   garbage        a block that is not base64: expects STATION ERR not-a-csr
 *   half           half a CSR, then silence: expects STATION ERR timeout
 *   huge           a 20 KiB block: expects STATION ERR too-large
 *   unplug         closes the pty pair, waits, makes a new one and re-points
 *                  the symlink (the adapter unplugged and plugged back)
 *   lost-answer    sends a new CSR and unplugs as soon as the answer starts,
 *                  without reading it; a "resend" after it must get the
 *                  certificate from the journal
 *   sleep:MS       waits
 *   sh:CMD         runs `sh -c CMD` and waits for it (CMD holds no comma): a
 *                  test changes the world between two steps, e.g. pulls the
 *                  station's token out through tests/pkcs11 slow_token
 *   err:CODE[:TEXT] a new, valid CSR: expects STATION ERR CODE (a fault of the
 *                  station's token, say: err:hsm), with TEXT in the sentence
 *                  when given (err:hsm:token station); it becomes the board's
 *                  last CSR, so a "resend" after it asks again for it
 *   file-err:PATH:CODE[:TEXT] sends the CSR in the file PATH (PEM; no ':' in
 *                  PATH) whole: expects STATION ERR CODE, with TEXT in the
 *                  sentence when given (two boards sending one copied key)
 *   csr-until:CODE new CSRs, each expected to be issued (checked as for csr),
 *                  until one is answered STATION ERR CODE (at most 20): a
 *                  journal disk filling up; that CSR becomes the last CSR
 *   run:PATH       runs `sh PATH` (no commas in PATH) and waits for it: ok
 *                  when it exits 0 (the test's own steps, e.g. filling a disk)
 *   touch:PATH     creates the file PATH (a mark another board may wait for)
 *   wait:PATH      waits (up to --wait seconds) until the file PATH exists
 * A refusal's check prints the whole STATION ERR line and how long the answer
 * took (from the last byte sent).
 * Each --cable CMD joins a second pty pair to the station's one (a null-modem
 * cable) and runs `sh -c CMD` with BOARD_TTY naming the board end; its exit
 * status is printed, not judged. --port-args no: the ports are not put on the
 * station's command line (it takes them from intake.serial). --bench N: every board sends N CSRs (after
 * one for warm-up) as fast as answers come, and the latency from the last
 * byte written to the STATION OK line read is reported (median, p99, boards/s);
 * --pace MS makes each board pause 0..2*MS ms (random) before each request.
 *
 * When the boards are done the station gets SIGTERM and must exit with status
 * 0 (with --stop-ms MS: within MS milliseconds, else it is killed and that is
 * a failure).
 *
 * Prints "ok   - ..." / "FAIL - ..." per check; exits 0 when none failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#define SIM_MAX_PORTS 64
#define SIM_ANSWER_MAX (64 * 1024)

struct board {
  int index;
  const char *script;
  int master, slave;
  char link[512];
  EVP_PKEY *key;
  char *csr;                  /* the last CSR sent (PEM) */
  char *cert;                 /* the last certificate received (PEM) */
  unsigned seed;
  char buf[SIM_ANSWER_MAX];   /* bytes read and not yet consumed */
  double sent_ms;             /* when the last request's last byte was written */
  size_t buf_len;
  double *latencies;          /* bench: ms per request */
  size_t latency_count;
  int failed;
};

struct cable {
  int index;
  const char *command;
  int station_master, station_slave, board_master, board_slave;
  char link[512], board_link[512];
  int status;
};

static const char *sim_factory, *sim_dir;
static X509 *sim_root;
static int sim_wait_s = 20, sim_bench, sim_port_args = 1, sim_pace_ms, sim_stop_ms;
static volatile int sim_relay_stop;
static pthread_mutex_t sim_print_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t sim_bench_barrier;
static int sim_failures;

static void sim_report(struct board *b, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sim_report(struct board *b, int ok, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&sim_print_lock);
  printf("%s - board %d: ", ok ? "ok  " : "FAIL", b != NULL ? b->index : -1);
  vprintf(fmt, ap);
  putchar('\n');
  fflush(stdout);
  if (!ok) {
    sim_failures++;
    if (b != NULL)
      b->failed = 1;
  }
  pthread_mutex_unlock(&sim_print_lock);
  va_end(ap);
}

static double sim_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static unsigned sim_rand(struct board *b)
{
  b->seed = b->seed * 1103515245u + 12345u;
  return b->seed >> 16;
}

/* A raw pty pair whose slave is reachable at LINK. */
static int sim_open_pty(int *master, int *slave, const char *link)
{
  struct termios raw;
  char name[256], tmp[600];
  memset(&raw, 0, sizeof raw);
  cfmakeraw(&raw);
  cfsetspeed(&raw, B115200);
  if (openpty(master, slave, name, &raw, NULL) != 0)
    return -1;
  /* the station (a child) must not hold our ends: closing them is the unplug */
  fcntl(*master, F_SETFD, FD_CLOEXEC);
  fcntl(*slave, F_SETFD, FD_CLOEXEC);
  snprintf(tmp, sizeof tmp, "%s.tmp", link);
  unlink(tmp);
  if (symlink(name, tmp) != 0 || rename(tmp, link) != 0)
    return -1;
  return 0;
}

static void sim_write_all(struct board *b, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t n = write(b->master, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      struct pollfd pfd = {b->master, POLLOUT, 0};
      poll(&pfd, 1, 100);
      continue;
    }
    data += n;
    len -= (size_t)n;
  }
}

/* Sends TEXT in random pieces with the board's own line ends. */
static void sim_send(struct board *b, const char *text)
{
  static const char *const ends[] = {"\n", "\r\n", "\r"};
  const char *eol = ends[b->index % 3];
  size_t cap = strlen(text) * 2 + 1, n = 0;
  char *out = malloc(cap);
  for (const char *p = text; *p != '\0'; p++) {
    if (*p == '\n') {
      memcpy(out + n, eol, strlen(eol));
      n += strlen(eol);
    } else {
      out[n++] = *p;
    }
  }
  for (size_t off = 0; off < n;) {
    size_t piece = 1 + sim_rand(b) % 200;
    if (piece > n - off)
      piece = n - off;
    sim_write_all(b, out + off, piece);
    off += piece;
    if (sim_rand(b) % 4 == 0)
      usleep(300);
  }
  free(out);
  b->sent_ms = sim_now_ms();
}

static void sim_noise(struct board *b)
{
  char junk[300];
  sim_send(b, "U-Boot 2023.04 (Jan 01 2024 - 00:00:00 +0000)\n\nDRAM:  512 MiB\nStarting kernel ...\n");
  for (size_t i = 0; i < sizeof junk; i++) {
    junk[i] = (char)(sim_rand(b) & 0xff);
    if (junk[i] == '-' || junk[i] == '\0')
      junk[i] = (char)0xff;
  }
  junk[sizeof junk - 1] = '\0';
  sim_write_all(b, junk, sizeof junk - 1);
  sim_write_all(b, "\0\0\0\0\r\n\0", 7);
  sim_send(b, "[    2.345678] random: crng init done\nlogin: ");
}

/* Reads until a whole "STATION OK|ERR ..." line; *ANSWER gets everything up
 * to and including it (caller frees). Returns 0, or -1 on timeout. */
static int sim_read_answer(struct board *b, int wait_ms, char **answer)
{
  double deadline = sim_now_ms() + wait_ms;
  for (;;) {
    char *line = b->buf;
    b->buf[b->buf_len] = '\0';
    while ((line = strstr(line, "STATION ")) != NULL) {
      char *nl = strchr(line, '\n');
      if (nl == NULL)
        break;
      if (strncmp(line, "STATION OK ", 11) == 0 || strncmp(line, "STATION ERR ", 12) == 0) {
        size_t len = (size_t)(nl + 1 - b->buf);
        *answer = strndup(b->buf, len);
        memmove(b->buf, b->buf + len, b->buf_len - len);
        b->buf_len -= len;
        return 0;
      }
      line = nl;
    }
    double left = deadline - sim_now_ms();
    struct pollfd pfd = {b->master, POLLIN, 0};
    if (left <= 0 || b->buf_len >= sizeof b->buf - 1)
      return -1;
    if (poll(&pfd, 1, (int)left + 1) > 0) {
      ssize_t n = read(b->master, b->buf + b->buf_len, sizeof b->buf - 1 - b->buf_len);
      if (n > 0)
        b->buf_len += (size_t)n;
      else if (n < 0 && errno != EAGAIN && errno != EINTR)
        usleep(10000); /* the station closed its side for a moment */
    }
  }
}

/* A CSR for a fresh key: CN=<random uuid>, OU=OU. */
static char *sim_make_csr(struct board *b, const char *ou)
{
  unsigned char r[16];
  char uuid[37], *pem = NULL;
  X509_REQ *req = X509_REQ_new();
  X509_NAME *name = X509_NAME_new();
  BIO *bio = BIO_new(BIO_s_mem());
  long len;
  char *data;

  EVP_PKEY_free(b->key);
  b->key = EVP_EC_gen("P-256");
  RAND_bytes(r, sizeof r);
  r[6] = (r[6] & 0x0f) | 0x40;
  r[8] = (r[8] & 0x3f) | 0x80;
  snprintf(uuid, sizeof uuid, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1],
           r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)uuid, -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "OU", MBSTRING_UTF8, (const unsigned char *)ou, -1, -1, 0);
  X509_REQ_set_subject_name(req, name);
  X509_REQ_set_pubkey(req, b->key);
  if (X509_REQ_sign(req, b->key, EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(bio, req) == 1) {
    len = BIO_get_mem_data(bio, &data);
    pem = strndup(data, (size_t)len);
  }
  BIO_free(bio);
  X509_NAME_free(name);
  X509_REQ_free(req);
  return pem;
}

/* Checks an OK answer against the board's key and the root; keeps the cert PEM. */
static int sim_check_issued(struct board *b, const char *answer, char **cert_pem)
{
  BIO *bio = BIO_new_mem_buf(answer, -1), *out = BIO_new(BIO_s_mem());
  X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  X509 *ca = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  X509 *root = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  X509_STORE *store = X509_STORE_new();
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  STACK_OF(X509) *untrusted = sk_X509_new_null();
  BIGNUM *serial = NULL;
  char *hex = NULL, *data;
  const char *ok_line = strstr(answer, "STATION OK ");
  int good = 0;

  if (cert == NULL || ca == NULL || root == NULL) {
    sim_report(b, 0, "the answer does not hold three certificates");
    goto out;
  }
  if (X509_cmp(root, sim_root) != 0) {
    sim_report(b, 0, "the root in the answer is not the factory root");
    goto out;
  }
  if (X509_check_private_key(cert, b->key) != 1) {
    sim_report(b, 0, "the certificate does not match the board's key");
    goto out;
  }
  X509_STORE_add_cert(store, sim_root);
  sk_X509_push(untrusted, ca);
  X509_STORE_CTX_init(ctx, store, cert, untrusted);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(ctx) != 1) {
    sim_report(b, 0, "the chain does not verify: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    goto out;
  }
  serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
  hex = BN_bn2hex(serial);
  {
    const char *said = ok_line + 11, *h = hex;
    long len;
    while (*said == '0')
      said++;
    while (*h == '0')
      h++;
    if (strncasecmp(said, h, strlen(h)) != 0 || said[strlen(h)] != '\n') {
      sim_report(b, 0, "the OK line's serial is not the certificate's (%s)", hex);
      goto out;
    }
    PEM_write_bio_X509(out, cert);
    len = BIO_get_mem_data(out, &data);
    *cert_pem = strndup(data, (size_t)len);
  }
  good = 1;
out:
  OPENSSL_free(hex);
  BN_free(serial);
  sk_X509_free(untrusted);
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(cert);
  X509_free(ca);
  X509_free(root);
  BIO_free(bio);
  BIO_free(out);
  return good;
}

/* Sends TEXT and expects an answer starting with WANT ("STATION OK" or "STATION ERR <code>"). */
static char *sim_exchange(struct board *b, const char *text, const char *want, const char *what)
{
  char *answer = NULL, *line;
  sim_send(b, text);
  if (sim_read_answer(b, sim_wait_s * 1000, &answer) != 0) {
    sim_report(b, 0, "%s: no answer within %d s", what, sim_wait_s);
    return NULL;
  }
  line = strstr(answer, "STATION ");
  if (strncmp(line, want, strlen(want)) != 0) {
    sim_report(b, 0, "%s: expected \"%s\", got \"%.*s\"", what, want, (int)strcspn(line, "\n"), line);
    free(answer);
    return NULL;
  }
  return answer;
}

static void sim_step_csr(struct board *b, int again)
{
  char *answer, *cert = NULL;
  if (!again) {
    free(b->csr);
    b->csr = sim_make_csr(b, sim_factory);
  }
  answer = sim_exchange(b, b->csr, "STATION OK ", again ? "resend" : "csr");
  if (answer == NULL || !sim_check_issued(b, answer, &cert)) {
    free(answer);
    return;
  }
  if (again && b->cert != NULL && strcmp(b->cert, cert) != 0)
    sim_report(b, 0, "resend: a different certificate came back");
  else
    sim_report(b, 1, "%s: certificate matches the key and chains to the root%s", again ? "resend" : "csr",
               again ? (b->cert != NULL ? "; the same certificate as before" : "; answer to a lost request") : "");
  free(b->cert);
  b->cert = cert;
  free(answer);
}

/* Sends TEXT and expects STATION ERR CODE; with SAYS, a sentence holding SAYS. */
static void sim_step_refused(struct board *b, const char *text, const char *code, const char *says, const char *what)
{
  char want[96], *answer, *line;
  double t0;
  snprintf(want, sizeof want, "STATION ERR %s ", code);
  answer = sim_exchange(b, text, want, what);
  t0 = b->sent_ms;
  if (answer == NULL)
    return;
  line = strstr(answer, want);
  line[strcspn(line, "\n")] = '\0';
  if (says != NULL && strstr(line + strlen(want), says) == NULL)
    sim_report(b, 0, "%s: the sentence does not say \"%s\": \"%s\"", what, says, line);
  else
    sim_report(b, 1, "%s: answered %s in %.0f ms%s%s: %s", what, code, sim_now_ms() - t0,
               says != NULL ? ", naming " : "", says != NULL ? says : "", line);
  free(answer);
}

/* New CSRs, each expected to be issued, until one is answered STATION ERR CODE. */
static void sim_step_csr_until(struct board *b, const char *code)
{
  char want[96];
  snprintf(want, sizeof want, "STATION ERR %s ", code);
  for (int i = 0; i < 20; i++) {
    char *answer = NULL, *cert = NULL, *line;
    free(b->csr);
    free(b->cert);
    b->cert = NULL;
    b->csr = sim_make_csr(b, sim_factory);
    sim_send(b, b->csr);
    if (sim_read_answer(b, sim_wait_s * 1000, &answer) != 0) {
      sim_report(b, 0, "csr-until:%s: no answer within %d s", code, sim_wait_s);
      return;
    }
    line = strstr(answer, "STATION ");
    if (strncmp(line, want, strlen(want)) == 0) {
      sim_report(b, 1, "csr-until:%s: %d issued, then answered %s in %.0f ms: %.*s", code, i, code,
                 sim_now_ms() - b->sent_ms, (int)strcspn(line, "\n"), line);
      free(answer);
      return;
    }
    if (strncmp(line, "STATION OK ", 11) != 0 || !sim_check_issued(b, answer, &cert)) {
      if (strncmp(line, "STATION OK ", 11) != 0)
        sim_report(b, 0, "csr-until:%s: expected OK or \"%s\", got \"%.*s\"", code, want, (int)strcspn(line, "\n"),
                   line);
      free(answer);
      return;
    }
    b->cert = cert;
    free(answer);
  }
  sim_report(b, 0, "csr-until:%s: 20 CSRs issued, none answered %s", code, code);
}

/* run:PATH - the test's own step, `sh PATH`; ok when it exits 0. */
static void sim_step_run(struct board *b, const char *path)
{
  int status = -1;
  pid_t pid = fork();
  if (pid == 0) {
    execl("/bin/sh", "sh", path, (char *)NULL);
    _exit(127);
  }
  if (pid > 0)
    waitpid(pid, &status, 0);
  sim_report(b, pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0, "run:%s: exit %d", path,
             pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* file-err:PATH:CODE[:TEXT] - the CSR in PATH, expected refused with CODE. */
static void sim_step_file_err(struct board *b, const char *arg)
{
  const char *colon = strchr(arg, ':'), *says;
  char path[512], code[64], text[16384];
  size_t n;
  FILE *f;
  if (colon == NULL) {
    sim_report(b, 0, "file-err:%s: no code after the path", arg);
    return;
  }
  snprintf(path, sizeof path, "%.*s", (int)(colon - arg), arg);
  says = strchr(colon + 1, ':');
  snprintf(code, sizeof code, "%.*s", says != NULL ? (int)(says - colon - 1) : 63, colon + 1);
  if ((f = fopen(path, "r")) == NULL) {
    sim_report(b, 0, "file-err: cannot read %s: %s", path, strerror(errno));
    return;
  }
  n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = '\0';
  sim_step_refused(b, text, code, says != NULL ? says + 1 : NULL, "file-err");
}

/* wait:PATH - until PATH exists, at most --wait seconds. */
static void sim_step_wait(struct board *b, const char *path)
{
  double deadline = sim_now_ms() + sim_wait_s * 1000.0;
  while (access(path, F_OK) != 0 && sim_now_ms() < deadline)
    usleep(20000);
  if (access(path, F_OK) != 0)
    sim_report(b, 0, "wait:%s: not there after %d s", path, sim_wait_s);
}

static void sim_step_unplug(struct board *b)
{
  close(b->master);
  close(b->slave);
  b->buf_len = 0;
  usleep(300000);
  if (sim_open_pty(&b->master, &b->slave, b->link) != 0)
    sim_report(b, 0, "unplug: cannot make a new pty: %s", strerror(errno));
  else
    sim_report(b, 1, "unplug: pty pair closed, a new one behind %s", b->link);
}

static void sim_run_script(struct board *b)
{
  char *script = strdup(b->script), *save = NULL;
  for (char *step = strtok_r(script, ",", &save); step != NULL; step = strtok_r(NULL, ",", &save)) {
    if (strcmp(step, "noise") == 0) {
      sim_noise(b);
    } else if (strcmp(step, "csr") == 0 || strcmp(step, "resend") == 0) {
      sim_step_csr(b, step[0] == 'r');
    } else if (strcmp(step, "wrong-factory") == 0) {
      char *csr = sim_make_csr(b, "other-factory");
      sim_step_refused(b, csr, "wrong-factory", NULL, step);
      free(csr);
    } else if (strncmp(step, "err:", 4) == 0) {
      free(b->csr);
      free(b->cert);
      b->cert = NULL;
      b->csr = sim_make_csr(b, sim_factory); /* a "resend" after it asks for it again */
      {
        const char *says = strchr(step + 4, ':');
        char code[64];
        snprintf(code, sizeof code, "%.*s", says != NULL ? (int)(says - step - 4) : 63, step + 4);
        sim_step_refused(b, b->csr, code, says != NULL ? says + 1 : NULL, step);
      }
    } else if (strncmp(step, "file-err:", 9) == 0) {
      sim_step_file_err(b, step + 9);
    } else if (strncmp(step, "csr-until:", 10) == 0) {
      sim_step_csr_until(b, step + 10);
    } else if (strncmp(step, "run:", 4) == 0) {
      sim_step_run(b, step + 4);
    } else if (strncmp(step, "touch:", 6) == 0) {
      FILE *f = fopen(step + 6, "w");
      if (f != NULL)
        fclose(f);
      else
        sim_report(b, 0, "touch:%s: %s", step + 6, strerror(errno));
    } else if (strncmp(step, "wait:", 5) == 0) {
      sim_step_wait(b, step + 5);
    } else if (strcmp(step, "garbage") == 0) {
      sim_step_refused(b, "-----BEGIN CERTIFICATE REQUEST-----\nnot*base64!\n-----END CERTIFICATE REQUEST-----\n",
                       "not-a-csr", NULL, step);
    } else if (strcmp(step, "half") == 0) {
      char *csr = sim_make_csr(b, sim_factory);
      csr[strlen(csr) / 2] = '\0';
      sim_step_refused(b, csr, "timeout", NULL, step);
      free(csr);
    } else if (strcmp(step, "huge") == 0) {
      size_t cap = 24 * 1024, n = 0;
      char *big = malloc(cap);
      n += (size_t)sprintf(big, "-----BEGIN CERTIFICATE REQUEST-----\n");
      while (n < 21 * 1024)
        n += (size_t)sprintf(big + n, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2\n");
      sprintf(big + n, "-----END CERTIFICATE REQUEST-----\n");
      sim_step_refused(b, big, "too-large", NULL, step);
      free(big);
    } else if (strcmp(step, "unplug") == 0) {
      sim_step_unplug(b);
    } else if (strcmp(step, "lost-answer") == 0) {
      free(b->csr);
      free(b->cert);
      b->cert = NULL;
      b->csr = sim_make_csr(b, sim_factory);
      sim_send(b, b->csr);
      {
        struct pollfd pfd = {b->master, POLLIN, 0}; /* the answer starts: the request was decided */
        poll(&pfd, 1, sim_wait_s * 1000);
      }
      sim_step_unplug(b);
    } else if (strncmp(step, "sleep:", 6) == 0) {
      usleep((useconds_t)atoi(step + 6) * 1000);
    } else if (strncmp(step, "sh:", 3) == 0) {
      int status = system(step + 3);
      if (status != 0)
        sim_report(b, 0, "sh: \"%s\" exited with status %d", step + 3, status);
    } else {
      sim_report(b, 0, "unknown step \"%s\"", step);
    }
  }
  free(script);
}

static void sim_run_bench(struct board *b)
{
  char **csrs = calloc((size_t)sim_bench + 1, sizeof *csrs);
  EVP_PKEY **keys = calloc((size_t)sim_bench + 1, sizeof *keys);
  for (int i = 0; i <= sim_bench; i++) {
    csrs[i] = sim_make_csr(b, sim_factory);
    keys[i] = b->key;
    b->key = NULL;
  }
  b->latencies = calloc((size_t)sim_bench, sizeof *b->latencies);
  for (int i = 0; i <= sim_bench; i++) {
    char *answer = NULL;
    double t0;
    if (i == 1)
      pthread_barrier_wait(&sim_bench_barrier);
    if (i > 0 && sim_pace_ms > 0) /* a row of boards, not a flood: a pause of 0..2*pace ms */
      usleep((useconds_t)(sim_rand(b) % (unsigned)(2 * sim_pace_ms + 1)) * 1000);
    sim_write_all(b, csrs[i], strlen(csrs[i]));
    t0 = sim_now_ms();
    if (sim_read_answer(b, sim_wait_s * 1000, &answer) != 0 || strstr(answer, "STATION OK ") == NULL) {
      sim_report(b, 0, "bench request %d: no STATION OK", i);
    } else if (i > 0) {
      b->latencies[b->latency_count++] = sim_now_ms() - t0;
    }
    free(answer);
  }
  if (!b->failed)
    sim_report(b, 1, "bench: %d requests answered STATION OK", sim_bench);
  for (int i = 0; i <= sim_bench; i++) {
    free(csrs[i]);
    EVP_PKEY_free(keys[i]);
  }
  free(csrs);
  free(keys);
}

static void *sim_board_thread(void *arg)
{
  struct board *b = arg;
  if (sim_bench > 0)
    sim_run_bench(b);
  else
    sim_run_script(b);
  return NULL;
}

/* Copies bytes both ways between the two masters of a cable. */
static void *sim_relay_thread(void *arg)
{
  struct cable *c = arg;
  char buf[4096];
  while (!sim_relay_stop) {
    struct pollfd p[2] = {{c->station_master, POLLIN, 0}, {c->board_master, POLLIN, 0}};
    if (poll(p, 2, 50) <= 0)
      continue;
    for (int i = 0; i < 2; i++) {
      if (p[i].revents & POLLIN) {
        ssize_t n = read(p[i].fd, buf, sizeof buf);
        int to = i == 0 ? c->board_master : c->station_master;
        for (ssize_t off = 0; n > 0 && off < n;) {
          ssize_t w = write(to, buf + off, (size_t)(n - off));
          if (w > 0)
            off += w;
          else if (errno != EINTR && errno != EAGAIN)
            break;
        }
      }
    }
  }
  return NULL;
}

static void *sim_cable_thread(void *arg)
{
  struct cable *c = arg;
  pid_t pid = fork();
  if (pid == 0) {
    setenv("BOARD_TTY", c->board_link, 1);
    execl("/bin/sh", "sh", "-c", c->command, (char *)NULL);
    _exit(127);
  }
  waitpid(pid, &c->status, 0);
  pthread_mutex_lock(&sim_print_lock);
  printf("cable %d: exit %d\n", c->index, WIFEXITED(c->status) ? WEXITSTATUS(c->status) : 128);
  fflush(stdout);
  pthread_mutex_unlock(&sim_print_lock);
  return NULL;
}

static int sim_compare(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void sim_bench_summary(struct board *boards, int n, double wall_ms)
{
  size_t total = 0, k = 0;
  double *all;
  for (int i = 0; i < n; i++)
    total += boards[i].latency_count;
  if (total == 0)
    return;
  all = calloc(total, sizeof *all);
  for (int i = 0; i < n; i++)
    for (size_t j = 0; j < boards[i].latency_count; j++)
      all[k++] = boards[i].latencies[j];
  qsort(all, total, sizeof *all, sim_compare);
  printf("bench: %d ports, %zu requests, latency median %.3f ms, p99 %.3f ms, max %.3f ms, %.1f boards/s\n", n,
         total, all[total / 2], all[(size_t)(total * 0.99) < total ? (size_t)(total * 0.99) : total - 1],
         all[total - 1], total / (wall_ms / 1000.0));
  free(all);
}

static int sim_usage(void)
{
  fprintf(stderr, "usage: board_sim --factory F --root ROOT.pem --dir DIR [--board SCRIPT]... [--cable CMD]...\n"
                  "                 [--bench N [--pace MS]] [--wait S] [--stop-ms MS] [--port-args no]\n"
                  "                 -- STATION ARGS...\n");
  return 2;
}

int main(int argc, char **argv)
{
  static struct board boards[SIM_MAX_PORTS];
  static struct cable cables[SIM_MAX_PORTS];
  pthread_t board_threads[SIM_MAX_PORTS], cable_threads[SIM_MAX_PORTS], relays[SIM_MAX_PORTS];
  int nb = 0, nc = 0, argi = 1, status = 0;
  const char *root_path = NULL;
  char **station_argv, log_path[600];
  pid_t station;
  double t_start, t_stop;
  int stopped_ok, reaped;
  FILE *f;

  for (; argi < argc && strcmp(argv[argi], "--") != 0; argi += 2) {
    if (argi + 1 >= argc)
      return sim_usage();
    if (strcmp(argv[argi], "--factory") == 0) sim_factory = argv[argi + 1];
    else if (strcmp(argv[argi], "--root") == 0) root_path = argv[argi + 1];
    else if (strcmp(argv[argi], "--dir") == 0) sim_dir = argv[argi + 1];
    else if (strcmp(argv[argi], "--wait") == 0) sim_wait_s = atoi(argv[argi + 1]);
    else if (strcmp(argv[argi], "--bench") == 0) sim_bench = atoi(argv[argi + 1]);
    else if (strcmp(argv[argi], "--pace") == 0) sim_pace_ms = atoi(argv[argi + 1]);
    else if (strcmp(argv[argi], "--stop-ms") == 0) sim_stop_ms = atoi(argv[argi + 1]);
    else if (strcmp(argv[argi], "--port-args") == 0) sim_port_args = strcmp(argv[argi + 1], "no") != 0;
    else if (strcmp(argv[argi], "--board") == 0 && nb < SIM_MAX_PORTS) boards[nb++].script = argv[argi + 1];
    else if (strcmp(argv[argi], "--cable") == 0 && nc < SIM_MAX_PORTS) cables[nc++].command = argv[argi + 1];
    else return sim_usage();
  }
  if (argi >= argc - 1 || sim_factory == NULL || root_path == NULL || sim_dir == NULL || nb + nc == 0)
    return sim_usage();
  if ((f = fopen(root_path, "r")) == NULL || (sim_root = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
    fprintf(stderr, "board_sim: cannot read the root %s\n", root_path);
    return 2;
  }
  fclose(f);
  signal(SIGPIPE, SIG_IGN);

  station_argv = calloc((size_t)(argc - argi + nb + nc + 1), sizeof *station_argv);
  memcpy(station_argv, argv + argi + 1, (size_t)(argc - argi - 1) * sizeof *station_argv);
  for (int i = 0; i < nb; i++) {
    boards[i].index = i;
    boards[i].seed = 7919u * (unsigned)(i + 1);
    snprintf(boards[i].link, sizeof boards[i].link, "%s/ttyBOARD%d", sim_dir, i);
    if (sim_open_pty(&boards[i].master, &boards[i].slave, boards[i].link) != 0) {
      perror("board_sim: pty");
      return 2;
    }
    if (sim_port_args)
      station_argv[argc - argi - 1 + i] = boards[i].link;
  }
  for (int i = 0; i < nc; i++) {
    cables[i].index = i;
    snprintf(cables[i].link, sizeof cables[i].link, "%s/ttyCABLE%d", sim_dir, i);
    snprintf(cables[i].board_link, sizeof cables[i].board_link, "%s/ttyCABLE%d.board", sim_dir, i);
    if (sim_open_pty(&cables[i].station_master, &cables[i].station_slave, cables[i].link) != 0 ||
        sim_open_pty(&cables[i].board_master, &cables[i].board_slave, cables[i].board_link) != 0) {
      perror("board_sim: pty");
      return 2;
    }
    if (sim_port_args)
      station_argv[argc - argi - 1 + nb + i] = cables[i].link;
  }

  snprintf(log_path, sizeof log_path, "%s/station.log", sim_dir);
  station = fork();
  if (station == 0) {
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 2);
    execv(station_argv[0], station_argv);
    _exit(127);
  }
  if (sim_bench > 0)
    pthread_barrier_init(&sim_bench_barrier, NULL, (unsigned)nb + 1);
  for (int i = 0; i < nc; i++)
    pthread_create(&relays[i], NULL, sim_relay_thread, &cables[i]);
  for (int i = 0; i < nb; i++)
    pthread_create(&board_threads[i], NULL, sim_board_thread, &boards[i]);
  for (int i = 0; i < nc; i++)
    pthread_create(&cable_threads[i], NULL, sim_cable_thread, &cables[i]);
  if (sim_bench > 0)
    pthread_barrier_wait(&sim_bench_barrier);
  t_start = sim_now_ms();
  for (int i = 0; i < nb; i++)
    pthread_join(board_threads[i], NULL);
  if (sim_bench > 0)
    sim_bench_summary(boards, nb, sim_now_ms() - t_start);
  for (int i = 0; i < nc; i++)
    pthread_join(cable_threads[i], NULL);
  sim_relay_stop = 1;
  for (int i = 0; i < nc; i++)
    pthread_join(relays[i], NULL);

  t_stop = sim_now_ms();
  kill(station, SIGTERM);
  reaped = 0;
  while (sim_stop_ms > 0 && !reaped) {
    /* a station that does not stop in time is killed: the test fails, it does not hang */
    reaped = waitpid(station, &status, WNOHANG) == station;
    if (!reaped && sim_now_ms() - t_stop > sim_stop_ms) {
      printf("FAIL - the station did not stop within %d ms of SIGTERM: killed\n", sim_stop_ms);
      sim_failures++;
      kill(station, SIGKILL);
      break;
    }
    if (!reaped)
      usleep(10000);
  }
  if (!reaped)
    waitpid(station, &status, 0);
  t_stop = sim_now_ms() - t_stop;
  stopped_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && (sim_stop_ms == 0 || t_stop <= sim_stop_ms);
  printf("%s - the station stopped on SIGTERM with exit status %d in %.0f ms\n", stopped_ok ? "ok  " : "FAIL",
         WIFEXITED(status) ? WEXITSTATUS(status) : 128, t_stop);
  if (!stopped_ok)
    sim_failures++;
  for (int i = 0; i < nb; i++) {
    EVP_PKEY_free(boards[i].key);
    free(boards[i].csr);
    free(boards[i].cert);
    free(boards[i].latencies);
  }
  free(station_argv);
  X509_free(sim_root);
  return sim_failures == 0 ? 0 : 1;
}
