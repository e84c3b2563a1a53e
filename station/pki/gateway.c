/* gateway.c - the device gateway's certificate checked, its URL made (see gateway.h). */
#include "gateway.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "certificate.h"
#include "error.h"

/* The longest DNS name taken from the certificate (RFC 1035: 253). */
#define GATEWAY_NAME_MAX 253

/* Whether the LEN bytes of NAME are a DNS name that can go on a line and into
 * a TOML string: letters, digits, '-' and '.', not starting with '.'. */
static int gateway_name_ok(const unsigned char *name, int len)
{
  int ok = len > 0 && len <= GATEWAY_NAME_MAX && name[0] != '.' && name[0] != '-';
  for (int i = 0; i < len && ok; i++)
    ok = (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
         (name[i] >= '0' && name[i] <= '9') || name[i] == '-' || name[i] == '.';
  return ok;
}

/* The URL of the first DNS subjectAltName of CERT, into *URL_OUT. */
static int gateway_url_from_name(X509 *cert, const char *path, char **url_out, struct st_detail *detail)
{
  int r = ST_E_GATEWAY_CERT;
  GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
  const ASN1_IA5STRING *dns = NULL;
  char *url = NULL;
  size_t size;

  for (int i = 0; names != NULL && i < sk_GENERAL_NAME_num(names) && dns == NULL; i++) {
    const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
    if (g->type == GEN_DNS)
      dns = g->d.dNSName;
  }
  if (dns == NULL) {
    st_detail_set(detail, "gateway certificate %s has no DNS subjectAltName to name the gateway; "
                  "set gateway.url", path);
    goto out;
  }
  if (!gateway_name_ok(ASN1_STRING_get0_data(dns), ASN1_STRING_length(dns))) {
    st_detail_set(detail, "gateway certificate %s: its first DNS subjectAltName is not a host name a board can "
                  "use (letters, digits, '-' and '.'); set gateway.url", path);
    goto out;
  }
  size = strlen("https://:65535") + (size_t)ASN1_STRING_length(dns) + 1;
  if ((url = malloc(size)) == NULL) {
    r = ST_E_NO_MEMORY;
    goto out;
  }
  snprintf(url, size, "https://%.*s:%d", ASN1_STRING_length(dns), (const char *)ASN1_STRING_get0_data(dns),
           GATEWAY_DEFAULT_PORT);
  *url_out = url;
  r = ST_OK;
out:
  GENERAL_NAMES_free(names);
  return r;
}

/* Checks that CERT chains to ROOT (the only trust anchor) at NOW. */
static int gateway_chain(X509 *cert, X509 *root, time_t now, const char *path, struct st_detail *detail)
{
  const char *why = "";
  int r = cert_verify_to_root(cert, root, now, 0, &why);
  if (r == 1) {
    st_detail_set(detail, "gateway certificate %s does not chain to the factory root: %s", path, why);
    r = ST_E_GATEWAY_CERT;
  }
  return r;
}

int gateway_check(const char *cert_path, const char *url, X509 *root, time_t now, char **url_out,
                  struct st_detail *detail)
{
  struct st_detail why = {""};
  X509 *cert = NULL;
  int r = cert_load_pem(cert_path, &cert, &why);

  if (r != ST_OK) {
    st_detail_set(detail, "gateway.certificate: %s", why.text);
    r = ST_E_GATEWAY_CERT;
    goto out;
  }
  if ((r = gateway_chain(cert, root, now, cert_path, detail)) != ST_OK)
    goto out;
  if ((X509_get_extended_key_usage(cert) & XKU_SSL_SERVER) == 0) {
    st_detail_set(detail, "gateway certificate %s is not for a TLS server: its extendedKeyUsage lacks serverAuth",
                  cert_path);
    r = ST_E_GATEWAY_CERT;
    goto out;
  }
  if (url == NULL) {
    r = gateway_url_from_name(cert, cert_path, url_out, detail);
  } else if ((*url_out = strdup(url)) == NULL) {
    r = ST_E_NO_MEMORY;
  }
out:
  X509_free(cert);
  ERR_clear_error();
  return r;
}
