/* station_fixture.c - a factory root, a configuration and a local CA for engine tests (see station_fixture.h). */
#include "station_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ceremony.h"
#include "config.h"
#include "error.h"
#include "fixture.h"

int station_fixture_token(struct station_fixture *sf, const char *name, const char *pin)
{
  snprintf(sf->dir, sizeof sf->dir, "/tmp/station-test-%s-XXXXXX", name);
  if (fixture_softhsm_token(sf->dir, "station", pin) != 0)
    return -1;
  snprintf(sf->journal, sizeof sf->journal, "%s/journal", sf->dir);
  return 0;
}

void station_fixture_cleanup(struct station_fixture *sf)
{
  fixture_fault_stop();
  config_free(sf->cfg);
  sf->cfg = NULL;
  fixture_remove_tree(sf->dir);
}

int station_fixture_teardown(void **state)
{
  struct station_fixture *sf = *state;
  station_fixture_cleanup(sf);
  free(sf);
  return 0;
}

int station_fixture_setup(struct station_fixture *sf, const char *factory, const char *module,
                          const char *pin_env, const char *pin, const char *cn)
{
  const char *dir = sf->dir;
  struct station_config **cfg = &sf->cfg;
  char cmd[2048], config[512], csr[512], root_key[512];
  struct ceremony_certify_args args;
  struct st_detail d = {""};
  FILE *fp;
  int r = -1;

  snprintf(cmd, sizeof cmd,
           "cd '%s' && openssl ecparam -genkey -name prime256v1 -out root.key 2>/dev/null && "
           "openssl req -new -x509 -key root.key -days 7300 -subj /CN=Factory-CA/OU=%s "
           "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign "
           "-out root.pem 2>/dev/null",
           dir, factory);
  if (setenv(pin_env, pin, 1) != 0 || system(cmd) != 0) {
    fprintf(stderr, "openssl could not make the factory root in %s\n", dir);
    goto out;
  }
  snprintf(config, sizeof config, "%s/station.yaml", dir);
  if ((fp = fopen(config, "w")) == NULL)
    goto out;
  fprintf(fp, "factory: %s\nhsm:\n  module: %s\n  token: station\n  key: local-ca\n  pin: env:%s\n"
              "ca:\n  certificate: %s/local-ca.pem\n  root: %s/root.pem\njournal:\n  path: %s\n",
          factory, module, pin_env, dir, dir, sf->journal);
  if (fclose(fp) != 0)
    goto out;
  if (config_load(config, cfg, &d) != ST_OK) {
    fprintf(stderr, "config: %s\n", d.text);
    goto out;
  }
  snprintf(csr, sizeof csr, "%s/local-ca.csr", dir);
  if (ceremony_init(*cfg, pin, cn, csr, NULL, &d) != ST_OK) {
    fprintf(stderr, "ceremony_init: %s\n", d.text);
    goto out;
  }
  snprintf(root_key, sizeof root_key, "%s/root.key", dir);
  memset(&args, 0, sizeof args);
  args.csr_path = csr;
  args.root_cert_path = (*cfg)->ca_root;
  args.root_key = root_key;
  args.factory = factory;
  args.days = 3650;
  args.out_path = (*cfg)->ca_certificate;
  if (ceremony_certify(&args, &d) != ST_OK) {
    fprintf(stderr, "ceremony_certify: %s\n", d.text);
    goto out;
  }
  r = 0;
out:
  return r;
}
