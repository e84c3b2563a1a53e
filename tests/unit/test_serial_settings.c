/* test_serial_settings.c - the port settings built by the pure function, the
 * answer lines, and a port opened on a real pseudo-terminal: raw mode set,
 * reads and writes, the old settings restored at close, a hang-up reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "error.h"
#include "serial_answer.h"
#include "serial_port.h"
#include "syscalls.h"

static void test_raw_8n1_at_each_standard_rate(void **state)
{
  static const struct { unsigned baud; speed_t speed; } rates[] = {
    {9600, B9600}, {19200, B19200}, {57600, B57600}, {115200, B115200}, {230400, B230400}, {921600, B921600},
    {1500000, B1500000}, {4000000, B4000000}};
  (void)state;
  for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
    struct termios t;
    memset(&t, 0xa5, sizeof t); /* whatever was there must not leak through */
    assert_int_equal(serial_termios_settings(rates[i].baud, &t), ST_OK);
    assert_int_equal(cfgetispeed(&t), rates[i].speed);
    assert_int_equal(cfgetospeed(&t), rates[i].speed);
    assert_int_equal(t.c_cflag & CSIZE, CS8);
    assert_true(t.c_cflag & CREAD);
    assert_true(t.c_cflag & CLOCAL);
    assert_false(t.c_cflag & (PARENB | CSTOPB | CRTSCTS | HUPCL));
    assert_false(t.c_lflag & (ECHO | ECHONL | ICANON | ISIG | IEXTEN));
    assert_false(t.c_iflag & (ICRNL | INLCR | IGNCR | IXON | IXOFF | ISTRIP | PARMRK | INPCK));
    assert_false(t.c_oflag & (OPOST | ONLCR | OCRNL));
    assert_int_equal(t.c_cc[VMIN], 1);
    assert_int_equal(t.c_cc[VTIME], 0);
    assert_true(serial_baud_supported(rates[i].baud));
  }
}

static void test_unsupported_rates_refused(void **state)
{
  static const unsigned bad[] = {0, 1, 110, 9601, 100000, 115201, 5000000, 0xffffffffu};
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct termios t, before;
    memset(&t, 0x5a, sizeof t);
    before = t;
    assert_int_equal(serial_termios_settings(bad[i], &t), ST_E_SERIAL_BAUD);
    assert_memory_equal(&t, &before, sizeof t);
    assert_false(serial_baud_supported(bad[i]));
  }
}

/* Every byte value crosses a port opened with these settings unchanged, both
 * ways: no CR/LF mapping, no XON/XOFF (0x11, 0x13), no signal or erase or
 * end-of-file characters (0x03, 0x04, 0x7f), no 8th-bit stripping, no output
 * processing. A CSR line, a NUL or binary junk from a booting board arrive as
 * they were sent. */
static void test_every_byte_passes_through(void **state)
{
  int master, slave;
  char name[128];
  struct serial_port *p = NULL;
  struct st_detail why = {""};
  uint8_t sent[256], got_bytes[512];
  size_t total = 0, got = 0, written = 0;
  (void)state;

  for (size_t i = 0; i < sizeof sent; i++)
    sent[i] = (uint8_t)i;
  assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
  assert_int_equal(serial_port_open(name, 115200, &p, &why), ST_OK);
  assert_int_equal(fcntl(master, F_SETFL, O_NONBLOCK), 0);

  assert_int_equal(write(master, sent, sizeof sent), (ssize_t)sizeof sent);
  for (int tries = 0; tries < 200 && total < sizeof sent; tries++) {
    assert_int_equal(serial_port_read(p, got_bytes + total, sizeof got_bytes - total, &got, &why), ST_OK);
    total += got;
    if (got == 0)
      usleep(5000);
  }
  assert_int_equal(total, sizeof sent);
  assert_memory_equal(got_bytes, sent, sizeof sent);

  assert_int_equal(serial_port_write(p, sent, sizeof sent, &written, &why), ST_OK);
  assert_int_equal(written, sizeof sent);
  total = 0;
  for (int tries = 0; tries < 200 && total < sizeof sent; tries++) {
    ssize_t n = read(master, got_bytes + total, sizeof got_bytes - total);
    if (n > 0)
      total += (size_t)n;
    else
      usleep(5000);
  }
  assert_int_equal(total, sizeof sent);
  assert_memory_equal(got_bytes, sent, sizeof sent);

  serial_port_close(p);
  close(slave);
  close(master);
}

static void test_port_on_pty_raw_then_restored(void **state)
{
  int master, slave;
  char name[128];
  struct termios before, during, after;
  struct serial_port *p = NULL;
  struct st_detail why = {""};
  uint8_t buf[64];
  size_t got = 9, written = 0;
  (void)state;

  assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
  assert_int_equal(tcgetattr(slave, &before), 0);
  assert_true(before.c_lflag & ECHO); /* a fresh pty is cooked */
  assert_int_equal(serial_port_open(name, 115200, &p, &why), ST_OK);
  assert_int_equal(tcgetattr(slave, &during), 0);
  assert_false(during.c_lflag & (ECHO | ICANON));
  assert_false(during.c_oflag & OPOST);

  assert_int_equal(serial_port_read(p, buf, sizeof buf, &got, &why), ST_OK);
  assert_int_equal(got, 0); /* nothing there: no blocking */
  assert_int_equal(write(master, "a\r\nb", 4), 4);
  usleep(20000);
  assert_int_equal(serial_port_read(p, buf, sizeof buf, &got, &why), ST_OK);
  assert_int_equal(got, 4);
  assert_memory_equal(buf, "a\r\nb", 4); /* no CR/LF translation */
  assert_int_equal(serial_port_write(p, (const uint8_t *)"x\n", 2, &written, &why), ST_OK);
  assert_int_equal(written, 2);
  usleep(20000);
  assert_int_equal(read(master, buf, sizeof buf), 2); /* no echo of "a\r\nb", no "\r" added */
  assert_memory_equal(buf, "x\n", 2);

  serial_port_close(p);
  assert_int_equal(tcgetattr(slave, &after), 0);
  assert_int_equal(after.c_lflag, before.c_lflag);
  assert_int_equal(after.c_oflag, before.c_oflag);
  assert_int_equal(after.c_iflag, before.c_iflag);
  close(slave);
  close(master);
}

static void test_hangup_reported(void **state)
{
  int master, slave;
  char name[128];
  struct serial_port *p = NULL;
  struct st_detail why = {""};
  uint8_t buf[16];
  size_t got = 0;
  (void)state;
  assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
  assert_int_equal(serial_port_open(name, 9600, &p, &why), ST_OK);
  close(slave);
  close(master); /* the adapter is unplugged */
  assert_int_equal(serial_port_read(p, buf, sizeof buf, &got, &why), ST_E_SERIAL_PORT);
  assert_non_null(strstr(why.text, name));
  serial_port_close(p);
}

static void test_open_failures_name_the_path(void **state)
{
  struct serial_port *p = NULL;
  struct st_detail why = {""};
  (void)state;
  assert_int_equal(serial_port_open("/nonexistent/ttyUSB9", 115200, &p, &why), ST_E_SERIAL_PORT);
  assert_non_null(strstr(why.text, "/nonexistent/ttyUSB9"));
  assert_int_equal(serial_port_open("/dev/null", 115200, &p, &why), ST_E_SERIAL_PORT);
  assert_non_null(strstr(why.text, "not a terminal"));
  assert_int_equal(serial_port_open("/dev/null", 12345, &p, &why), ST_E_SERIAL_BAUD);
  assert_null(p);
}

static int short_writes;
static ssize_t write_one_byte_then_eintr(int fd, const void *buf, size_t len)
{
  (void)len;
  if (short_writes++ % 2 == 1) {
    errno = EINTR;
    return -1;
  }
  return write(fd, buf, 1);
}

static void test_short_writes_and_eintr_continue(void **state)
{
  int master, slave;
  char name[128], buf[64];
  struct serial_port *p = NULL;
  struct st_detail why = {""};
  size_t written = 0;
  (void)state;
  assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
  assert_int_equal(serial_port_open(name, 115200, &p, &why), ST_OK);
  st_syscall_set("write", (st_syscall_ptr)write_one_byte_then_eintr);
  assert_int_equal(serial_port_write(p, (const uint8_t *)"STATION OK 01\n", 14, &written, &why), ST_OK);
  st_syscalls_reset();
  assert_int_equal(written, 14);
  usleep(20000);
  assert_int_equal(read(master, buf, sizeof buf), 14);
  assert_memory_equal(buf, "STATION OK 01\n", 14);
  serial_port_close(p);
  close(slave);
  close(master);
}

static void test_err_line_is_one_printable_line(void **state)
{
  char *text = NULL;
  size_t len = 0;
  (void)state;
  assert_int_equal(serial_answer_refused(ST_E_FACTORY, "the OU is \"x\r\nSTATION OK 00\xc3\xa9\"", NULL, &text, &len), ST_OK);
  assert_string_equal(text, "STATION ERR wrong-factory the OU is \"x  STATION OK 00??\"\n");
  assert_int_equal(len, strlen(text));
  free(text);
  assert_int_equal(serial_answer_refused(ST_E_TIMEOUT, "", NULL, &text, &len), ST_OK);
  assert_string_equal(text, "STATION ERR timeout The request did not complete in time.\n");
  free(text);
}

static void test_header_lines_before_the_verdict(void **state)
{
  static const char hex[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  struct serial_answer_meta meta = {hex, 1000000000, "https://gw.acme.example:8443"};
  char *text = NULL, *suffix;
  size_t len = 0;
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *cert = X509_new();
  uint8_t *der = NULL;
  int der_len;
  (void)state;

  /* refused: the request and the time, never the gateway */
  assert_int_equal(serial_answer_refused(ST_E_FACTORY, "the OU is \"x\"", &meta, &text, &len), ST_OK);
  assert_string_equal(text, "Request-SHA256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
                            "Time: 1000000000 2001-09-09T01:46:40Z\n"
                            "STATION ERR wrong-factory the OU is \"x\"\n");
  assert_int_equal(len, strlen(text));
  free(text);
  /* a request with no block to name, and no clock: only the verdict */
  meta.request_sha256_hex = NULL;
  meta.time = (time_t)-1;
  assert_int_equal(serial_answer_refused(ST_E_TIMEOUT, "", &meta, &text, &len), ST_OK);
  assert_string_equal(text, "STATION ERR timeout The request did not complete in time.\n");
  free(text);

  /* issued: certificate, chain, then the header lines with the gateway, then OK */
  assert_non_null(key);
  assert_non_null(cert);
  assert_int_equal(X509_set_pubkey(cert, key), 1);
  assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), 1), 1);
  assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), 0));
  assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), 3600));
  assert_true(X509_sign(cert, key, EVP_sha256()) > 0);
  der_len = i2d_X509(cert, &der);
  assert_true(der_len > 0);
  meta.request_sha256_hex = hex;
  meta.time = 1000000000;
  assert_int_equal(serial_answer_issued(der, (size_t)der_len, "CHAIN\n", "01", &meta, &text, &len), ST_OK);
  assert_int_equal(strncmp(text, "-----BEGIN CERTIFICATE-----\n", 28), 0);
  suffix = strstr(text, "-----END CERTIFICATE-----\nCHAIN\n");
  assert_non_null(suffix);
  assert_string_equal(suffix + strlen("-----END CERTIFICATE-----\nCHAIN\n"),
                      "Request-SHA256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n"
                      "Time: 1000000000 2001-09-09T01:46:40Z\n"
                      "Gateway: https://gw.acme.example:8443\n"
                      "STATION OK 01\n");
  {
    /* the PEM is the DER as the engine gave it: read back, the same bytes */
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    X509 *back = bio != NULL ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    unsigned char *back_der = NULL;
    int back_len = back != NULL ? i2d_X509(back, &back_der) : -1;
    assert_int_equal(back_len, der_len);
    assert_memory_equal(back_der, der, (size_t)der_len);
    OPENSSL_free(back_der);
    X509_free(back);
    BIO_free(bio);
  }
  free(text);
  text = NULL;
  /* no certificate bytes: no answer */
  assert_int_equal(serial_answer_issued(der, 0, "CHAIN\n", "01", &meta, &text, &len), ST_E_CRYPTO);
  assert_null(text);
  /* without a gateway configured, no Gateway line */
  meta.gateway_url = NULL;
  assert_int_equal(serial_answer_issued(der, (size_t)der_len, "CHAIN\n", "01", &meta, &text, &len), ST_OK);
  assert_null(strstr(text, "Gateway:"));
  assert_non_null(strstr(text, "Time: 1000000000 2001-09-09T01:46:40Z\nSTATION OK 01\n"));
  free(text);
  OPENSSL_free(der);
  X509_free(cert);
  EVP_PKEY_free(key);
}

/* Every rate termios knows: the configuration accepts it exactly when a port
 * can be set to it (one list, baud_rates.h). */
static void test_config_and_ports_accept_the_same_rates(void **state)
{
  static const unsigned termios_rates[] = {
    50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200,
    230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000, 2500000, 3000000, 3500000,
    4000000, 12345, 4000001};
  size_t accepted = 0;
  (void)state;
  for (size_t i = 0; i < sizeof termios_rates / sizeof termios_rates[0]; i++) {
    char yaml[512];
    struct station_config *c = NULL;
    struct st_detail why = {""};
    int n = snprintf(yaml, sizeof yaml,
                     "factory: a\nhsm: {module: /m.so, token: t, key: k, pin: prompt}\n"
                     "ca: {certificate: /c.pem, root: /r.pem}\njournal: {path: /j}\n"
                     "intake:\n  serial:\n    - {port: /dev/ttyS0, baud: %u}\n", termios_rates[i]);
    int r = config_load_buffer("/etc/station.yaml", yaml, (size_t)n, &c, &why);
    assert_int_equal(r == ST_OK, serial_baud_supported(termios_rates[i]) != 0);
    accepted += r == ST_OK;
    config_free(c);
  }
  assert_int_equal(accepted, 21);
  assert_false(serial_baud_supported(1800));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_raw_8n1_at_each_standard_rate),
    cmocka_unit_test(test_unsupported_rates_refused),
    cmocka_unit_test(test_every_byte_passes_through),
    cmocka_unit_test(test_port_on_pty_raw_then_restored),
    cmocka_unit_test(test_hangup_reported),
    cmocka_unit_test(test_open_failures_name_the_path),
    cmocka_unit_test(test_short_writes_and_eintr_continue),
    cmocka_unit_test(test_err_line_is_one_printable_line),
    cmocka_unit_test(test_header_lines_before_the_verdict),
    cmocka_unit_test(test_config_and_ports_accept_the_same_rates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
