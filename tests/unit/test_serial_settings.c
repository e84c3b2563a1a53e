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

#include "error.h"
#include "serial/serial_answer.h"
#include "serial/serial_port.h"
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
  st_sys.write = write_one_byte_then_eintr;
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
  assert_int_equal(serial_answer_refused(ST_E_FACTORY, "the OU is \"x\r\nSTATION OK 00\xc3\xa9\"", &text, &len), ST_OK);
  assert_string_equal(text, "STATION ERR wrong-factory the OU is \"x  STATION OK 00??\"\n");
  assert_int_equal(len, strlen(text));
  free(text);
  assert_int_equal(serial_answer_refused(ST_E_TIMEOUT, "", &text, &len), ST_OK);
  assert_string_equal(text, "STATION ERR timeout The request did not complete in time.\n");
  free(text);
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
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
