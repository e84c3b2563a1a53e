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

#endif
