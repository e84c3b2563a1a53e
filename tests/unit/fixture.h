/*
 * fixture.h - what several unit tests set up on the real machine: a temporary
 * directory, a fresh SoftHSM token in it, a child command; and, for the tests
 * that drive the whole engine (station_fixture.h), a factory root, a
 * configuration and the key ceremony's local CA on that token.
 */
#ifndef STATION_TEST_FIXTURE_H
#define STATION_TEST_FIXTURE_H

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

/* From the AT-th call of CALL after this one on (1: the next), COUNT calls
 * fail with errno ERR (COUNT 0: every call from there on). AT 0 clears the
 * fault of CALL. */
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
