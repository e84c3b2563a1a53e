/*
 * fixture.h - what the unit tests set up on the real machine, in one place:
 * temporary directories, a fresh SoftHSM token, child commands, a journal
 * directory per test, the token opened through hsm/ with sign and verify,
 * and faults injected through the system-call seam (syscalls.h). The tests
 * that drive the whole engine add station_fixture.h (a factory root, a
 * configuration and the key ceremony's local CA on the token).
 */
#ifndef STATION_TEST_FIXTURE_H
#define STATION_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>

struct hsm;
struct hsm_key;

/* Runs ARGV (no shell, found on PATH) with stdout and stderr on /dev/null;
 * 0 when it exits 0, else -1. */
int fixture_run(char *const argv[]);

/* Removes DIR and everything under it. 0 or -1. */
int fixture_remove_tree(const char *dir);

/* Makes DIR_TEMPLATE ("/tmp/...-XXXXXX", completed in place) a new directory
 * with a SoftHSM configuration (tokens in DIR/tokens, file object store) that
 * SOFTHSM2_CONF now names, and a token LABEL with user PIN PIN (SO PIN
 * 12345678). 0, or -1 with the reason on stderr. */
int fixture_softhsm_token(char *dir_template, const char *label, const char *pin);

/* The SoftHSM module every token-backed unit test loads. */
#define FIXTURE_SOFTHSM_MODULE "/usr/lib/softhsm/libsofthsm2.so"

/* Checks that what the token-backed unit tests use is installed: the SoftHSM
 * module, softhsm2-util, pkcs11-tool and openssl, plus each of the EXTRA_FILES
 * (a NULL-terminated list, or NULL). Returns when everything is there;
 * otherwise prints "TEST: cannot run: ... is missing (bash
 * packaging/install-deps.sh --test)" and exits 1: a test that cannot set
 * itself up fails, it is never reported as skipped. */
void fixture_require_tools(const char *test, const char *const *extra_files);

/* Ends the test program with status 1 after printing "TEST: setup failed:
 * WHAT" on stderr: a fixture that cannot be built is a failed test. */
void fixture_setup_failed(const char *test, const char *what) __attribute__((noreturn));

/* Makes "/tmp/station-test-NAME-XXXXXX" a new directory holding a SoftHSM
 * token LABEL with user PIN PIN (fixture_softhsm_token), for a group of
 * tests. Returns the directory (free with fixture_token_free), or NULL with
 * the reason on stderr. */
char *fixture_token_new(const char *name, const char *label, const char *pin);

/* Removes DIR from fixture_token_new and everything in it, and frees it;
 * NULL is fine. 0 or -1. */
int fixture_token_free(char *dir);

/* The lines in the file at PATH (0 when there is no such file): how the
 * tests/pkcs11 slow_token module reports the calls it counted. */
long fixture_count_lines(const char *path);

/* The size of the file at PATH; fails the test when it cannot be read. */
off_t fixture_file_size(const char *path);

/* Milliseconds on the monotonic clock. */
int64_t fixture_now_ms(void);

/* ---- one journal directory per test ---- */

/* What fixture_journal_setup makes for one test: DIR from mkdtemp, JPATH the
 * journal directory DIR/j (not made: journal_open makes it), LOG its
 * JPATH/journal.log. */
struct fixture_journal {
  char dir[64];
  char jpath[96];
  char log[128];
};

/* cmocka setup: *STATE becomes a new struct fixture_journal. 0 or -1. */
int fixture_journal_setup(void **state);

/* cmocka teardown: the real system calls back (fixture_fault_stop), the
 * directory of *STATE removed, the struct freed. */
int fixture_journal_teardown(void **state);

/* ---- the token through hsm/ ---- */

/* Opens the token TOKEN through MODULE and logs in with PIN; fails the test
 * on any error. Close with hsm_close. */
struct hsm *fixture_hsm_login(const char *module, const char *token, const char *pin);

/* Signs MSG with SIGNER (EVP_DigestSign, SHA-256) into SIG (CAP bytes).
 * Returns the signature's length, or 0 when signing fails (the OpenSSL error
 * queue is cleared). */
size_t fixture_sign(EVP_PKEY *signer, const char *msg, unsigned char *sig, size_t cap);

/* 1 when SIG (LEN bytes) is PUB's SHA-256 signature over MSG, else 0. */
int fixture_verify(EVP_PKEY *pub, const char *msg, const unsigned char *sig, size_t len);

/* 1 when K's signer, taken now (as the engine takes it), makes a signature
 * that verifies with K's public half read from the token; else 0. */
int fixture_key_signs(struct hsm_key *k);

/* ---- faults through the system-call seam (syscalls.h) ----
 *
 * One layer for every unit test that makes a system call fail: the calls
 * below are routed through it, each counted (from any thread) and failed
 * when its fault says so. Only fixture_fault_start and fixture_fault_stop
 * touch the seam itself. */

enum fixture_call {
  FIXTURE_WRITE,
  FIXTURE_FSYNC,
  FIXTURE_FDATASYNC,
  FIXTURE_RENAMEAT,
  FIXTURE_FTRUNCATE,
  FIXTURE_SYNCFS,
  FIXTURE_STATVFS,
  FIXTURE_CALLS
};

/* Routes the calls above through the fault layer with no fault set and
 * every count at zero: they behave as the real calls until a fault is set. */
void fixture_fault_start(void);

/* Counting the calls of CALL made after this one (1: the next), calls AT to
 * AT + COUNT - 1 fail with errno ERR (COUNT 0: every call from AT on). AT 0
 * clears the fault of CALL. */
void fixture_fault_set(enum fixture_call call, long at, long count, int err);

/* The AT-th write after this one is torn: it writes half of what it is given
 * (a write of one byte fails instead) and the COUNT writes after it fail with
 * errno ERR (COUNT 0: every one). */
void fixture_fault_tear(long at, long count, int err);

/* statvfs reports BLOCKS free blocks of 4 KiB, or what the file system really
 * has with FIXTURE_ROOM_REAL. */
#define FIXTURE_ROOM_REAL (~0UL)
void fixture_fault_room(unsigned long blocks);

/* The calls of CALL made since fixture_fault_start (readable after
 * fixture_fault_stop too). */
long fixture_fault_calls(enum fixture_call call);

/* Puts the real system calls back into the seam and clears every fault. */
void fixture_fault_stop(void);

#endif
