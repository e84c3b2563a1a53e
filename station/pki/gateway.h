/*
 * gateway.h - the factory's device gateway, as the station tells boards of it.
 *
 * The gateway is the TLS server boards connect to once enrolled (a FoundriesFactory
 * device gateway; its server certificate is the factory's tls-crt, signed by
 * the factory root). The station never connects to it: it only checks, when
 * it starts, that the configured certificate (gateway.certificate) is one a
 * board will accept, and hands its URL to every board it enrolls over a
 * serial line, for the board's sota.toml (docs/line-protocol.md).
 *
 * The checks, at the station's time: the certificate chains to the factory
 * root (ca.root) as the only trust anchor and is valid now; its extended key
 * usage allows serverAuth (no extendedKeyUsage at all allows every use); and,
 * unless gateway.url names the gateway, it carries a DNS subjectAltName: the
 * first one is the gateway's name, and the URL is https://NAME:8443.
 */
#ifndef STATION_GATEWAY_H
#define STATION_GATEWAY_H

#include <time.h>
#include <openssl/x509.h>

struct st_detail;

/* The port of a gateway URL made from the certificate's name. */
#define GATEWAY_DEFAULT_PORT 8443

/* Checks the certificate at CERT_PATH against ROOT at NOW as said above and
 * gives the gateway's URL: URL when not NULL (already checked by config/),
 * else https://<first DNS name>:8443. Returns 0 and *URL_OUT (caller frees),
 * ST_E_GATEWAY_CERT with DETAIL naming the path and the misfit, or
 * ST_E_NO_MEMORY. */
int gateway_check(const char *cert_path, const char *url, X509 *root, time_t now, char **url_out,
                  struct st_detail *detail);

#endif
