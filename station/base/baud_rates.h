/*
 * baud_rates.h - the one list of serial line speeds the station accepts.
 *
 * The configuration (config/config_schema.c: intake.serial[].baud), the
 * command line (`station serial PORT@BAUD`) and the termios settings
 * (station/serial/serial_port.c) all take their rates from this list, and
 * docs/configuration.md and station.yaml(5) print it: a rate is accepted in
 * one place exactly when it is accepted in the others. Each entry is a Linux
 * termios speed constant (B<rate> in <termios.h>), from 1200 to 4000000.
 *
 * Use: #define X(rate) ... then BAUD_RATES(X).
 */
#ifndef STATION_BAUD_RATES_H
#define STATION_BAUD_RATES_H

#define BAUD_RATES(X)                                                                                   \
  X(1200) X(2400) X(4800) X(9600) X(19200) X(38400) X(57600) X(115200) X(230400) X(460800) X(500000)  \
  X(576000) X(921600) X(1000000) X(1152000) X(1500000) X(2000000) X(2500000) X(3000000) X(3500000)    \
  X(4000000)

/* The list as text, for messages: "1200, 2400, ..., 4000000". */
#define BAUD_RATE_TEXT_ENTRY(rate) ", " #rate
#define BAUD_RATES_TEXT (&(BAUD_RATES(BAUD_RATE_TEXT_ENTRY))[2])

#endif
