/*
 * interrupt.h - Ctrl-C for command-line use.
 *
 * A command that waits (a run, a log stream) must end at once on SIGINT, but a
 * blocking libcurl transfer or nanosleep gives the Lua interpreter's own handler no
 * chance to run. af_interrupt_install() sets a SIGINT handler that only raises a
 * flag; transfers (through libcurl's progress callback), streams, batches and
 * af_sleep check it and end with AF_ERR_INTERRUPTED. A library must not take a
 * process's signals by itself: nothing installs it but an explicit call (the CLI).
 * The flag is process-wide by nature (a signal is); it is never cleared.
 */
#ifndef AIRFLOW_INTERRUPT_H
#define AIRFLOW_INTERRUPT_H

/* Installs the SIGINT handler (without SA_RESTART, so blocking calls return). Returns
 * 0, or -1 when sigaction failed. Sessions created afterwards are interruptible. */
int af_interrupt_install(void);
/* 1 once the handler is installed. */
int af_interrupt_installed(void);
/* 1 once SIGINT arrived after af_interrupt_install(). */
int af_interrupted(void);
/* Sleeps for `seconds` (finite, >= 0), ending early on an interrupt. Returns 0, or -1
 * when interrupted. */
int af_sleep(double seconds);

#endif
