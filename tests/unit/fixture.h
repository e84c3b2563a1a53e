/*
 * fixture.h - what several unit tests set up on the real machine: a temporary
 * directory, a fresh SoftHSM token in it, a child command, failing system
 * calls through the seam; and, for the tests
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

/* ---- faults through the system-call seam (station/base/syscalls.h) ----
 * The seam's calls by name: "write", "ftruncate", "fdatasync", "fsync",
 * "renameat", "syncfs". A rule makes some calls of one fail; the calls of a
 * name are counted (atomically: signing threads make them too) from the
 * first rule or count for that name. */

/* How a rule picks its calls. */
enum fixture_fault_when {
  FIXTURE_FAULT_AT,          /* call number AT only (1 = the next) */
  FIXTURE_FAULT_FROM,        /* call number AT and every one after it */
  FIXTURE_FAULT_AFTER_SHORT, /* every call once a write was cut short (AT unused) */
};

/* As ERR: the write goes half through and returns its short count. */
#define FIXTURE_FAULT_SHORT (-1)

/* Adds a rule: the calls of NAME that WHEN picks fail with errno ERR (or,
 * FIXTURE_FAULT_SHORT, a write goes half through). The first rule that
 * picks a call decides it. At most 8 rules; aborts the test on a name not
 * in the list or on a ninth rule. */
void fixture_fault(const char *name, enum fixture_fault_when when, long at, int err);

/* Counts the calls of NAME without failing any (as a rule would). */
void fixture_fault_count(const char *name);

/* The calls of NAME counted since the last fixture_fault_clear. */
long fixture_fault_calls(const char *name);

/* statvfs says BLOCKS free blocks of 4 KiB (the rest as the real call
 * says); BLOCKS < 0: statvfs fails with EIO. */
void fixture_fault_free_blocks(long blocks);

/* Clears the rules and counts and puts every real system call back. */
void fixture_fault_clear(void);

#endif
