/*
 * station_fixture.h - a whole station for the unit tests that drive the
 * engine: in a directory with a SoftHSM token "station" (fixture.h), a factory
 * root made with openssl (DIR/root.key, DIR/root.pem), DIR/station.yaml and
 * the key ceremony's local CA (key "local-ca" in the token, DIR/local-ca.pem).
 */
#ifndef STATION_TEST_STATION_FIXTURE_H
#define STATION_TEST_STATION_FIXTURE_H

struct station_config;

/* A station for a group of engine tests. */
struct station_fixture {
  char dir[64];               /* the token, the PKI, station.yaml, the journal */
  char journal[128];          /* DIR/journal */
  struct station_config *cfg; /* loaded by station_fixture_setup */
};

/* Makes "/tmp/station-test-NAME-XXXXXX" into SF->dir, a new directory with a
 * SoftHSM token "station" with user PIN PIN (fixture_softhsm_token), and
 * SF->journal. 0, or -1 with the reason on stderr. */
int station_fixture_token(struct station_fixture *sf, const char *name, const char *pin);

/* Sets up the station in SF->dir for FACTORY: hsm.module MODULE, the PIN read
 * from the environment variable PIN_ENV (set here to PIN), the local CA named
 * CN, the journal in SF->journal; SF->cfg gets the configuration loaded.
 * 0, or -1 with the reason on stderr. */
int station_fixture_setup(struct station_fixture *sf, const char *factory, const char *module,
                          const char *pin_env, const char *pin, const char *cn);

/* Puts the real system calls back (fixture_fault_stop), frees SF->cfg and
 * removes SF->dir. */
void station_fixture_cleanup(struct station_fixture *sf);

/* cmocka group teardown for a test's own fixture, allocated with malloc and
 * beginning with a struct station_fixture: station_fixture_cleanup, then
 * free. Returns 0. */
int station_fixture_teardown(void **state);

#endif
