/*
 * station_fixture.h - a whole station for the unit tests that drive the
 * engine: in a directory with a SoftHSM token "station" (fixture.h), a factory
 * root made with openssl (DIR/root.key, DIR/root.pem), DIR/station.yaml and
 * the key ceremony's local CA (key "local-ca" in the token, DIR/local-ca.pem).
 */
#ifndef STATION_TEST_STATION_FIXTURE_H
#define STATION_TEST_STATION_FIXTURE_H

struct station_config;

/* Sets up the station in DIR for FACTORY: hsm.module MODULE, the PIN read
 * from the environment variable PIN_ENV (set here to PIN), the local CA named
 * CN, the journal in DIR/journal; *CFG gets the configuration loaded (free it
 * with config_free). 0, or -1 with the reason on stderr. */
int station_fixture_setup(const char *dir, const char *factory, const char *module, const char *pin_env,
                          const char *pin, const char *cn, struct station_config **cfg);

#endif
