/* ceremony.c - local CA key ceremony and health report (see ceremony.h). */
#include "ceremony.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "audit.h"
#include "certificate.h"
#include "config.h"
#include "csr.h"
#include "error.h"
#include "hsm.h"
#include "log.h"
#include "output.h"
#include "pin.h"
#include "policy.h"

/* 1 when CN is "fio-" followed by 1-60 of [A-Za-z0-9._-]. */
static int ceremony_cn_ok(const char *cn)
{
  size_t len = strlen(cn);
  int ok = len > 4 && len <= 64 && strncmp(cn, "fio-", 4) == 0;
  for (size_t i = 4; ok && i < len; i++)
    ok = isalnum((unsigned char)cn[i]) || cn[i] == '.' || cn[i] == '_' || cn[i] == '-';
  return ok;
}

/* Writes a PEM object produced by WRITE into PATH atomically. */
static int ceremony_write_pem(const char *path, int (*write)(BIO *, void *), void *object, struct st_detail *detail)
{
  int r = ST_E_CRYPTO;
  BIO *mem = BIO_new(BIO_s_mem());
  char *data = NULL;
  long len;
  if (mem == NULL || write(mem, object) != 1)
    goto out;
  len = BIO_get_mem_data(mem, &data);
  r = output_write_path(path, data, (size_t)len, detail);
out:
  BIO_free(mem);
  return r;
}

static int ceremony_write_req(BIO *b, void *req)
{
  return PEM_write_bio_X509_REQ(b, req);
}

static int ceremony_write_cert(BIO *b, void *cert)
{
  return PEM_write_bio_X509(b, cert);
}

/* Adds the extension request of the local-CA profile to REQ. */
static int ceremony_request_ca_profile(X509_REQ *req)
{
  int r = ST_E_CRYPTO;
  STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
  X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
  X509_EXTENSION *ku = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage, "critical,keyCertSign");
  if (exts == NULL || bc == NULL || ku == NULL || !sk_X509_EXTENSION_push(exts, bc))
    goto out;
  bc = NULL;
  if (!sk_X509_EXTENSION_push(exts, ku))
    goto out;
  ku = NULL;
  if (X509_REQ_add_extensions(req, exts) != 1)
    goto out;
  r = ST_OK;
out:
  X509_EXTENSION_free(bc);
  X509_EXTENSION_free(ku);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  return r;
}

/* Builds and signs the local CA CSR with the token key K. */
static int ceremony_build_csr(struct hsm_key *k, const char *cn, const char *factory, X509_REQ **out,
                              struct st_detail *detail)
{
  int r = ST_E_HSM;
  X509_REQ *req = X509_REQ_new();
  X509_NAME *name = X509_NAME_new();
  EVP_PKEY *pub = hsm_key_public(k);

  if (pub == NULL) {
    st_detail_set(detail, "the token does not show the new key's public half");
    goto out;
  }
  r = ST_E_CRYPTO;
  if (req == NULL || name == NULL || X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1 ||
      X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_NID(name, NID_organizationalUnitName, MBSTRING_UTF8, (const unsigned char *)factory,
                                 -1, -1, 0) != 1 ||
      X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, pub) != 1 ||
      ceremony_request_ca_profile(req) != ST_OK)
    goto out;
  r = ST_E_HSM;
  if (X509_REQ_sign(req, hsm_key_signer(k), EVP_sha256()) <= 0) {
    st_detail_set(detail, "the token could not sign the CSR");
    st_detail_add_openssl(detail);
    goto out;
  }
  if (X509_REQ_verify(req, pub) != 1) {
    r = ST_E_SIGN_VERIFY;
    st_detail_set(detail, "the CSR signed by the token does not verify with the token's public key");
    goto out;
  }
  *out = req;
  req = NULL;
  r = ST_OK;
out:
  if (r == ST_E_CRYPTO)
    st_detail_add_openssl(detail);
  EVP_PKEY_free(pub);
  X509_NAME_free(name);
  X509_REQ_free(req);
  return r;
}

/* Prints the journal key's fingerprint line ("journal key: sha256:<hex>",
 * audit_print_fingerprint) to OUT, or a line saying why there is none. */
static void ceremony_journal_key(struct hsm *h, const struct station_config *cfg, FILE *out)
{
  struct hsm_key *k = NULL;
  struct st_detail why = {""};
  EVP_PKEY *pub = NULL;
  if (hsm_find_key(h, cfg->hsm_journal_key, &k, &why) != ST_OK)
    fprintf(out, "journal key: none usable yet (%s); `station journal init` or the first request makes it\n",
            why.text);
  else if ((pub = hsm_key_public(k)) == NULL || audit_print_fingerprint(out, pub) != ST_OK)
    fprintf(out, "journal key: \"%s\" shows no public key\n", cfg->hsm_journal_key);
  EVP_PKEY_free(pub);
  hsm_key_free(k);
}

/* The kind of token TI describes: SoftHSM by its manufacturer or model
 * ("SoftHSM project", "SoftHSM v2"); a TPM by a model naming it (swtpm: "SW
 * TPM") or by the tpm2-pkcs11 module of MODULE (a real TPM's model is its
 * vendor's part number); anything else is taken for a hardware token. */
enum ceremony_token_kind { TOKEN_HARDWARE, TOKEN_SOFTWARE, TOKEN_TPM };

static enum ceremony_token_kind ceremony_token_kind(const struct hsm_token_info *ti, const char *module)
{
  const char *base = strrchr(module, '/');
  if (strstr(ti->manufacturer, "SoftHSM") != NULL || strstr(ti->model, "SoftHSM") != NULL)
    return TOKEN_SOFTWARE;
  if (strstr(ti->model, "TPM") != NULL || strstr(base != NULL ? base : module, "tpm2") != NULL)
    return TOKEN_TPM;
  return TOKEN_HARDWARE;
}

int ceremony_init(const struct station_config *cfg, const char *pin, const char *cn, const char *out_path,
                  FILE *out, struct st_detail *detail)
{
  int r = ST_E_USAGE;
  struct hsm *h = NULL;
  struct hsm_key *k = NULL;
  X509_REQ *req = NULL;

  if (!ceremony_cn_ok(cn)) {
    st_detail_set(detail, "--cn must be fio-<user id> (letters, digits, '.', '_', '-'), got \"%.80s\"", cn);
    goto out;
  }
  r = hsm_open(cfg->hsm_module, cfg->hsm_token, &h, detail);
  if (r == ST_OK)
    r = hsm_login(h, pin, detail);
  if (r == ST_OK)
    r = hsm_generate_ec_p256(h, cfg->hsm_key, &k, detail);
  if (r == ST_OK)
    r = ceremony_build_csr(k, cn, cfg->factory, &req, detail);
  if (r == ST_OK)
    r = ceremony_write_pem(out_path, ceremony_write_req, req, detail);
  if (r == ST_OK)
    st_info("generated key \"%s\" in token \"%s\" (EC P-256, sensitive, not extractable); CSR written to %s",
            cfg->hsm_key, cfg->hsm_token, out_path);
  if (r == ST_OK && out != NULL)
    ceremony_journal_key(h, cfg, out);
out:
  X509_REQ_free(req);
  hsm_key_free(k);
  hsm_close(h);
  return r;
}

/* Reads the local CA CSR and checks what a local CA CSR must be. */
static int ceremony_read_ca_csr(const struct ceremony_certify_args *args, struct csr **out, struct st_detail *detail)
{
  int r = ST_E_USAGE;
  FILE *f = fopen(args->csr_path, "rb");
  uint8_t buf[CSR_MAX_BYTES + 1];
  size_t len = 0;
  struct csr *c = NULL;
  const X509_NAME *subject;
  int cn_index, ou_index;

  if (f == NULL) {
    st_detail_set(detail, "cannot read %s", args->csr_path);
    goto out;
  }
  len = fread(buf, 1, sizeof buf, f);
  r = csr_parse(buf, len, &c, detail);
  if (r == ST_OK)
    r = policy_check_crypto(c, detail);
  if (r != ST_OK)
    goto out;
  r = ST_E_COMMON_NAME;
  subject = csr_subject(c);
  cn_index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  ou_index = X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, -1);
  if (cn_index < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, cn_index) >= 0) {
    st_detail_set(detail, "a local CA CSR holds exactly one CN, fio-<user id>");
    goto out;
  }
  {
    const ASN1_STRING *cn = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn_index));
    if (ASN1_STRING_length(cn) < 5 || memcmp(ASN1_STRING_get0_data(cn), "fio-", 4) != 0) {
      st_detail_set(detail, "the CSR's CN does not start with fio- (the user who will own its devices)");
      goto out;
    }
  }
  r = ST_E_FACTORY;
  if (ou_index < 0 || X509_NAME_get_index_by_NID(subject, NID_organizationalUnitName, ou_index) >= 0) {
    st_detail_set(detail, "a local CA CSR holds exactly one OU, the factory name");
    goto out;
  }
  if (args->factory != NULL) {
    const ASN1_STRING *ou = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, ou_index));
    if ((size_t)ASN1_STRING_length(ou) != strlen(args->factory) ||
        memcmp(ASN1_STRING_get0_data(ou), args->factory, strlen(args->factory)) != 0) {
      st_detail_set(detail, "the CSR's OU is not the factory \"%s\"", args->factory);
      goto out;
    }
  }
  *out = c;
  c = NULL;
  r = ST_OK;
out:
  csr_free(c);
  if (f != NULL)
    fclose(f);
  return r;
}

/* The root key from a PEM file. */
static int ceremony_root_key_file(const char *path, X509 *root, EVP_PKEY **out, struct st_detail *detail)
{
  int r = ST_E_CA_CERT;
  BIO *in = BIO_new_file(path, "r");
  EVP_PKEY *key = in != NULL ? PEM_read_bio_PrivateKey(in, NULL, NULL, NULL) : NULL;
  if (key == NULL) {
    st_detail_set(detail, "cannot read a private key from %s", path);
    goto out;
  }
  if (X509_check_private_key(root, key) != 1) {
    st_detail_set(detail, "the key in %s does not belong to the root certificate", path);
    goto out;
  }
  *out = key;
  key = NULL;
  r = ST_OK;
out:
  EVP_PKEY_free(key);
  BIO_free(in);
  ERR_clear_error();
  return r;
}

/* The root key in a PKCS#11 token named by URI; H and K stay open for signing. */
static int ceremony_root_key_token(const struct ceremony_certify_args *args, struct hsm **h, struct hsm_key **k,
                                   struct st_detail *detail)
{
  int r;
  struct hsm_uri uri;
  struct pin *pin = NULL;
  enum pin_source kind = PIN_FROM_PROMPT;
  const char *ref = NULL;
  char prompt[128];

  memset(&uri, 0, sizeof uri);
  r = hsm_uri_parse(args->root_key, &uri, detail);
  if (r != ST_OK)
    goto out;
  r = ST_E_USAGE;
  if (uri.token == NULL || uri.object == NULL) {
    st_detail_set(detail, "the root key URI must name token= and object=");
    goto out;
  }
  if (uri.pin_source != NULL && pin_parse_source(uri.pin_source, &kind, &ref) != ST_OK) {
    st_detail_set(detail, "pin-source must be env:NAME, file:PATH or an absolute path");
    goto out;
  }
  snprintf(prompt, sizeof prompt, "PIN of token \"%.32s\" (factory root): ", uri.token);
  r = pin_obtain(kind, ref, prompt, &pin, detail);
  if (r == ST_OK)
    r = hsm_open(uri.module_path != NULL ? uri.module_path
                 : args->default_module != NULL ? args->default_module
                                                : "/usr/lib/softhsm/libsofthsm2.so",
                 uri.token, h, detail);
  if (r == ST_OK)
    r = hsm_login(*h, pin_value(pin), detail);
  if (r == ST_OK)
    r = hsm_find_key(*h, uri.object, k, detail);
out:
  pin_free(pin);
  hsm_uri_cleanup(&uri);
  return r;
}

int ceremony_certify(const struct ceremony_certify_args *args, struct st_detail *detail)
{
  int r;
  struct csr *c = NULL;
  X509 *root = NULL, *cert = NULL;
  EVP_PKEY *soft_key = NULL;
  struct hsm *h = NULL;
  struct hsm_key *k = NULL;

  r = ceremony_read_ca_csr(args, &c, detail);
  if (r == ST_OK)
    r = cert_load_pem(args->root_cert_path, &root, detail);
  if (r != ST_OK)
    goto out;
  if (X509_check_ca(root) < 1) {
    r = ST_E_CA_CERT;
    st_detail_set(detail, "%s is not a CA certificate", args->root_cert_path);
    goto out;
  }
  if (strncmp(args->root_key, "pkcs11:", 7) == 0)
    r = ceremony_root_key_token(args, &h, &k, detail);
  else
    r = ceremony_root_key_file(args->root_key, root, &soft_key, detail);
  if (r == ST_OK)
    r = cert_issue_local_ca(c, root, soft_key != NULL ? soft_key : hsm_key_signer(k), args->days,
                            time(NULL), &cert, detail);
  if (r == ST_OK)
    r = ceremony_write_pem(args->out_path, ceremony_write_cert, cert, detail);
out:
  X509_free(cert);
  hsm_key_free(k);
  hsm_close(h);
  EVP_PKEY_free(soft_key);
  X509_free(root);
  csr_free(c);
  return r;
}

/* ---- the health report ---- */

struct ceremony_report {
  FILE *out;
  int first_problem;
  struct st_detail *detail;
};

/* Prints one report line; records the first problem. */
static void ceremony_line(struct ceremony_report *rep, const char *what, int code, const char *text)
{
  fprintf(rep->out, "%-12s %s %s\n", what, code == ST_OK ? "ok  " : "FAIL", text);
  if (code != ST_OK && rep->first_problem == ST_OK) {
    rep->first_problem = code;
    st_detail_set(rep->detail, "%s: %s", what, text);
  }
}

static void ceremony_time(const ASN1_TIME *t, char *buf, size_t cap)
{
  struct tm tm;
  if (ASN1_TIME_to_tm(t, &tm) == 1)
    strftime(buf, cap, "%Y-%m-%d %H:%M:%SZ", &tm);
  else
    snprintf(buf, cap, "?");
}

static void ceremony_show_cert(struct ceremony_report *rep, X509 *ca, X509 *root, const struct station_config *cfg)
{
  char line[768], subject[256], from[32], until[32];
  struct st_detail why = {""};
  time_t now = time(NULL);
  int days_left = 0, seconds_left = 0;
  int r;

  cert_subject_line(ca, subject, sizeof subject);
  ceremony_time(X509_get0_notBefore(ca), from, sizeof from);
  ceremony_time(X509_get0_notAfter(ca), until, sizeof until);
  ASN1_TIME_diff(&days_left, &seconds_left, NULL, X509_get0_notAfter(ca));
  snprintf(line, sizeof line, "%s: %s", cfg->ca_certificate, subject);
  ceremony_line(rep, "ca-cert", ST_OK, line);
  snprintf(line, sizeof line, "%s .. %s (%d days left)", from, until, days_left);
  ceremony_line(rep, "validity", X509_cmp_time(X509_get0_notAfter(ca), &now) > 0 ? ST_OK : ST_E_CA_CERT, line);
  r = cert_check_local_ca(ca, now, &why);
  ceremony_line(rep, "profile", r, r == ST_OK ? "CA:TRUE critical, keyCertSign, SKI, EC P-256" : why.text);
  r = cert_check_chain(ca, root, now, &why);
  snprintf(line, sizeof line, "%s", r == ST_OK ? "chains to the factory root " : why.text);
  if (r == ST_OK)
    cert_subject_line(root, line + strlen(line), sizeof line - strlen(line));
  ceremony_line(rep, "chain", r, line);
}

static void ceremony_show_token(struct ceremony_report *rep, const struct station_config *cfg, const char *pin,
                                X509 *ca)
{
  struct hsm *h = NULL;
  struct hsm_key *k = NULL;
  struct hsm_token_info ti;
  struct hsm_key_info ki;
  struct st_detail why = {""};
  char line[512];
  EVP_PKEY *pub = NULL;
  int r = hsm_open(cfg->hsm_module, cfg->hsm_token, &h, &why);

  if (r == ST_OK)
    r = hsm_login(h, pin, &why);
  if (r != ST_OK) {
    ceremony_line(rep, "token", r, why.text);
    goto out;
  }
  hsm_token_info(h, &ti);
  snprintf(line, sizeof line, "\"%s\" (%s %s, serial %s), logged in", ti.label, ti.manufacturer, ti.model, ti.serial);
  ceremony_line(rep, "token", ST_OK, line);
  if (ceremony_token_kind(&ti, cfg->hsm_module) == TOKEN_SOFTWARE)
    fprintf(rep->out, "%-12s warn a software token (%s %s): the CA key, the journal key and the journal head are "
            "files the station user can copy; restoring older copies of the journal and of the token directory "
            "together rolls both back undetected. Carry signed exports off the station regularly "
            "(docs/threat-model.md)\n", "token-kind", ti.manufacturer, ti.model);
  else if (ceremony_token_kind(&ti, cfg->hsm_module) == TOKEN_TPM)
    fprintf(rep->out, "%-12s ok   a TPM (%s %s): keys cannot leave it; the journal head is in the TPM's "
            "store, which a copy of the station's disk can roll back with the journal (docs/threat-model.md)\n",
            "token-kind", ti.manufacturer, ti.model);
  r = hsm_find_key(h, cfg->hsm_key, &k, &why);
  if (r != ST_OK) {
    ceremony_line(rep, "key", r, why.text);
    goto out;
  }
  r = hsm_key_info(k, &ki);
  snprintf(line, sizeof line, "\"%s\": %s, %s, %s", cfg->hsm_key, ki.is_ec_p256 ? "EC P-256" : "NOT EC P-256",
           ki.sensitive == 1 ? "sensitive" : "NOT sensitive",
           ki.extractable == 0 ? "not extractable" : "EXTRACTABLE");
  ceremony_line(rep, "key", r == ST_OK && ki.is_ec_p256 ? ST_OK : ST_E_HSM_KEY, line);
  if (ki.extractable == 1 || ki.sensitive == 0)
    st_warn("the CA key can leave the token; create it with `station ca init`");
  if (ca != NULL) {
    pub = hsm_key_public(k);
    r = pub != NULL && EVP_PKEY_eq(pub, X509_get0_pubkey(ca)) == 1 ? ST_OK : ST_E_CA_MISMATCH;
    ceremony_line(rep, "key-match", r,
                  r == ST_OK ? "the token key is the CA certificate's key"
                             : "the token key differs from the CA certificate's key");
  }
  ceremony_journal_key(h, cfg, rep->out);
out:
  EVP_PKEY_free(pub);
  hsm_key_free(k);
  hsm_close(h);
}

int ceremony_show(const struct station_config *cfg, const char *pin, FILE *out, struct st_detail *detail)
{
  struct ceremony_report rep = {out, ST_OK, detail};
  X509 *ca = NULL, *root = NULL;
  struct st_detail why = {""};
  int r;

  fprintf(out, "%-12s      %s\n", "factory", cfg->factory);
  r = cert_load_pem(cfg->ca_certificate, &ca, &why);
  if (r != ST_OK)
    ceremony_line(&rep, "ca-cert", r, why.text);
  r = cert_load_pem(cfg->ca_root, &root, &why);
  ceremony_line(&rep, "root", r, r == ST_OK ? cfg->ca_root : why.text);
  if (ca != NULL && root != NULL)
    ceremony_show_cert(&rep, ca, root, cfg);
  if (pin != NULL)
    ceremony_show_token(&rep, cfg, pin, ca);
  else
    fprintf(out, "%-12s skip no PIN given: token and key not checked\n", "token");
  fprintf(out, "%-12s      %s\n", "status", rep.first_problem == ST_OK ? "healthy" : "NOT healthy");
  X509_free(ca);
  X509_free(root);
  return rep.first_problem;
}
